/*
 * Interop scenarios driven through the ZooKeeper C client (libzookeeper_mt 3.8).
 *
 *   gcc -I/usr/include/zookeeper -o interop-c interop.c -lzookeeper_mt -lpthread
 *   ./interop-c <via> <direct> <scenario|all>
 *
 * <via> is a TCP proxy in front of the server that the harness can cut/block on
 * request ("CTL cut|block|unblock" on stdout, answered "OK ..." on stdin);
 * <direct> is the server itself. One JSON line per scenario on stdout. Every
 * check compares a real outcome (data read back, stat fields, event type+path,
 * return code) with the expected one.
 *
 * Not expressible with the 3.8 C API (reported as "skip"):
 *   persistent_recursive  there is no zoo_add_watch / addWatch in the C client
 *
 * C client quirk: session events (connecting/connected/expired) are delivered
 * to every registered watcher, not only to the global one, so the node-event
 * watcher below ignores ZOO_SESSION_EVENT.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* the synchronous API is only declared for the multi-threaded library */
#ifndef THREADED
#define THREADED
#endif
#include <zookeeper.h>

#define CLIENT "c"
#define WAIT_MS 10000
#define EXPIRY_WAIT_MS 20000
#define SESSION_MS 4000
#define SHORT_SESSION_MS 1000
#define USER "interop"
#define PASSWORD "secret"

static const char *SCENARIOS[] = {
    "crud", "sequential", "ephemeral_close", "ephemeral_expiry",
    "watch_data", "watch_exists", "watch_child", "watch_delete",
    "persistent_recursive", "multi_ok", "multi_fail", "acl_noauth",
    "digest_auth", "session_expiry", "reconnect", "container", "ttl", NULL};

static const char *via, *direct;

/* ---- per-scenario state ---------------------------------------------------- */

static jmp_buf fail_jmp;
static char fail_msg[4096];
static int checks;
static char notes[1024];
static char base[256];
static int blocked;
static int sentinels;

#define MAX_OPEN 16
typedef struct queue queue_t;
typedef struct conn {
    zhandle_t *zh;
    queue_t *states;
    int closed;
} conn_t;
static conn_t *open_conns[MAX_OPEN];
static int n_open;

static void fail_at(int line, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void fail_at(int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(fail_msg, sizeof fail_msg - 64, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if (n > (int)sizeof fail_msg - 64) n = sizeof fail_msg - 64;
    snprintf(fail_msg + n, 64, " (interop.c:%d)", line);
    longjmp(fail_jmp, 1);
}

#define FAIL(...) fail_at(__LINE__, __VA_ARGS__)
#define CHECK(cond, ...) do { if (!(cond)) fail_at(__LINE__, __VA_ARGS__); checks++; } while (0)
/* a ZooKeeper call that must return `want` */
#define EXPECT_RC(want, call, what) do { int rc_ = (call); \
    if (rc_ != (want)) fail_at(__LINE__, "%s: expected %s (%d), got %s (%d)", what, zerror(want), want, zerror(rc_), rc_); \
    checks++; } while (0)
/* a ZooKeeper call that must succeed (not counted as a check by itself) */
#define OK(call, what) do { int rc_ = (call); \
    if (rc_ != ZOK) fail_at(__LINE__, "%s: %s (%d)", what, zerror(rc_), rc_); } while (0)
#define STREQ(actual, expected, what) do { const char *a_ = (actual), *e_ = (expected); \
    CHECK(a_ && strcmp(a_, e_) == 0, "%s: expected '%s', got '%s'", what, e_, a_ ? a_ : "(null)"); } while (0)

/* ---- small blocking queue (strings or ints) --------------------------------- */

#define QCAP 256
struct queue {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *items[QCAP];
    int head, tail;
};

static queue_t *queue_new(void) {
    queue_t *q = calloc(1, sizeof *q);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    return q;
}

static void queue_push(queue_t *q, const char *s) {
    pthread_mutex_lock(&q->mu);
    if (q->tail - q->head < QCAP) q->items[q->tail++ % QCAP] = strdup(s);
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* Returns a malloc'ed string or NULL after timeout_ms. */
static char *queue_pop(queue_t *q, long timeout_ms) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    if (timeout_ms < 0) timeout_ms = 0;
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) { deadline.tv_sec++; deadline.tv_nsec -= 1000000000L; }
    pthread_mutex_lock(&q->mu);
    while (q->head == q->tail) {
        if (pthread_cond_timedwait(&q->cv, &q->mu, &deadline) == ETIMEDOUT) break;
    }
    char *s = NULL;
    if (q->head != q->tail) s = q->items[q->head++ % QCAP];
    pthread_mutex_unlock(&q->mu);
    return s;
}

static long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

/* ---- watchers ---------------------------------------------------------------- */

static const char *state_name(int state) {
    if (state == ZOO_CONNECTED_STATE) return "connected";
    if (state == ZOO_CONNECTING_STATE) return "connecting";
    if (state == ZOO_ASSOCIATING_STATE) return "associating";
    if (state == ZOO_EXPIRED_SESSION_STATE) return "expired";
    if (state == ZOO_AUTH_FAILED_STATE) return "auth_failed";
    if (state == ZOO_READONLY_STATE) return "readonly";
    if (state == ZOO_NOTCONNECTED_STATE) return "notconnected";
    return "unknown";
}

static const char *event_name(int type) {
    if (type == ZOO_CREATED_EVENT) return "NodeCreated";
    if (type == ZOO_DELETED_EVENT) return "NodeDeleted";
    if (type == ZOO_CHANGED_EVENT) return "NodeDataChanged";
    if (type == ZOO_CHILD_EVENT) return "NodeChildrenChanged";
    if (type == ZOO_NOTWATCHING_EVENT) return "NotWatching";
    if (type == ZOO_SESSION_EVENT) return "Session";
    return "Unknown";
}

