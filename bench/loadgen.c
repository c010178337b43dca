/*
 * Paddock benchmark load generator: drives one workload against a
 * ZooKeeper-protocol server with the ZooKeeper C client's ASYNC API
 * (multi-threaded library, -lzookeeper_mt) and prints JSON results.
 *
 *   loadgen --host 127.0.0.1:2181[,host:port...] [--spread]
 *           --workload get|set|mix|create|connect|fill
 *           [--window 32] [--sessions 2] [--size 1024]
 *           [--warmup 3] [--duration 8] [--ops 2000000]
 *           [--warmup-ops 1000000] [--handshake] [--mark]
 *           [--base /path] [--parents 100] [--engine zkclient|raw]
 *
 * Phases:
 *   setup     create /paddock-bench-<pid> and its 1 KiB data node
 *   warm-up   same workload, latencies discarded, at most --warmup s / --warmup-ops
 *   [handshake] all ops drained; print "READY" and wait for a line on stdin
 *             (the driver samples server CPU at this quiescent point)
 *   measure   at most --duration s or --ops ops, then drain the window
 *   result    print one JSON line; with --handshake wait for a line (or EOF)
 *             on stdin before cleaning up, so that cleanup traffic stays out
 *             of the driver's CPU sample
 *   cleanup   delete the nodes created in setup
 *
 * Window: --window operations are kept in flight (spread round-robin over
 * --sessions sessions); each completion records the latency of its op on the
 * monotonic clock and issues the next op. mix = getData, and every tenth op
 * of a slot setData (both 1 KiB by default). create = one create + delete pair
 * of a 1 KiB node, counted as one op. connect = --window threads each looping
 * zookeeper_init -> wait for ZOO_CONNECTED_STATE -> zookeeper_close; latency
 * (p50/p99) is the whole cycle, connect_p50/connect_p99 init -> CONNECTED.
 *
 * fill = populate a tree: every op creates a NEW persistent node
 * <base>/p<k % parents>/n<k> (k = 0, 1, 2, ... in issue order, 7 digits) of
 * --size bytes; use --ops for the count, --warmup 0 and a long --duration.
 * <base> (default /paddock-bench-<pid>; an existing one is fine) and the
 * --parents parent nodes are created in setup. Nothing is deleted afterwards:
 * the tree is the point.
 *
 * Engines: zkclient (default) runs every phase on the C client, whose
 * completion and I/O threads hand each op over twice; raw runs the get, set,
 * mix and create phases on its own sessions instead: plain TCP connections
 * speaking the protocol (ConnectRequest, then pipelined requests whose
 * replies come back in order per session), all driven by one thread and one
 * epoll loop. On a small machine the C client spends more CPU per op than the
 * server it measures, and its thread hand-offs show up in the tail; raw costs
 * a few µs per op, so the latencies it reports are the server's. Setup and
 * cleanup use the C client with either engine; raw has no reconnect, so it
 * is not for failovers (--mark) or the connect and fill workloads.
 *
 * Hosts: the C client picks a random host of --host for each session; with
 * --spread session i connects to host i mod n only (a list of n ensemble
 * members gets its sessions evenly), still reconnecting within that one host.
 *
 * --mark (with --handshake): while the measured phase runs, the driver writes
 * one line holding a CLOCK_MONOTONIC time in ns (e.g. when it killed a
 * server). The result then has mark_to_ok_us: from that time to the
 * completion of the first successful op issued at or after it (-1 if none);
 * the phase ends 0.2 s after that op. For a failover: window 1, a write
 * workload, sessions on the surviving members.
 */
#include <zookeeper/zookeeper.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum workload { W_GET, W_SET, W_MIX, W_CREATE, W_CONNECT, W_FILL };

static const char *host = "127.0.0.1:2181";
static int spread = 0;           /* --spread: session i to host i mod n */
static char **hosts;             /* --host split at commas (with --spread) */
static int nhosts;
static int mark_mode = 0;        /* --mark */
static uint64_t mark_ns;         /* atomic: the driver's mark, 0 until it comes */
static uint64_t first_ok_after_mark; /* atomic: completion of the first success issued at/after the mark */
static enum workload wl = W_GET;
static const char *wl_name = "get";
static int window_ = 32;
static int nsessions = 2;
static int data_size = 1024;
static double warmup_s = 3;
static double duration_s = 8;
static long max_ops = 2000000;
static long max_warmup_ops = 1000000;
static int handshake = 0;
static int recv_timeout_ms = 10000;
static const char *base_opt = NULL; /* --base */
static int nparents = 100;          /* fill: parents under base */
static long fill_next;              /* fill: next node index (atomic) */
static int raw_engine = 0;          /* --engine raw */

static char *payload;
static char base_path[64];
static char data_path[96];

static zhandle_t **sessions;

/* ------------------------------------------------------------------ time */

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

static void die(const char *msg) {
  fprintf(stderr, "loadgen: %s\n", msg);
  exit(2);
}

/* ------------------------------------------------------ phase bookkeeping */

struct phase {
  uint64_t start_ns;
  uint64_t deadline_ns;
  long limit;             /* max ops to issue */
  long issued;            /* tickets handed out (atomic) */
  long done;              /* successful ops (atomic) */
  long errors;            /* failed ops (atomic) */
  long inflight;          /* atomic */
  uint64_t last_done_ns;  /* atomic max */
  uint64_t *lat;          /* [limit] latencies (ns), NULL = do not record */
  uint64_t *lat2;         /* connect: init -> CONNECTED (ns) */
  int first_rc;           /* first error code seen */
};

static struct phase *volatile cur;

/* Claim the right to issue one more op; 0 when the phase is over. */
static int claim(struct phase *p) {
  uint64_t t = now_ns();
  if (t >= p->deadline_ns) return 0;
  uint64_t ok = __atomic_load_n(&first_ok_after_mark, __ATOMIC_RELAXED);
  if (ok && t >= ok + 200000000ull) return 0;
  long n = __atomic_fetch_add(&p->issued, 1, __ATOMIC_RELAXED);
  return n < p->limit;
}

static void note_done(struct phase *p, int rc, uint64_t t0, uint64_t t_mid) {
  uint64_t t1 = now_ns();
  if (rc == ZOK) {
    long i = __atomic_fetch_add(&p->done, 1, __ATOMIC_RELAXED);
    if (p->lat && i < p->limit) {
      p->lat[i] = t1 - t0;
      if (p->lat2) p->lat2[i] = t_mid - t0;
    }
    uint64_t mark = __atomic_load_n(&mark_ns, __ATOMIC_ACQUIRE);
    uint64_t none = 0;
    if (mark && t0 >= mark)
      __atomic_compare_exchange_n(&first_ok_after_mark, &none, t1, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  } else {
    __atomic_fetch_add(&p->errors, 1, __ATOMIC_RELAXED);
    int zero = 0;
    __atomic_compare_exchange_n(&p->first_rc, &zero, rc, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  }
  uint64_t prev = __atomic_load_n(&p->last_done_ns, __ATOMIC_RELAXED);
  while (prev < t1 && !__atomic_compare_exchange_n(&p->last_done_ns, &prev, t1, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
}

/* --------------------------------------------------------------- sessions */

struct waiter {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int state;
};

static void session_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx) {
  (void)zh;
  (void)path;
  struct waiter *w = ctx;
  if (type != ZOO_SESSION_EVENT || !w) return;
  pthread_mutex_lock(&w->mu);
  w->state = state;
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

/* Connect to `to` and wait for CONNECTED (bounded by recv_timeout_ms). NULL on failure. */
static zhandle_t *connect_session(const char *to, struct waiter *w) {
  w->state = 0;
  zhandle_t *zh = zookeeper_init(to, session_watcher, recv_timeout_ms, NULL, w, 0);
  if (!zh) return NULL;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += recv_timeout_ms / 1000;
  pthread_mutex_lock(&w->mu);
  int err = 0;
  while (w->state != ZOO_CONNECTED_STATE && w->state != ZOO_EXPIRED_SESSION_STATE &&
         w->state != ZOO_AUTH_FAILED_STATE && err != ETIMEDOUT)
    err = pthread_cond_timedwait(&w->cv, &w->mu, &until);
  int ok = w->state == ZOO_CONNECTED_STATE;
  pthread_mutex_unlock(&w->mu);
  if (!ok) {
    zookeeper_close(zh);
    return NULL;
  }
  return zh;
}

static struct waiter *new_waiter(void) {
  struct waiter *w = calloc(1, sizeof *w);
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
  return w;
}

/* --------------------------------------------------------- async workloads */

struct slot {
  int idx;
  int stage;  /* raw create: 0 = create sent, 1 = its delete sent */
  struct raw_session *rs; /* raw engine: the session this slot uses */
  long count; /* ops this slot issued (mix: every tenth is a setData) */
  zhandle_t *zh;
  uint64_t t0;
  char path[128]; /* create workload: this slot's node */
};

static int submit(struct slot *s);

/* Record the op that just ended and keep the slot busy with the next one. */
static void finish(struct slot *s, int rc) {
  struct phase *p = cur;
  note_done(p, rc, s->t0, 0);
  while (claim(p)) {
    int r = submit(s);
    if (r == ZOK) return;
    /* Submission failed (e.g. connection lost): count it and back off a
       little so a dead server does not turn this into a busy loop. */
    sleep_ms(1);
    note_done(p, r, s->t0, 0);
  }
  __atomic_fetch_sub(&p->inflight, 1, __ATOMIC_RELEASE);
}

static void get_done(int rc, const char *v, int vlen, const struct Stat *st, const void *d) {
  (void)v;
  (void)st;
  struct slot *s = (struct slot *)d;
  if (rc == ZOK && vlen != data_size) rc = ZSYSTEMERROR; /* wrong payload */
  finish(s, rc);
}

static void set_done(int rc, const struct Stat *st, const void *d) {
  (void)st;
  finish((struct slot *)d, rc);
}

static void delete_done(int rc, const void *d) { finish((struct slot *)d, rc); }

static void fill_done(int rc, const char *v, const void *d) {
  (void)v;
  finish((struct slot *)d, rc);
}

static void create_done(int rc, const char *v, const void *d) {
  (void)v;
  struct slot *s = (struct slot *)d;
  if (rc != ZOK) {
    finish(s, rc);
    return;
  }
  int r = zoo_adelete(s->zh, s->path, -1, delete_done, s);
  if (r != ZOK) finish(s, r);
}

static int submit(struct slot *s) {
  s->t0 = now_ns();
  int r;
  switch (wl) {
    case W_GET:
      r = zoo_aget(s->zh, data_path, 0, get_done, s);
      break;
    case W_SET:
      r = zoo_aset(s->zh, data_path, payload, data_size, -1, set_done, s);
      break;
    case W_MIX:
      if (s->count++ % 10 == 0)
        r = zoo_aset(s->zh, data_path, payload, data_size, -1, set_done, s);
      else
        r = zoo_aget(s->zh, data_path, 0, get_done, s);
      break;
    case W_CREATE:
      r = zoo_acreate(s->zh, s->path, payload, data_size, &ZOO_OPEN_ACL_UNSAFE, 0, create_done, s);
      break;
    case W_FILL: {
      /* the C client serialises the request inside zoo_acreate, so the
         slot's path buffer may be reused right after the call */
      long k = __atomic_fetch_add(&fill_next, 1, __ATOMIC_RELAXED);
      snprintf(s->path, sizeof s->path, "%s/p%03ld/n%07ld", base_path, k % nparents, k);
      r = zoo_acreate(s->zh, s->path, payload, data_size, &ZOO_OPEN_ACL_UNSAFE, 0, fill_done, s);
      break;
    }
    default:
      r = ZBADARGUMENTS;
  }
  return r;
}

static struct slot *slots;

static void run_async_phase(struct phase *p) {
  cur = p;
  __atomic_store_n(&p->inflight, 0, __ATOMIC_SEQ_CST);
  p->start_ns = now_ns();
  p->deadline_ns = p->start_ns + (uint64_t)(p->deadline_ns);
  for (int i = 0; i < window_; i++) {
    if (!claim(p)) break;
    __atomic_fetch_add(&p->inflight, 1, __ATOMIC_SEQ_CST);
    int r = submit(&slots[i]);
    if (r != ZOK) finish(&slots[i], r);
  }
  /* Drain: every op issued before the deadline completes (or fails when the
     session's timeout expires, so this is bounded too). */
  while (__atomic_load_n(&p->inflight, __ATOMIC_ACQUIRE) > 0) sleep_ms(1);
}

/* -------------------------------------------------------- connect workload */

static void *connect_worker(void *arg) {
  struct phase *p = arg;
  struct waiter *w = new_waiter();
  while (claim(p)) {
    uint64_t t0 = now_ns();
    zhandle_t *zh = connect_session(host, w);
    if (!zh) {
      note_done(p, ZCONNECTIONLOSS, t0, 0);
      sleep_ms(5);
      continue;
    }
    uint64_t t_mid = now_ns();
    int rc = zookeeper_close(zh);
    note_done(p, rc, t0, t_mid);
  }
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
  free(w);
  return NULL;
}

static void run_connect_phase(struct phase *p) {
  cur = p;
  p->start_ns = now_ns();
  p->deadline_ns = p->start_ns + (uint64_t)(p->deadline_ns);
  pthread_t *th = calloc((size_t)window_, sizeof *th);
  for (int i = 0; i < window_; i++)
    if (pthread_create(&th[i], NULL, connect_worker, p) != 0) die("pthread_create failed");
  for (int i = 0; i < window_; i++) pthread_join(th[i], NULL);
  free(th);
}

/* ------------------------------------------------------------ raw engine */

/* Protocol facts (zookeeper.jute): every frame is a 4-byte big-endian length
   and a body; a request body is RequestHeader{xid, type} + the op's record, a
   reply body ReplyHeader{xid, zxid, err} + the op's response. */
enum { OP_CREATE = 1, OP_DELETE = 2, OP_GETDATA = 4, OP_SETDATA = 5, OP_PING = 11, OP_CLOSE = -11 };
enum { XID_PING = -2, XID_WATCH = -1 };

struct raw_session {
  int fd;
  int dead;             /* connection failed: its slots fail and stop */
  int32_t xid;
  int *fifo;            /* slots awaiting replies, in send order (ring of window_) */
  int head, count;
  char *out;            /* requests queued since the last flush */
  size_t out_len, out_cap;
  char *in;             /* bytes read, not yet a whole frame */
  size_t in_len, in_cap;
  uint64_t last_send_ns;
  int timeout_ms;       /* negotiated */
};

static struct raw_session *raw_sessions;
static int raw_epoll = -1;

static void put_i32(char *b, int32_t v) {
  uint32_t u = htonl((uint32_t)v);
  memcpy(b, &u, 4);
}
static int32_t get_i32(const char *b) {
  uint32_t u;
  memcpy(&u, b, 4);
  return (int32_t)ntohl(u);
}

static char *out_reserve(struct raw_session *rs, size_t n) {
  if (rs->out_len + n > rs->out_cap) {
    rs->out_cap = (rs->out_len + n) * 2;
    rs->out = realloc(rs->out, rs->out_cap);
    if (!rs->out) die("out of memory for the raw engine's output");
  }
  char *b = rs->out + rs->out_len;
  rs->out_len += n;
  return b;
}
static void out_i32(struct raw_session *rs, int32_t v) { put_i32(out_reserve(rs, 4), v); }
static void out_buf(struct raw_session *rs, const char *data, int32_t len) {
  out_i32(rs, len);
  if (len > 0) memcpy(out_reserve(rs, (size_t)len), data, (size_t)len);
}
static void out_str(struct raw_session *rs, const char *s) { out_buf(rs, s, (int32_t)strlen(s)); }

/* Open a frame: length placeholder + RequestHeader; returns the length's offset. */
static size_t frame_begin(struct raw_session *rs, int32_t xid, int32_t type) {
  size_t at = rs->out_len;
  out_reserve(rs, 4);
  out_i32(rs, xid);
  out_i32(rs, type);
  return at;
}
static void frame_end(struct raw_session *rs, size_t at) { put_i32(rs->out + at, (int32_t)(rs->out_len - at - 4)); }

/* Blocking read of exactly n bytes (the handshake only), bounded by SO_RCVTIMEO. */
static int read_full(int fd, char *b, size_t n) {
  while (n) {
    ssize_t r = read(fd, b, n);
    if (r <= 0) return -1;
    b += r;
    n -= (size_t)r;
  }
  return 0;
}

/* TCP connect to host:port and establish a new session; -1 on failure. */
static int raw_connect(const char *hostport, struct raw_session *rs) {
  char h[256];
  snprintf(h, sizeof h, "%s", hostport);
  char *colon = strrchr(h, ':');
  if (!colon) return -1;
  *colon = 0;
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
  if (getaddrinfo(h, colon + 1, &hints, &ai) != 0) return -1;
  int fd = socket(ai->ai_family, SOCK_STREAM, 0);
  int ok = fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0;
  freeaddrinfo(ai);
  if (!ok) {
    if (fd >= 0) close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct timeval tv = {recv_timeout_ms / 1000, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  /* ConnectRequest{protocolVersion, lastZxidSeen, timeOut, sessionId, passwd, readOnly} */
  char req[4 + 4 + 8 + 4 + 8 + 4 + 16 + 1] = {0};
  put_i32(req, (int32_t)sizeof req - 4);
  put_i32(req + 16, recv_timeout_ms);
  put_i32(req + 28, 16);
  char len[4], resp[64];
  int32_t n;
  if (write(fd, req, sizeof req) != (ssize_t)sizeof req || read_full(fd, len, 4) < 0 || (n = get_i32(len)) < 16 ||
      n > (int32_t)sizeof resp || read_full(fd, resp, (size_t)n) < 0 || get_i32(resp + 4) <= 0) {
    close(fd);
    return -1;
  }
  /* ConnectResponse{protocolVersion, timeOut, sessionId, passwd[, readOnly]}: timeOut 0 = refused */
  rs->timeout_ms = get_i32(resp + 4);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  rs->fd = fd;
  rs->fifo = calloc((size_t)window_, sizeof *rs->fifo);
  rs->last_send_ns = now_ns();
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = rs};
  if (epoll_ctl(raw_epoll, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl failed");
  return 0;
}

/* Queue the slot's next request on its session. */
static void raw_submit(struct slot *s) {
  struct raw_session *rs = s->rs;
  int set = wl == W_SET || (wl == W_MIX && s->count++ % 10 == 0);
  size_t at;
  if (s->stage == 0) s->t0 = now_ns();
  if (wl == W_CREATE && s->stage == 1) {
    at = frame_begin(rs, ++rs->xid, OP_DELETE);
    out_str(rs, s->path);
    out_i32(rs, -1);
  } else if (wl == W_CREATE) {
    at = frame_begin(rs, ++rs->xid, OP_CREATE);
    out_str(rs, s->path);
    out_buf(rs, payload, data_size);
    out_i32(rs, 1);          /* one ACL: world:anyone, all permissions */
    out_i32(rs, 31);
    out_str(rs, "world");
    out_str(rs, "anyone");
    out_i32(rs, 0);          /* persistent */
  } else if (set) {
    at = frame_begin(rs, ++rs->xid, OP_SETDATA);
    out_str(rs, data_path);
    out_buf(rs, payload, data_size);
    out_i32(rs, -1);
  } else {
    at = frame_begin(rs, ++rs->xid, OP_GETDATA);
    out_str(rs, data_path);
    *out_reserve(rs, 1) = 0; /* no watch */
  }
  frame_end(rs, at);
  rs->fifo[(rs->head + rs->count++) % window_] = s->idx;
}

/* An op ended (or failed): record it, then issue the next while the phase lasts. */
static void raw_finish(struct phase *p, struct slot *s, int rc) {
  s->stage = 0;
  note_done(p, rc, s->t0, 0);
  if (!s->rs->dead && claim(p))
    raw_submit(s);
  else
    p->inflight--;
}

static void raw_fail(struct phase *p, struct raw_session *rs) {
  if (rs->dead) return;
  rs->dead = 1;
  epoll_ctl(raw_epoll, EPOLL_CTL_DEL, rs->fd, NULL);
  while (rs->count) {
    struct slot *s = &slots[rs->fifo[rs->head]];
    rs->head = (rs->head + 1) % window_;
    rs->count--;
    raw_finish(p, s, ZCONNECTIONLOSS);
  }
}

/* One reply frame of `rs`: match it to the oldest outstanding request. */
static void raw_reply(struct phase *p, struct raw_session *rs, const char *b, int32_t n) {
  if (n < 16) {
    raw_fail(p, rs);
    return;
  }
  int32_t xid = get_i32(b), err = get_i32(b + 12);
  if (xid == XID_PING || xid == XID_WATCH) return;
  if (!rs->count) {
    raw_fail(p, rs);
    return;
  }
  struct slot *s = &slots[rs->fifo[rs->head]];
  rs->head = (rs->head + 1) % window_;
  rs->count--;
  /* a getData reply: buffer data (its length first) + Stat */
  if (err == ZOK && (wl == W_GET || wl == W_MIX) && !(wl == W_MIX && (s->count - 1) % 10 == 0) &&
      (n < 20 || get_i32(b + 16) != data_size))
    err = ZSYSTEMERROR; /* wrong payload */
  if (err == ZOK && wl == W_CREATE && s->stage == 0) {
    s->stage = 1;
    raw_submit(s);
    return;
  }
  raw_finish(p, s, err);
}

static void raw_read(struct phase *p, struct raw_session *rs) {
  for (;;) {
    if (rs->in_cap - rs->in_len < 65536) {
      rs->in_cap = rs->in_cap * 2 + 65536;
      rs->in = realloc(rs->in, rs->in_cap);
      if (!rs->in) die("out of memory for the raw engine's input");
    }
    ssize_t r = read(rs->fd, rs->in + rs->in_len, rs->in_cap - rs->in_len);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) break;
    if (r <= 0) {
      raw_fail(p, rs);
      return;
    }
    rs->in_len += (size_t)r;
  }
  size_t at = 0;
  while (!rs->dead && rs->in_len - at >= 4) {
    int32_t n = get_i32(rs->in + at);
    if (n < 0 || n > 16 * 1024 * 1024) {
      raw_fail(p, rs);
      return;
    }
    if (rs->in_len - at - 4 < (size_t)n) break;
    raw_reply(p, rs, rs->in + at + 4, n);
    at += 4 + (size_t)n;
  }
  memmove(rs->in, rs->in + at, rs->in_len - at);
  rs->in_len -= at;
}

/* Write what each session queued (pings for the idle ones); what the socket
   does not take now waits for EPOLLOUT. */
static void raw_flush(struct phase *p) {
  uint64_t t = now_ns();
  for (int i = 0; i < nsessions; i++) {
    struct raw_session *rs = &raw_sessions[i];
    if (rs->dead) continue;
    if (!rs->out_len && t - rs->last_send_ns > (uint64_t)rs->timeout_ms * 1000000ull / 3)
      frame_end(rs, frame_begin(rs, XID_PING, OP_PING));
    if (!rs->out_len) continue;
    ssize_t w = write(rs->fd, rs->out, rs->out_len);
    if (w < 0 && errno != EAGAIN && errno != EINTR) {
      raw_fail(p, rs);
      continue;
    }
    if (w > 0) {
      memmove(rs->out, rs->out + w, rs->out_len - (size_t)w);
      rs->out_len -= (size_t)w;
      rs->last_send_ns = t;
    }
    struct epoll_event ev = {.events = EPOLLIN | (rs->out_len ? EPOLLOUT : 0), .data.ptr = rs};
    epoll_ctl(raw_epoll, EPOLL_CTL_MOD, rs->fd, &ev);
  }
}

static void run_raw_phase(struct phase *p) {
  p->start_ns = now_ns();
  p->deadline_ns = p->start_ns + (uint64_t)(p->deadline_ns);
  for (int i = 0; i < window_; i++) {
    if (!claim(p)) break;
    p->inflight++;
    raw_submit(&slots[i]);
  }
  uint64_t last_progress = now_ns();
  while (p->inflight > 0) {
    raw_flush(p);
    struct epoll_event evs[64];
    int n = epoll_wait(raw_epoll, evs, 64, 100);
    long before = p->done + p->errors;
    for (int i = 0; i < n; i++) raw_read(p, evs[i].data.ptr);
    if (p->done + p->errors != before) last_progress = now_ns();
    else if (now_ns() - last_progress > (uint64_t)recv_timeout_ms * 1000000ull) /* a server that stopped answering */
      for (int j = 0; j < nsessions; j++) raw_fail(p, &raw_sessions[j]);
  }
}

/* Open the raw sessions (host i mod n as the C client's were) and give each slot one. */
static void raw_open(void) {
  raw_epoll = epoll_create1(0);
  raw_sessions = calloc((size_t)nsessions, sizeof *raw_sessions);
  for (int i = 0; i < nsessions; i++)
    if (raw_connect(hosts[i % nhosts], &raw_sessions[i]) < 0) {
      fprintf(stderr, "loadgen: raw engine cannot connect to %s\n", hosts[i % nhosts]);
      exit(1);
    }
  for (int i = 0; i < window_; i++) slots[i].rs = &raw_sessions[i % nsessions];
}

/* Close the raw sessions (closeSession, its reply awaited a bounded time). */
static void raw_close(void) {
  for (int i = 0; i < nsessions; i++) {
    struct raw_session *rs = &raw_sessions[i];
    if (rs->dead) continue;
    int fl = fcntl(rs->fd, F_GETFL);
    fcntl(rs->fd, F_SETFL, fl & ~O_NONBLOCK);
    char req[12];
    put_i32(req, 8);
    put_i32(req + 4, ++rs->xid);
    put_i32(req + 8, OP_CLOSE);
    char b[4096];
    if (write(rs->fd, req, sizeof req) == (ssize_t)sizeof req)
      while (read(rs->fd, b, sizeof b) > 0) {
      }
    close(rs->fd);
  }
}

/* ----------------------------------------------------------------- stats */

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* nearest-rank percentile, microseconds */
static double pct_us(uint64_t *v, long n, double q) {
  if (n <= 0) return 0;
  long k = (long)(q * (double)n + 0.999999999);
  if (k < 1) k = 1;
  if (k > n) k = n;
  return (double)v[k - 1] / 1000.0;
}

static void run_phase(struct phase *p, double seconds, long limit, int record) {
  memset(p, 0, sizeof *p);
  p->limit = limit;
  p->deadline_ns = (uint64_t)(seconds * 1e9); /* relative; made absolute at start */
  if (record) {
    p->lat = malloc((size_t)limit * sizeof(uint64_t));
    if (!p->lat) die("out of memory for latency samples");
    if (wl == W_CONNECT) {
      p->lat2 = malloc((size_t)limit * sizeof(uint64_t));
      if (!p->lat2) die("out of memory for latency samples");
    }
  }
  if (wl == W_CONNECT)
    run_connect_phase(p);
  else if (raw_engine)
    run_raw_phase(p);
  else
    run_async_phase(p);
  if (p->last_done_ns < p->start_ns) p->last_done_ns = now_ns();
}

static double cpu_self_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
         (double)ru.ru_stime.tv_usec / 1e6;
}

static double client_cpu_s;

static void json_escape_print(const char *s) {
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') putchar('\\');
    if ((unsigned char)*s >= 0x20) putchar(*s);
  }
}

static void print_result(struct phase *p) {
  long n = p->done < p->limit ? p->done : p->limit;
  double secs = (double)(p->last_done_ns - p->start_ns) / 1e9;
  if (secs <= 0) secs = 1e-9;
  qsort(p->lat, (size_t)n, sizeof(uint64_t), cmp_u64);
  double sum = 0;
  for (long i = 0; i < n; i++) sum += (double)p->lat[i];
  printf("{\"workload\":\"");
  json_escape_print(wl_name);
  printf("\",\"host\":\"");
  json_escape_print(host);
  printf("\",\"window\":%d,\"sessions\":%d,\"size\":%d,\"ops\":%ld,\"errors\":%ld,\"first_error\":%d,"
         "\"seconds\":%.6f,\"client_cpu_s\":%.3f,\"ops_per_sec\":%.1f,\"mean_us\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f",
         window_, wl == W_CONNECT ? window_ : nsessions, data_size, p->done, p->errors, p->first_rc, secs, client_cpu_s,
         (double)p->done / secs, n ? sum / (double)n / 1000.0 : 0, pct_us(p->lat, n, 0.50), pct_us(p->lat, n, 0.99),
         n ? (double)p->lat[n - 1] / 1000.0 : 0);
  if (p->lat2) {
    qsort(p->lat2, (size_t)n, sizeof(uint64_t), cmp_u64);
    printf(",\"connect_p50_us\":%.1f,\"connect_p99_us\":%.1f", pct_us(p->lat2, n, 0.50), pct_us(p->lat2, n, 0.99));
  }
  if (mark_mode) {
    uint64_t ok = first_ok_after_mark;
    printf(",\"mark_to_ok_us\":%.1f", ok ? (double)(ok - mark_ns) / 1000.0 : -1.0);
  }
  printf("}\n");
  fflush(stdout);
}

static void wait_line(void) {
  char buf[64];
  if (!fgets(buf, sizeof buf, stdin)) {
    /* EOF: the driver went away or we run stand-alone */
  }
}

/* --mark: read the driver's mark (ns, CLOCK_MONOTONIC) while the phase runs. */
static void *read_mark(void *arg) {
  (void)arg;
  char buf[64];
  if (fgets(buf, sizeof buf, stdin)) {
    uint64_t m = strtoull(buf, NULL, 10);
    if (m) __atomic_store_n(&mark_ns, m, __ATOMIC_RELEASE);
  }
  return NULL;
}

/* ----------------------------------------------------------- setup/cleanup */

static int sync_rc;
static pthread_mutex_t sync_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sync_cv = PTHREAD_COND_INITIALIZER;
static int sync_done;

static void sync_str_done(int rc, const char *v, const void *d) {
  (void)v;
  (void)d;
  pthread_mutex_lock(&sync_mu);
  sync_rc = rc;
  sync_done = 1;
  pthread_cond_broadcast(&sync_cv);
  pthread_mutex_unlock(&sync_mu);
}

static void sync_void_done(int rc, const void *d) { sync_str_done(rc, NULL, d); }

static int wait_sync(void) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += recv_timeout_ms / 1000 + 1;
  pthread_mutex_lock(&sync_mu);
  int err = 0;
  while (!sync_done && err != ETIMEDOUT) err = pthread_cond_timedwait(&sync_cv, &sync_mu, &until);
  int rc = sync_done ? sync_rc : ZOPERATIONTIMEOUT;
  sync_done = 0;
  pthread_mutex_unlock(&sync_mu);
  return rc;
}

/* Blocking create/delete built from the async calls (bounded waits). */
static int do_create(zhandle_t *zh, const char *path, const char *data, int len) {
  int r = zoo_acreate(zh, path, data, len, &ZOO_OPEN_ACL_UNSAFE, 0, sync_str_done, NULL);
  return r != ZOK ? r : wait_sync();
}

static int do_delete(zhandle_t *zh, const char *path) {
  int r = zoo_adelete(zh, path, -1, sync_void_done, NULL);
  return r != ZOK ? r : wait_sync();
}

/* ------------------------------------------------------------------- main */

static void usage(void) {
  fprintf(stderr,
          "usage: loadgen --host H:P --workload get|set|create|connect|fill [--window N] [--sessions N]\n"
          "               [--size BYTES] [--warmup S] [--duration S] [--ops N] [--warmup-ops N] [--handshake]\n"
          "               [--base PATH] [--parents N] [--engine zkclient|raw]\n");
  exit(2);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v && (i++, 1))
    if (ARG("--host")) host = v;
    else if (ARG("--workload")) wl_name = v;
    else if (ARG("--window")) window_ = atoi(v);
    else if (ARG("--sessions")) nsessions = atoi(v);
    else if (ARG("--size")) data_size = atoi(v);
    else if (ARG("--warmup")) warmup_s = atof(v);
    else if (ARG("--duration")) duration_s = atof(v);
    else if (ARG("--ops")) max_ops = atol(v);
    else if (ARG("--warmup-ops")) max_warmup_ops = atol(v);
    else if (ARG("--base")) base_opt = v;
    else if (ARG("--parents")) nparents = atoi(v);
    else if (ARG("--engine") && (strcmp(v, "raw") == 0 || strcmp(v, "zkclient") == 0)) raw_engine = strcmp(v, "raw") == 0;
    else if (strcmp(a, "--handshake") == 0) handshake = 1;
    else if (strcmp(a, "--spread") == 0) spread = 1;
    else if (strcmp(a, "--mark") == 0) mark_mode = 1;
    else usage();
#undef ARG
  }
  if (strcmp(wl_name, "get") == 0) wl = W_GET;
  else if (strcmp(wl_name, "set") == 0) wl = W_SET;
  else if (strcmp(wl_name, "mix") == 0) wl = W_MIX;
  else if (strcmp(wl_name, "create") == 0) wl = W_CREATE;
  else if (strcmp(wl_name, "connect") == 0) wl = W_CONNECT;
  else if (strcmp(wl_name, "fill") == 0) wl = W_FILL;
  else usage();
  if (window_ < 1 || window_ > 4096 || nsessions < 1 || nsessions > 256 || data_size < 0 || data_size > 1000000 ||
      max_ops < 1 || max_ops > 50000000 || duration_s <= 0 || duration_s > 3600 || warmup_s < 0 || warmup_s > 3600 ||
      nparents < 1 || nparents > 100000 || (base_opt && (base_opt[0] != '/' || strlen(base_opt) > 40)) ||
      (mark_mode && (!handshake || wl == W_CONNECT)) ||
      (raw_engine && (mark_mode || wl == W_CONNECT || wl == W_FILL)))
    usage();
  nhosts = 1;
  hosts = malloc(sizeof *hosts);
  hosts[0] = (char *)host;
  if (spread) {
    char *copy = strdup(host), *save = NULL;
    nhosts = 0;
    for (char *h = strtok_r(copy, ",", &save); h; h = strtok_r(NULL, ",", &save)) {
      hosts = realloc(hosts, (size_t)(nhosts + 1) * sizeof *hosts);
      hosts[nhosts++] = h;
    }
    if (!nhosts) usage();
  }
  if (nsessions > window_) nsessions = window_;

  zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
  payload = malloc((size_t)data_size + 1);
  for (int i = 0; i < data_size; i++) payload[i] = (char)('a' + i % 26);
  if (base_opt)
    snprintf(base_path, sizeof base_path, "%s", base_opt);
  else
    snprintf(base_path, sizeof base_path, "/paddock-bench-%d", (int)getpid());
  snprintf(data_path, sizeof data_path, "%s/data", base_path);

  /* Setup session (also the session pool for the async workloads). */
  int nz = wl == W_CONNECT ? 1 : nsessions;
  sessions = calloc((size_t)nz, sizeof *sessions);
  for (int i = 0; i < nz; i++) {
    sessions[i] = connect_session(hosts[i % nhosts], new_waiter());
    if (!sessions[i]) {
      fprintf(stderr, "loadgen: cannot connect to %s\n", hosts[i % nhosts]);
      return 1;
    }
  }
  int rc = do_create(sessions[0], base_path, NULL, -1);
  if (rc == ZNODEEXISTS && base_opt) rc = ZOK;
  if (rc != ZOK) {
    fprintf(stderr, "loadgen: create %s failed: %s\n", base_path, zerror(rc));
    return 1;
  }
  if (wl == W_GET || wl == W_SET || wl == W_MIX) {
    rc = do_create(sessions[0], data_path, payload, data_size);
    if (rc != ZOK) {
      fprintf(stderr, "loadgen: create %s failed: %s\n", data_path, zerror(rc));
      return 1;
    }
  }
  if (wl == W_FILL) {
    char parent[96];
    for (int i = 0; i < nparents; i++) {
      snprintf(parent, sizeof parent, "%s/p%03d", base_path, i);
      rc = do_create(sessions[0], parent, NULL, -1);
      if (rc != ZOK && rc != ZNODEEXISTS) {
        fprintf(stderr, "loadgen: create %s failed: %s\n", parent, zerror(rc));
        return 1;
      }
    }
  }
  slots = calloc((size_t)window_, sizeof *slots);
  for (int i = 0; i < window_; i++) {
    slots[i].idx = i;
    slots[i].zh = sessions[i % nz];
    slots[i].count = i; /* mix: the slots' setData ops fall at different times */
    snprintf(slots[i].path, sizeof slots[i].path, "%s/n%d", base_path, i);
  }
  if (raw_engine) raw_open();

  struct phase warm, meas;
  if (warmup_s > 0) {
    run_phase(&warm, warmup_s, max_warmup_ops, 0);
    fprintf(stderr, "loadgen: warm-up %s: %ld ops, %ld errors in %.2f s\n", wl_name, warm.done, warm.errors,
            (double)(warm.last_done_ns - warm.start_ns) / 1e9);
  }
  if (handshake) {
    printf("READY\n");
    fflush(stdout);
    wait_line();
  }
  pthread_t marker;
  if (mark_mode && pthread_create(&marker, NULL, read_mark, NULL) != 0) die("pthread_create failed");
  double c0 = cpu_self_s();
  run_phase(&meas, duration_s, max_ops, 1);
  client_cpu_s = cpu_self_s() - c0;
  if (mark_mode) pthread_join(marker, NULL);
  print_result(&meas);
  if (handshake) wait_line();
  if (raw_engine) raw_close();

  /* Cleanup (best effort); fill keeps its tree. */
  if (wl == W_FILL) {
    for (int i = 0; i < nz; i++) zookeeper_close(sessions[i]);
    return meas.errors > 0 && meas.done == 0 ? 1 : 0;
  }
  if (wl == W_CREATE)
    for (int i = 0; i < window_; i++) do_delete(sessions[0], slots[i].path); /* leftovers after errors */
  if (wl == W_GET || wl == W_SET || wl == W_MIX) do_delete(sessions[0], data_path);
  do_delete(sessions[0], base_path);
  for (int i = 0; i < nz; i++) zookeeper_close(sessions[i]);
  return meas.errors > 0 && meas.done == 0 ? 1 : 0;
}