/* Global watcher of a handle: records session states. */
static void session_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx) {
    (void)zh;
    (void)path;
    conn_t *c = ctx;
    if (type == ZOO_SESSION_EVENT && c) queue_push(c->states, state_name(state));
}

/* Node watcher: records "Type path"; ctx is the queue. */
static void event_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx) {
    (void)zh;
    (void)state;
    if (type == ZOO_SESSION_EVENT) return; /* delivered to every watcher by the C client */
    char buf[1024];
    snprintf(buf, sizeof buf, "%s %s", event_name(type), path ? path : "");
    queue_push((queue_t *)ctx, buf);
}

/* Consume states until `want` shows up. */
static void await_state(conn_t *c, const char *want, long ms, const char *what) {
    long deadline = now_ms() + ms;
    char seen[512] = "";
    for (;;) {
        char *st = queue_pop(c->states, deadline - now_ms());
        if (!st) FAIL("%s: no '%s' state within %ld ms (saw%s)", what, want, ms, seen);
        int match = strcmp(st, want) == 0;
        if (!match && strlen(seen) + strlen(st) + 2 < sizeof seen) { strcat(seen, " "); strcat(seen, st); }
        free(st);
        if (match) { checks++; return; }
    }
}

static void expect_event(queue_t *ev, const char *want, long ms, const char *what) {
    char *got = queue_pop(ev, ms);
    if (!got) FAIL("%s: expected event '%s', got nothing within %ld ms", what, want, ms);
    int ok = strcmp(got, want) == 0;
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", got);
    free(got);
    CHECK(ok, "%s: expected event '%s', got '%s'", what, want, copy);
}

/* ---- connections --------------------------------------------------------------- */

static conn_t *zk_connect(const char *hosts, int timeout_ms) {
    if (n_open >= MAX_OPEN) FAIL("too many connections");
    conn_t *c = calloc(1, sizeof *c);
    c->states = queue_new();
    c->zh = zookeeper_init(hosts, session_watcher, timeout_ms, NULL, c, 0);
    if (!c->zh) FAIL("zookeeper_init(%s) failed: %s", hosts, strerror(errno));
    open_conns[n_open++] = c;
    char what[300];
    snprintf(what, sizeof what, "connect to %s", hosts);
    await_state(c, "connected", WAIT_MS, what);
    return c;
}

static void zk_close(conn_t *c) {
    if (c && !c->closed) {
        c->closed = 1;
        zookeeper_close(c->zh);
    }
}

static int64_t session_id(conn_t *c) { return zoo_client_id(c->zh)->client_id; }

typedef struct { pthread_mutex_t mu; pthread_cond_t cv; int done, rc; } waiter_t;

static void auth_done(int rc, const void *data) {
    waiter_t *w = (waiter_t *)data;
    pthread_mutex_lock(&w->mu);
    w->rc = rc;
    w->done = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* zoo_add_auth is asynchronous: wait for its completion; returns its rc. */
static int add_auth(conn_t *c, const char *cred) {
    waiter_t w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    int rc = zoo_add_auth(c->zh, "digest", cred, (int)strlen(cred), auth_done, &w);
    if (rc != ZOK) return rc;
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&w.mu);
    while (!w.done) {
        if (pthread_cond_timedwait(&w.cv, &w.mu, &deadline) == ETIMEDOUT) break;
    }
    int done = w.done;
    rc = w.rc;
    pthread_mutex_unlock(&w.mu);
    return done ? rc : ZOPERATIONTIMEOUT;
}

static void ctl(const char *cmd) {
    printf("CTL %s\n", cmd);
    fflush(stdout);
    char line[256];
    if (!fgets(line, sizeof line, stdin)) FAIL("control '%s': stdin closed", cmd);
    line[strcspn(line, "\r\n")] = 0;
    char want[300];
    snprintf(want, sizeof want, "OK %s", cmd);
    if (strcmp(line, want) != 0) FAIL("control '%s' refused: %s", cmd, line);
    if (strcmp(cmd, "block") == 0) blocked = 1;
    if (strcmp(cmd, "unblock") == 0) blocked = 0;
}

/* ---- helpers ------------------------------------------------------------------- */

static char *path_of(const char *suffix) {
    static char bufs[16][512];
    static int next;
    char *b = bufs[next++ % 16];
    snprintf(b, 512, "%s%s", base, suffix);
    return b;
}

static void create_node(conn_t *c, const char *path, const char *data) {
    char out[512];
    EXPECT_RC(ZOK, zoo_create(c->zh, path, data, data ? (int)strlen(data) : -1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, out, sizeof out), path);
    STREQ(out, path, "create returns the path");
}

static void mk_base(conn_t *c) { create_node(c, base, "base"); }

/* getData into a static buffer, returns NUL-terminated data (or NULL for null data) */
static const char *get_data(conn_t *c, const char *path, struct Stat *st) {
    static char buf[4096];
    int len = sizeof buf - 1;
    struct Stat tmp;
    OK(zoo_get(c->zh, path, 0, buf, &len, st ? st : &tmp), path);
    if (len < 0) return NULL;
    buf[len] = 0;
    return buf;
}

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* children of path, sorted, joined with ',' */
static const char *children(conn_t *c, const char *path, struct Stat *st) {
    static char out[4096];
    struct String_vector v = {0, NULL};
    if (st) OK(zoo_get_children2(c->zh, path, 0, &v, st), path);
    else OK(zoo_get_children(c->zh, path, 0, &v), path);
    qsort(v.data, v.count, sizeof(char *), cmpstr);
    out[0] = 0;
    for (int i = 0; i < v.count; i++) {
        if (i) strncat(out, ",", sizeof out - strlen(out) - 1);
        strncat(out, v.data[i], sizeof out - strlen(out) - 1);
    }
    deallocate_String_vector(&v);
    return out;
}

static int exists(conn_t *c, const char *path, struct Stat *st) {
    struct Stat tmp;
    int rc = zoo_exists(c->zh, path, 0, st ? st : &tmp);
    if (rc != ZOK && rc != ZNONODE) FAIL("exists %s: %s", path, zerror(rc));
    return rc == ZOK;
}

/* Arm an exists watch on a fresh sentinel with the same queue, create it and
 * collect every event delivered before its NodeCreated (server order). */
static const char *events_before_sentinel(conn_t *c, queue_t *ev) {
    static char extra[2048];
    char sentinel[512], want[600];
    snprintf(sentinel, sizeof sentinel, "%s/sentinel-%d", base, sentinels++);
    snprintf(want, sizeof want, "NodeCreated %s", sentinel);
    struct Stat st;
    EXPECT_RC(ZNONODE, zoo_wexists(c->zh, sentinel, event_watcher, ev, &st), "sentinel absent");
    create_node(c, sentinel, "");
    extra[0] = 0;
    long deadline = now_ms() + WAIT_MS;
    for (;;) {
        char *e = queue_pop(ev, deadline - now_ms());
        if (!e) FAIL("sentinel event for %s not received; saw [%s]", sentinel, extra);
        int done = strcmp(e, want) == 0;
        if (!done) {
            if (extra[0]) strncat(extra, ", ", sizeof extra - strlen(extra) - 1);
            strncat(extra, e, sizeof extra - strlen(extra) - 1);
        }
        free(e);
        if (done) return extra;
    }
}

/* ---- SHA-1 + base64 for digest ids ---------------------------------------------- */

static uint32_t rol(uint32_t v, int n) { return (v << n) | (v >> (32 - n)); }

static void sha1(const unsigned char *msg, size_t len, unsigned char out[20]) {
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    size_t total = ((len + 8) / 64 + 1) * 64;
    unsigned char *m = calloc(total, 1);
    memcpy(m, msg, len);
    m[len] = 0x80;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++) m[total - 1 - i] = (unsigned char)(bits >> (8 * i));
    for (size_t off = 0; off < total; off += 64) {
        uint32_t w[80];
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t)m[off + 4 * i] << 24 | (uint32_t)m[off + 4 * i + 1] << 16 | (uint32_t)m[off + 4 * i + 2] << 8 | m[off + 4 * i + 3];
        for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int i = 0; i < 80; i++) {
            uint32_t f, k;
            if (i < 20) { f = (b & c) | (~b & d); k = 0x5A827999; }
            else if (i < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1; }
            else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDC; }
            else { f = b ^ c ^ d; k = 0xCA62C1D6; }
            uint32_t t = rol(a, 5) + f + e + k + w[i];
            e = d; d = c; c = rol(b, 30); b = a; a = t;
        }
        h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
    }
    free(m);
    for (int i = 0; i < 5; i++) for (int j = 0; j < 4; j++) out[4 * i + j] = (unsigned char)(h[i] >> (24 - 8 * j));
}

static void base64(const unsigned char *in, size_t len, char *out) {
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < len ? in[i + 2] : 0);
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? tbl[v & 63] : '=';
    }
    out[o] = 0;
}

/* "user:" + base64(sha1("user:password")) */
static const char *digest_id(void) {
    static char out[128];
    unsigned char h[20];
    const char *cred = USER ":" PASSWORD;
    sha1((const unsigned char *)cred, strlen(cred), h);
    char b64[64];
    base64(h, 20, b64);
    snprintf(out, sizeof out, "%s:%s", USER, b64);
    return out;
}

/* field-by-field (struct Stat has padding) */
static int stat_eq(const struct Stat *a, const struct Stat *b) {
    return a->czxid == b->czxid && a->mzxid == b->mzxid && a->ctime == b->ctime && a->mtime == b->mtime &&
           a->version == b->version && a->cversion == b->cversion && a->aversion == b->aversion &&
           a->ephemeralOwner == b->ephemeralOwner && a->dataLength == b->dataLength &&
           a->numChildren == b->numChildren && a->pzxid == b->pzxid;
}

/* ---- scenarios ------------------------------------------------------------------ */

static void sc_crud(void) {
    conn_t *zk = zk_connect(via, SESSION_MS);
    mk_base(zk);
    const char *n = path_of("/n");
    char out[512];
    struct Stat cs, st, gs;
    EXPECT_RC(ZOK, zoo_create2(zk->zh, n, "v0", 2, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, out, sizeof out, &cs), "create2");
    STREQ(out, n, "create returns the path");
    CHECK(cs.version == 0 && cs.czxid == cs.mzxid && cs.czxid == cs.pzxid && cs.czxid > 0,
          "create2 stat: version %d czxid %" PRId64 " mzxid %" PRId64 " pzxid %" PRId64, cs.version, cs.czxid, cs.mzxid, cs.pzxid);
    CHECK(cs.dataLength == 2 && cs.numChildren == 0 && cs.ephemeralOwner == 0 && cs.cversion == 0 && cs.aversion == 0 &&
              cs.ctime == cs.mtime && cs.ctime > 0,
          "create2 stat fields: dataLength %d numChildren %d cversion %d", cs.dataLength, cs.numChildren, cs.cversion);
    CHECK(exists(zk, n, &st) && stat_eq(&st, &cs), "exists stat equals create2 stat");
    STREQ(get_data(zk, n, &gs), "v0", "getData after create");
    CHECK(gs.version == 0, "version after create: %d", gs.version);
    EXPECT_RC(ZOK, zoo_set2(zk->zh, n, "v1!", 3, 0, &st), "setData");
    CHECK(st.version == 1 && st.mzxid > st.czxid && st.czxid == cs.czxid && st.dataLength == 3 && st.mtime >= st.ctime,
          "setData stat: version %d dataLength %d", st.version, st.dataLength);
    EXPECT_RC(ZBADVERSION, zoo_set(zk->zh, n, "v2", 2, 0), "setData with stale version");
    STREQ(get_data(zk, n, &gs), "v1!", "getData after setData");
    CHECK(gs.version == 1, "version after setData: %d", gs.version);
    EXPECT_RC(ZNODEEXISTS, zoo_create(zk->zh, n, "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0), "create existing node");
    EXPECT_RC(ZNONODE, zoo_create(zk->zh, path_of("/missing/x"), "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0), "create under a missing parent");
    char c1[512], c2[512];
    snprintf(c1, sizeof c1, "%s/c1", n);
    snprintf(c2, sizeof c2, "%s/c2", n);
    create_node(zk, c2, "");
    create_node(zk, c1, "");
    struct Stat ps;
    STREQ(children(zk, n, &ps), "c1,c2", "getChildren");
    CHECK(ps.numChildren == 2 && ps.cversion == 2 && ps.version == 1, "parent stat after 2 creates: numChildren %d cversion %d", ps.numChildren, ps.cversion);
    EXPECT_RC(ZNOTEMPTY, zoo_delete(zk->zh, n, -1), "delete a node with children");
    EXPECT_RC(ZBADVERSION, zoo_delete(zk->zh, c1, 5), "delete with wrong version");
    EXPECT_RC(ZOK, zoo_delete(zk->zh, c1, 0), "delete c1");
    EXPECT_RC(ZOK, zoo_delete(zk->zh, c2, -1), "delete c2");
    STREQ(children(zk, n, NULL), "", "no children after deletes");
    CHECK(exists(zk, n, &ps) && ps.numChildren == 0 && ps.cversion == 4, "parent stat after 2 deletes: numChildren %d cversion %d", ps.numChildren, ps.cversion);
    EXPECT_RC(ZBADVERSION, zoo_delete(zk->zh, n, 0), "delete with stale version");
    EXPECT_RC(ZOK, zoo_delete(zk->zh, n, 1), "delete");
    CHECK(!exists(zk, n, NULL), "exists after delete is false");
    char buf[16];
    int len = sizeof buf;
    struct String_vector v;
    EXPECT_RC(ZNONODE, zoo_get(zk->zh, n, 0, buf, &len, &st), "getData of deleted node");
    EXPECT_RC(ZNONODE, zoo_set(zk->zh, n, "x", 1, -1), "setData of deleted node");
    EXPECT_RC(ZNONODE, zoo_get_children(zk->zh, n, 0, &v), "getChildren of deleted node");
    EXPECT_RC(ZNONODE, zoo_delete(zk->zh, n, -1), "delete of deleted node");
}

static void sc_sequential(void) {
    conn_t *zk = zk_connect(via, SESSION_MS);
    mk_base(zk);
    char pre[512];
    snprintf(pre, sizeof pre, "%s/s-", base);
    char got[6][512];
    for (int i = 0; i < 3; i++) {
        char d[4];
        snprintf(d, sizeof d, "%d", i);
        OK(zoo_create(zk->zh, pre, d, 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT_SEQUENTIAL, got[i], sizeof got[i]), "create sequential");
    }
    OK(zoo_create(zk->zh, pre, "e", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL_SEQUENTIAL, got[3], sizeof got[3]), "create ephemeral sequential");
    create_node(zk, path_of("/plain"), "");
    OK(zoo_create(zk->zh, pre, "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT_SEQUENTIAL, got[4], sizeof got[4]), "create sequential");
    OK(zoo_delete(zk->zh, got[0], -1), "delete first sequential");
    OK(zoo_create(zk->zh, pre, "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT_SEQUENTIAL, got[5], sizeof got[5]), "create sequential");
    /* suffix = parent's cversion before the create: +1 per create (any kind), deletes don't count */
    int want[6] = {0, 1, 2, 3, 5, 6};
    for (int i = 0; i < 6; i++) {
        char w[600];
        snprintf(w, sizeof w, "%s%010d", pre, want[i]);
        STREQ(got[i], w, "sequential name");
    }
    struct Stat st;
    CHECK(exists(zk, got[3], &st) && st.ephemeralOwner == session_id(zk), "ephemeral sequential owner 0x%" PRIx64, st.ephemeralOwner);
    STREQ(get_data(zk, got[1], NULL), "1", "data of sequential node");
    STREQ(children(zk, base, NULL), "plain,s-0000000001,s-0000000002,s-0000000003,s-0000000005,s-0000000006", "children");
}

static void sc_ephemeral_close(void) {
    conn_t *a = zk_connect(via, SESSION_MS);
    mk_base(a);
    const char *e = path_of("/e");
    struct Stat cs, st;
    OK(zoo_create2(a->zh, e, "x", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, NULL, 0, &cs), "create ephemeral");
    CHECK(cs.ephemeralOwner == session_id(a), "ephemeralOwner in create2 stat: 0x%" PRIx64, cs.ephemeralOwner);
    EXPECT_RC(ZNOCHILDRENFOREPHEMERALS, zoo_create(a->zh, path_of("/e/c"), "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0), "child of an ephemeral");
    conn_t *o = zk_connect(direct, SESSION_MS);
    queue_t *ev = queue_new();
    EXPECT_RC(ZOK, zoo_wexists(o->zh, e, event_watcher, ev, &st), "observer exists with watch");
    CHECK(st.ephemeralOwner == session_id(a), "observer sees the ephemeral owner");
    zk_close(a);
    char want[600];
    snprintf(want, sizeof want, "NodeDeleted %s", e);
    expect_event(ev, want, WAIT_MS, "ephemeral deleted on close");
    CHECK(!exists(o, e, NULL), "ephemeral gone after close");
    STREQ(children(o, base, NULL), "", "base empty after close");
}

static void sc_ephemeral_expiry(void) {
    conn_t *a = zk_connect(via, SHORT_SESSION_MS);
    mk_base(a);
    const char *e = path_of("/e");
    struct Stat st;
    OK(zoo_create(a->zh, e, "x", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, NULL, 0), "create ephemeral");
    conn_t *o = zk_connect(direct, SESSION_MS);
    queue_t *ev = queue_new();
    EXPECT_RC(ZOK, zoo_wexists(o->zh, e, event_watcher, ev, &st), "observer exists with watch");
    CHECK(st.ephemeralOwner == session_id(a), "observer sees the ephemeral owner");
    ctl("block");
    char want[600];
    snprintf(want, sizeof want, "NodeDeleted %s", e);
    expect_event(ev, want, EXPIRY_WAIT_MS, "ephemeral deleted when the session expired");
    CHECK(!exists(o, e, NULL), "ephemeral gone after expiry");
    ctl("unblock");
    await_state(a, "expired", EXPIRY_WAIT_MS, "owner learns of the expiry");
}

static void sc_session_expiry(void) {
    conn_t *a = zk_connect(via, SHORT_SESSION_MS);
    int64_t sid = session_id(a);
    mk_base(a);
    const char *marker = path_of("/alive");
    OK(zoo_create(a->zh, marker, "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, NULL, 0), "create marker");
    conn_t *o = zk_connect(direct, SESSION_MS);
    queue_t *ev = queue_new();
    struct Stat st;
    EXPECT_RC(ZOK, zoo_wexists(o->zh, marker, event_watcher, ev, &st), "marker present");
    ctl("block");
    await_state(a, "connecting", WAIT_MS, "client sees the connection drop");
    char want[600];
    snprintf(want, sizeof want, "NodeDeleted %s", marker);
    expect_event(ev, want, EXPIRY_WAIT_MS, "server expired the session");
    ctl("unblock");
    await_state(a, "expired", EXPIRY_WAIT_MS, "client sees ZOO_EXPIRED_SESSION_STATE");
    CHECK(zoo_state(a->zh) == ZOO_EXPIRED_SESSION_STATE, "zoo_state is expired: %d", zoo_state(a->zh));
    EXPECT_RC(ZINVALIDSTATE, zoo_exists(a->zh, "/", 0, &st), "request on the expired handle");
    snprintf(notes, sizeof notes, "expired session 0x%" PRIx64, sid);
}

static void sc_reconnect(void) {
    conn_t *a = zk_connect(via, SESSION_MS);
    clientid_t before = *zoo_client_id(a->zh);
    mk_base(a);
    const char *e = path_of("/e"), *w = path_of("/w");
    OK(zoo_create(a->zh, e, "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, NULL, 0), "create ephemeral");
    create_node(a, w, "before");
    queue_t *ev = queue_new();
    char buf[64];
    int len = sizeof buf - 1;
    struct Stat st;
    EXPECT_RC(ZOK, zoo_wget(a->zh, w, event_watcher, ev, buf, &len, &st), "getData with watch");
    ctl("cut");
    await_state(a, "connecting", WAIT_MS, "client sees the connection drop");
    await_state(a, "connected", WAIT_MS + 5000, "client reconnects");
    const clientid_t *after = zoo_client_id(a->zh);
    CHECK(after->client_id == before.client_id, "same session id after reconnect: 0x%" PRIx64 " vs 0x%" PRIx64, after->client_id, before.client_id);
    CHECK(memcmp(after->passwd, before.passwd, sizeof before.passwd) == 0, "same session password after reconnect");
    CHECK(exists(a, e, &st) && st.ephemeralOwner == before.client_id, "ephemeral survived the reconnect");
    conn_t *o = zk_connect(direct, SESSION_MS);
    OK(zoo_set(o->zh, w, "after", 5, -1), "observer setData");
    char want[600];
    snprintf(want, sizeof want, "NodeDataChanged %s", w);
    expect_event(ev, want, WAIT_MS, "watch set before the drop fires after reconnect (setWatches)");
    STREQ(get_data(a, w, NULL), "after", "read after reconnect");
}

static void sc_watch_data(void) {
    conn_t *zk = zk_connect(via, SESSION_MS);
    mk_base(zk);
    const char *n = path_of("/n");
    create_node(zk, n, "a");
    conn_t *o = zk_connect(direct, SESSION_MS);
    queue_t *ev = queue_new();
    char buf[64], want[600];
    int len = sizeof buf - 1;
    struct Stat st;
    EXPECT_RC(ZOK, zoo_wget(zk->zh, n, event_watcher, ev, buf, &len, &st), "getData with watch");
    OK(zoo_set(o->zh, n, "b", 1, -1), "observer setData");
    snprintf(want, sizeof want, "NodeDataChanged %s", n);
    expect_event(ev, want, WAIT_MS, "data watch");
    OK(zoo_set(o->zh, n, "c", 1, -1), "observer setData");
    STREQ(events_before_sentinel(zk, ev), "", "data watch fired only once");
}

static void sc_watch_exists(void) {
    conn_t *zk = zk_connect(via, SESSION_MS);
    mk_base(zk);
    const char *n = path_of("/n");
    conn_t *o = zk_connect(direct, SESSION_MS);
    queue_t *ev = queue_new();
    struct Stat st;
    char want[600];
    EXPECT_RC(ZNONODE, zoo_wexists(zk->zh, n, event_watcher, ev, &st), "exists with watch on a missing node");
    create_node(o, n, "x");
    snprintf(want, sizeof want, "NodeCreated %s", n);
    expect_event(ev, want, WAIT_MS, "exists watch");
    OK(zoo_set(o->zh, n, "y", 1, -1), "observer setData");
    OK(zoo_delete(o->zh, n, -1), "observer delete");
    STREQ(events_before_sentinel(zk, ev), "", "exists watch fired only once");
}

static void sc_watch_child(void) {
    conn_t *zk = zk_connect(via, SESSION_MS);
    mk_base(zk);
    const char *ws = path_of("/ws");
    create_node(zk, ws, "");
    conn_t *o = zk_connect(direct, SESSION_MS);
    queue_t *ev = queue_new();
    struct String_vector v = {0, NULL};
    char want[600];
    EXPECT_RC(ZOK, zoo_wget_children(zk->zh, ws, event_watcher, ev, &v), "getChildren with watch");
    CHECK(v.count == 0, "no children yet: %d", v.count);
    deallocate_String_vector(&v);
    create_node(o, path_of("/ws/c1"), "");
    snprintf(want, sizeof want, "NodeChildrenChanged %s", ws);
    expect_event(ev, want, WAIT_MS, "child watch");
    create_node(o, path_of("/ws/c2"), "");
    OK(zoo_set(o->zh, ws, "d", 1, -1), "observer setData");
    STREQ(events_before_sentinel(zk, ev), "", "child watch fired only once");
}

static void sc_watch_delete(void) {
    conn_t *zk = zk_connect(via, SESSION_MS);
    mk_base(zk);
    const char *ws = path_of("/ws"), *n = path_of("/ws/n");
    create_node(zk, ws, "");
    create_node(zk, n, "x");
    conn_t *o = zk_connect(direct, SESSION_MS);
    queue_t *ev = queue_new();
    char buf[64];
    int len = sizeof buf - 1;
    struct Stat st;
    struct String_vector v = {0, NULL};
    EXPECT_RC(ZOK, zoo_wget(zk->zh, n, event_watcher, ev, buf, &len, &st), "getData with watch");
    EXPECT_RC(ZOK, zoo_wget_children(zk->zh, ws, event_watcher, ev, &v), "getChildren with watch");
    CHECK(v.count == 1 && strcmp(v.data[0], "n") == 0, "children of ws: %d", v.count);
    deallocate_String_vector(&v);
    OK(zoo_delete(o->zh, n, -1), "observer delete");
    char *got[2];
    for (int i = 0; i < 2; i++) {
        got[i] = queue_pop(ev, WAIT_MS);
        CHECK(got[i] != NULL, "event #%d after delete", i);
    }
    qsort(got, 2, sizeof(char *), cmpstr);
    char w0[600], w1[600];
    snprintf(w0, sizeof w0, "NodeChildrenChanged %s", ws);
    snprintf(w1, sizeof w1, "NodeDeleted %s", n);
    STREQ(got[0], w0, "events for delete (parent)");
    STREQ(got[1], w1, "events for delete (node)");
    free(got[0]);
    free(got[1]);
    create_node(o, n, "again");
    OK(zoo_delete(o->zh, n, -1), "observer delete");
    STREQ(events_before_sentinel(zk, ev), "", "delete watches fired only once");
}

static void sc_multi_ok(void) {
    conn_t *zk = zk_connect(via, SESSION_MS);
    mk_base(zk);
    const char *m1 = path_of("/m1"), *m2 = path_of("/m2");
    char p1[512], p2[512];
    struct Stat sst;
    zoo_op_t ops[5];
    zoo_op_result_t res[5];
    zoo_create_op_init(&ops[0], m1, "a", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, p1, sizeof p1);
    zoo_create_op_init(&ops[1], m2, "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, p2, sizeof p2);
    zoo_set_op_init(&ops[2], m1, "b", 1, 0, &sst);
    zoo_check_op_init(&ops[3], m2, 0);
    zoo_delete_op_init(&ops[4], m2, 0);
    EXPECT_RC(ZOK, zoo_multi(zk->zh, 5, ops, res), "multi");
    for (int i = 0; i < 5; i++) CHECK(res[i].err == ZOK, "result %d err %d", i, res[i].err);
    STREQ(p1, m1, "result 0 (create path)");
    STREQ(p2, m2, "result 1 (create path)");
    CHECK(sst.version == 1, "result 2 (setData stat version %d)", sst.version);
    struct Stat st;
    STREQ(get_data(zk, m1, &st), "b", "data after multi");
    CHECK(st.version == 1 && st.czxid == st.mzxid, "one zxid for the whole multi: version %d", st.version);
    CHECK(!exists(zk, m2, NULL), "m2 created and deleted in the same multi");
}

static void sc_multi_fail(void) {
    conn_t *zk = zk_connect(via, SESSION_MS);
    mk_base(zk);
    const char *x = path_of("/x"), *y = path_of("/y"), *z = path_of("/z");
    create_node(zk, x, "orig");
    zoo_op_t ops[3];
    zoo_op_result_t res[3];
    struct Stat sst;
    zoo_create_op_init(&ops[0], y, "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0);
    zoo_set_op_init(&ops[1], x, "new", 3, 7, &sst);
    zoo_delete_op_init(&ops[2], x, -1);
    EXPECT_RC(ZBADVERSION, zoo_multi(zk->zh, 3, ops, res), "multi with a bad version");
    CHECK(res[0].err == 0 && res[1].err == ZBADVERSION && res[2].err == ZRUNTIMEINCONSISTENCY,
          "per-op errors (ok, BadVersion, RuntimeInconsistency): %d %d %d", res[0].err, res[1].err, res[2].err);
    CHECK(!exists(zk, y, NULL), "create in the failed multi was not applied");
    struct Stat st;
    STREQ(get_data(zk, x, &st), "orig", "setData in the failed multi was not applied");
    CHECK(st.version == 0, "version untouched: %d", st.version);
    zoo_create_op_init(&ops[0], z, "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0);
    zoo_create_op_init(&ops[1], path_of("/nope/child"), "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0);
    EXPECT_RC(ZNONODE, zoo_multi(zk->zh, 2, ops, res), "multi with a missing parent");
    CHECK(res[0].err == 0 && res[1].err == ZNONODE, "per-op errors (ok, NoNode): %d %d", res[0].err, res[1].err);
    CHECK(!exists(zk, z, NULL), "first create of the failed multi was not applied");
    zoo_set_op_init(&ops[0], x, "new", 3, -1, &sst);
    zoo_check_op_init(&ops[1], x, 3);
    EXPECT_RC(ZBADVERSION, zoo_multi(zk->zh, 2, ops, res), "multi with a failing check");
    CHECK(res[0].err == 0 && res[1].err == ZBADVERSION, "per-op errors (ok, BadVersion from check): %d %d", res[0].err, res[1].err);
    STREQ(get_data(zk, x, NULL), "orig", "data unchanged after failed check");
}

static void sc_acl_noauth(void) {
    conn_t *zk = zk_connect(via, SESSION_MS);
    mk_base(zk);
    const char *sec = path_of("/secret"), *ro = path_of("/ro");
    struct ACL acl = {ZOO_PERM_ALL, {"digest", (char *)digest_id()}};
    struct ACL_vector digest_acl = {1, &acl};
    EXPECT_RC(ZOK, zoo_create(zk->zh, sec, "hidden", 6, &digest_acl, ZOO_PERSISTENT, NULL, 0), "create with digest ACL");
    EXPECT_RC(ZOK, zoo_create(zk->zh, ro, "pub", 3, &ZOO_READ_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0), "create read-only node");
    char buf[64];
    int len = sizeof buf;
    struct Stat st;
    struct String_vector v;
    EXPECT_RC(ZNOAUTH, zoo_get(zk->zh, sec, 0, buf, &len, &st), "getData without auth");
    EXPECT_RC(ZNOAUTH, zoo_set(zk->zh, sec, "x", 1, -1), "setData without auth");
    EXPECT_RC(ZNOAUTH, zoo_get_children(zk->zh, sec, 0, &v), "getChildren without auth");
    EXPECT_RC(ZNOAUTH, zoo_create(zk->zh, path_of("/secret/c"), "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0), "create child without auth");
    STREQ(get_data(zk, ro, NULL), "pub", "read of a READ-only node");
    EXPECT_RC(ZNOAUTH, zoo_set(zk->zh, ro, "x", 1, -1), "setData of a READ-only node");
    EXPECT_RC(ZNOAUTH, zoo_create(zk->zh, path_of("/ro/c"), "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0), "create under a READ-only node");
    conn_t *o = zk_connect(direct, SESSION_MS);
    EXPECT_RC(ZOK, add_auth(o, USER ":wrong"), "digest auth with the wrong password is accepted (it just matches nothing)");
    len = sizeof buf;
    EXPECT_RC(ZNOAUTH, zoo_get(o->zh, sec, 0, buf, &len, &st), "getData with the wrong password");
}

static void sc_digest_auth(void) {
    conn_t *a = zk_connect(via, SESSION_MS);
    mk_base(a);
    const char *mine = path_of("/mine");
    EXPECT_RC(ZINVALIDACL, zoo_create(a->zh, mine, "", 0, &ZOO_CREATOR_ALL_ACL, ZOO_PERSISTENT, NULL, 0), "CREATOR_ALL_ACL without auth");
    EXPECT_RC(ZOK, add_auth(a, USER ":" PASSWORD), "add_auth");
    EXPECT_RC(ZOK, zoo_create(a->zh, mine, "mine", 4, &ZOO_CREATOR_ALL_ACL, ZOO_PERSISTENT, NULL, 0), "create with CREATOR_ALL_ACL after auth");
    struct ACL_vector acl = {0, NULL};
    struct Stat st;
    OK(zoo_get_acl(a->zh, mine, &acl, &st), "getACL");
    CHECK(acl.count == 1, "ACL entries: %d", acl.count);
    CHECK(acl.data[0].perms == ZOO_PERM_ALL, "ACL perms: %d", acl.data[0].perms);
    STREQ(acl.data[0].id.scheme, "digest", "ACL scheme");
    STREQ(acl.data[0].id.id, digest_id(), "ACL id is user:base64(sha1(user:password))");
    deallocate_ACL_vector(&acl);
    STREQ(get_data(a, mine, NULL), "mine", "read with auth");
    EXPECT_RC(ZOK, zoo_set2(a->zh, mine, "mine2", 5, 0, &st), "write with auth");
    CHECK(st.version == 1, "version after write: %d", st.version);
    conn_t *o = zk_connect(direct, SESSION_MS);
    char buf[64];
    int len = sizeof buf;
    EXPECT_RC(ZNOAUTH, zoo_get(o->zh, mine, 0, buf, &len, &st), "other session without auth");
    EXPECT_RC(ZOK, add_auth(o, USER ":wrong"), "add_auth with the wrong password");
    len = sizeof buf;
    EXPECT_RC(ZNOAUTH, zoo_get(o->zh, mine, 0, buf, &len, &st), "other session with the wrong password");
    EXPECT_RC(ZOK, add_auth(o, USER ":" PASSWORD), "add_auth");
    STREQ(get_data(o, mine, NULL), "mine2", "other session after add_auth");
    EXPECT_RC(ZOK, zoo_set2(o->zh, mine, "o", 1, 1, &st), "other session writes after add_auth");
    CHECK(st.version == 2, "version after other session's write: %d", st.version);
}

static void sc_container(void) {
    conn_t *zk = zk_connect(via, SESSION_MS);
    mk_base(zk);
    const char *c = path_of("/c"), *idle = path_of("/idle");
    char out[512];
    struct Stat st;
    EXPECT_RC(ZOK, zoo_create2(zk->zh, c, "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_CONTAINER, out, sizeof out, &st), "create container");
    STREQ(out, c, "create returns the path");
    CHECK(st.ephemeralOwner == 0, "container ephemeralOwner as seen by clients: 0x%" PRIx64, st.ephemeralOwner);
    EXPECT_RC(ZOK, zoo_create(zk->zh, idle, "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_CONTAINER, NULL, 0), "create never-used container");
    create_node(zk, path_of("/c/child"), "");
    queue_t *ev = queue_new();
    EXPECT_RC(ZOK, zoo_wexists(zk->zh, c, event_watcher, ev, &st), "container present while it has a child");
    OK(zoo_delete(zk->zh, path_of("/c/child"), -1), "delete child");
    char want[600];
    snprintf(want, sizeof want, "NodeDeleted %s", c);
    expect_event(ev, want, EXPIRY_WAIT_MS, "container reaped after its last child went");
    CHECK(!exists(zk, c, NULL), "container gone");
    CHECK(exists(zk, idle, NULL), "never-used container is kept");
}

static void sc_ttl(void) {
    conn_t *zk = zk_connect(via, SESSION_MS);
    mk_base(zk);
    const char *t = path_of("/t"), *kept = path_of("/kept");
    char out[512];
    struct Stat st;
    EXPECT_RC(ZOK, zoo_create2_ttl(zk->zh, t, "x", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT_WITH_TTL, 500, out, sizeof out, &st), "create TTL node");
    STREQ(out, t, "create returns the path");
    CHECK(st.ephemeralOwner == 0, "TTL node ephemeralOwner as seen by clients: 0x%" PRIx64, st.ephemeralOwner);
    EXPECT_RC(ZOK, zoo_create_ttl(zk->zh, kept, "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT_WITH_TTL, 500, NULL, 0), "create TTL node with a child");
    create_node(zk, path_of("/kept/child"), "");
    queue_t *ev = queue_new();
    char buf[16];
    int len = sizeof buf - 1;
    EXPECT_RC(ZOK, zoo_wget(zk->zh, t, event_watcher, ev, buf, &len, &st), "TTL node readable");
    CHECK(len == 1 && buf[0] == 'x', "TTL node data");
    char want[600];
    snprintf(want, sizeof want, "NodeDeleted %s", t);
    expect_event(ev, want, EXPIRY_WAIT_MS, "TTL node expired");
    CHECK(!exists(zk, t, NULL), "TTL node gone");
    CHECK(exists(zk, kept, NULL), "TTL node with a child is kept");
}

/* ---- driver ---------------------------------------------------------------------- */

typedef struct { const char *name; void (*fn)(void); const char *skip; } scenario_t;
static const scenario_t TABLE[] = {
    {"crud", sc_crud, NULL},
    {"sequential", sc_sequential, NULL},
    {"ephemeral_close", sc_ephemeral_close, NULL},
    {"ephemeral_expiry", sc_ephemeral_expiry, NULL},
    {"watch_data", sc_watch_data, NULL},
    {"watch_exists", sc_watch_exists, NULL},
    {"watch_child", sc_watch_child, NULL},
    {"watch_delete", sc_watch_delete, NULL},
    {"persistent_recursive", NULL, "the 3.8 C API has no addWatch (no persistent/recursive watches)"},
    {"multi_ok", sc_multi_ok, NULL},
    {"multi_fail", sc_multi_fail, NULL},
    {"acl_noauth", sc_acl_noauth, NULL},
    {"digest_auth", sc_digest_auth, NULL},
    {"session_expiry", sc_session_expiry, NULL},
    {"reconnect", sc_reconnect, NULL},
    {"container", sc_container, NULL},
    {"ttl", sc_ttl, NULL},
    {NULL, NULL, NULL},
};

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch == '\n') fputs("\\n", f);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

static void delete_tree(zhandle_t *zh, const char *path) {
    struct String_vector v = {0, NULL};
    if (zoo_get_children(zh, path, 0, &v) == ZOK) {
        for (int i = 0; i < v.count; i++) {
            char child[1024];
            snprintf(child, sizeof child, "%s/%s", path, v.data[i]);
            delete_tree(zh, child);
        }
        deallocate_String_vector(&v);
    }
    zoo_delete(zh, path, -1);
}

static void run_one(const char *name) {
    const scenario_t *volatile sc = NULL; /* volatile: read after longjmp */
    for (const scenario_t *t = TABLE; t->name; t++)
        if (strcmp(t->name, name) == 0) sc = t;
    checks = 0;
    notes[0] = 0;
    fail_msg[0] = 0;
    n_open = 0;
    blocked = 0;
    sentinels = 0;
    char dashed[64];
    snprintf(dashed, sizeof dashed, "%s", name);
    for (char *p = dashed; *p; p++) if (*p == '_') *p = '-';
    snprintf(base, sizeof base, "/interop-%s-%s-%d-%ld", CLIENT, dashed, (int)getpid(), now_ms() % 1000000);
    long t0 = now_ms();
    const char *volatile status = "pass";
    if (!sc) {
        status = "fail";
        snprintf(fail_msg, sizeof fail_msg, "unknown scenario %s", name);
    } else if (sc->skip) {
        status = "skip";
        snprintf(fail_msg, sizeof fail_msg, "%s", sc->skip);
    } else if (setjmp(fail_jmp) == 0) {
        sc->fn();
        if (checks == 0) {
            status = "fail";
            snprintf(fail_msg, sizeof fail_msg, "scenario made no checks");
        }
    } else {
        status = "fail";
    }
    int scenario_checks = checks; /* cleanup below must not count */
    if (blocked && setjmp(fail_jmp) == 0) ctl("unblock");
    for (int i = 0; i < n_open; i++) zk_close(open_conns[i]);
    n_open = 0;
    if (sc && !sc->skip && setjmp(fail_jmp) == 0) {
        conn_t *c = zk_connect(direct, SESSION_MS);
        add_auth(c, USER ":" PASSWORD);
        delete_tree(c->zh, base);
        zk_close(c);
    }
    n_open = 0;
    FILE *f = stdout;
    fputs("{\"client\":", f);
    json_str(f, CLIENT);
    fputs(",\"scenario\":", f);
    json_str(f, name);
    fputs(",\"status\":", f);
    json_str(f, status);
    fprintf(f, ",\"checks\":%d,\"ms\":%ld", scenario_checks, now_ms() - t0);
    if (strcmp(status, "pass") != 0) {
        fputs(",\"error\":", f);
        json_str(f, fail_msg);
    }
    fputs(",\"notes\":[", f);
    if (notes[0]) json_str(f, notes);
    fputs("]}\n", f);
    fflush(f);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s <viaConnect> <directConnect> [scenario[,scenario...]|all]\n", argv[0]);
        return 2;
    }
    via = argv[1];
    direct = argv[2];
    const char *which = argc > 3 ? argv[3] : "all";
    zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
    if (strcmp(which, "all") == 0) {
        for (int i = 0; SCENARIOS[i]; i++) run_one(SCENARIOS[i]);
    } else {
        char *list = strdup(which);
        for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) run_one(tok);
        free(list);
    }
    return 0;
}
