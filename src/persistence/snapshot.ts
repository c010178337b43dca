// Snapshot files, byte-compatible with ZooKeeper 3.8 (FileSnap, SnapStream,
// SerializeUtils, DataTree.serialize, ReferenceCountedACLCache):
//
//   FileHeader   int magic "ZKSN", int version 2, long dbid -1
//   sessions     int n, n × (long id, int timeout)
//   ACL table    int n, n × (long ref, vector<ACL>)   refs from 1; -1 = OPEN_ACL_UNSAFE, never stored
//   nodes        pre-order from the root (path ""): ustring path, buffer data, long aclRef,
//                StatPersisted (czxid, mzxid, ctime, mtime, version, cversion, aversion,
//                ephemeralOwner, pzxid); then ustring "/"
//   seal         long Adler-32 of every byte before it, ustring "/"
//   digest       long zxid, int digestVersion 2, long digest; seal (Adler-32 still running
//                from the start of the file)
//
// The file name carries the zxid: snapshot.<hex zxid>. ZooKeeper 3.9 appends
// `long lastProcessedZxid` + seal; it is accepted when reading.
//
// Writing is fuzzy and non-blocking: the tree is walked in slices, yielding
// to the event loop between them, so the nodes written are each as they were
// at some moment at or after the start. Replaying the log from the snapshot's
// zxid on top restores the exact state.
//
// The same body travels in a Zab SNAP (LearnerHandler / Learner): sessions,
// ACL table, nodes and "/" without the file header, seals or digest, then
// the ustring "BenWasHere" — writeSnapStream to a Writable, readSnapStream
// from a Readable, both a record or a slice at a time.

import { closeSync, fsync, openSync, readFileSync, unlinkSync, writeSync, ftruncateSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { adler32 } from './adler32.ts';
import { filesByZxid, type ZxidFile } from './files.ts';
import type { Readable, Writable } from 'node:stream';
import { JuteError, JuteReader, JuteTruncated } from '../jute/archive.ts';
import type { ACL } from '../proto/records.ts';
import { readACL } from '../proto/records.ts';
import { OPEN_ACL_UNSAFE } from '../tree/acl.ts';
import { DataTree, UNRESOLVED_ACL, ZNode, kindOf, ttlOf } from '../tree/datatree.ts';
import { DIGEST_VERSION } from '../tree/digest.ts';
import { javaDate } from '../java-date.ts';

export const SNAP_MAGIC = 0x5a4b534e; // "ZKSN"
export const SNAP_VERSION = 2;
export const SNAP_DBID = -1;
const PREFIX = 'snapshot.';
const OPEN_REF = -1;

export class SnapshotError extends Error {
  override name = 'SnapshotError';
  constructor(
    message: string,
    readonly file: string,
    readonly offset?: number,
  ) {
    super(offset === undefined ? `${file}: ${message}` : `${file} at offset ${offset}: ${message}`);
  }
}


// ---------------------------------------------------------------- names

/** The file name ZooKeeper gives the snapshot at zxid: snapshot.<hex>. */
export const snapshotName = (zxid: number): string => `${PREFIX}${zxid.toString(16)}`;

/** The zxid in a snapshot file name (snapshot.<hex>[.gz]), or null when the name is not one. */
export function zxidOfName(name: string): number | null {
  const m = /^snapshot\.([0-9a-fA-F]{1,16})(\.gz)?$/.exec(name);
  if (!m) return null;
  const zxid = parseInt(m[1]!, 16);
  return Number.isSafeInteger(zxid) ? zxid : null;
}

/** Snapshot files in dir, newest (highest zxid) first. */
export function listSnapshots(dir: string): ZxidFile[] {
  // newest first; for equal zxids the plain file before a .gz
  return filesByZxid(dir, zxidOfName).sort((x, y) => y.zxid - x.zxid || x.path.length - y.path.length);
}

// ---------------------------------------------------------------- ACL table

const isOpen = (acl: readonly ACL[]): boolean => {
  if (acl === OPEN_ACL_UNSAFE) return true;
  if (acl.length !== 1) return false;
  const a = acl[0]!;
  return a.perms === 31 && a.id.scheme === 'world' && a.id.id === 'anyone';
};

function aclKey(acl: readonly ACL[]): string {
  let k = '';
  for (const a of acl) k += `${a.perms}\u0000${a.id.scheme}\u0000${a.id.id}\u0001`;
  return k;
}

/** Distinct ACL lists (compared by content, in order) and their refs. */
class AclTable {
  readonly entries: { ref: number; acl: readonly ACL[]; used: boolean }[] = [];
  private readonly byKey = new Map<string, number>();
  private lastAcl: readonly ACL[] | null = null;
  private lastRef = 0;

  /** The ref of acl (and marks it used), or undefined when the table does not hold it. */
  refOf(acl: readonly ACL[]): number | undefined {
    if (acl === this.lastAcl) return this.lastRef;
    if (isOpen(acl)) return OPEN_REF;
    const ref = this.byKey.get(aclKey(acl));
    if (ref !== undefined) {
      this.entries[ref - 1]!.used = true;
      this.lastAcl = acl;
      this.lastRef = ref;
    }
    return ref;
  }

  add(acl: readonly ACL[]): void {
    if (this.refOf(acl) !== undefined) return;
    const ref = this.entries.length + 1;
    this.entries.push({ ref, acl, used: true });
    this.byKey.set(aclKey(acl), ref);
  }

  /** The lists marked used. */
  usedLists(): (readonly ACL[])[] {
    return this.entries.filter((e) => e.used).map((e) => e.acl);
  }

  static of(lists: readonly (readonly ACL[])[]): AclTable {
    const t = new AclTable();
    for (const acl of lists) t.add(acl);
    for (const e of t.entries) e.used = false;
    return t;
  }
}

/**
 * The ACL lists each tree's last snapshot used (or that the snapshot it was
 * read from held): the next write starts from them, so that usually a single
 * walk of the tree suffices. Every write builds its own table from them.
 */
const knownAcls = new WeakMap<DataTree, (readonly ACL[])[]>();

// ---------------------------------------------------------------- fuzzy walk

/**
 * Pre-order walk of a tree that may change between calls to next(): each
 * node's children are copied when the node is visited (so no path comes out
 * twice), and children deleted by the time their turn comes are skipped, as
 * are those `include` rejects, with their subtrees.
 */
class Walk {
  path = '';
  node: ZNode | undefined;
  private readonly stack: { prefix: string; names: string[]; i: number }[] = [];
  private started = false;

  constructor(
    private readonly tree: DataTree,
    private readonly include: (node: ZNode) => boolean = () => true,
  ) {}

  next(): boolean {
    if (!this.started) {
      this.started = true;
      const root = this.tree.get('/');
      if (!root) return false;
      this.visit('/', root);
      return true;
    }
    const stack = this.stack;
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.i >= top.names.length) {
        stack.pop();
        continue;
      }
      const name = top.names[top.i++]!;
      const path = top.prefix === '/' ? `/${name}` : `${top.prefix}/${name}`;
      const node = this.tree.get(path);
      if (node && this.include(node)) {
        this.visit(path, node);
        return true;
      }
    }
    return false;
  }

  private visit(path: string, node: ZNode): void {
    this.path = path;
    this.node = node;
    if (node.children.size > 0) this.stack.push({ prefix: path, names: Array.from(node.children), i: 0 });
  }
}

// ---------------------------------------------------------------- sink

const CHUNK = 1 << 20;
const TWO32 = 0x100000000;

/**
 * Jute encoding straight into a reused buffer, handed to `out` (which must
 * copy what it keeps) each time it fills, with a running Adler-32 when
 * `checksummed`.
 */
class Sink {
  private readonly buf = Buffer.allocUnsafe(CHUNK);
  private pos = 0;
  /** output position of buf[0] */
  private flushed = 0;
  adler = 1;

  constructor(
    private readonly out: (bytes: Buffer, at: number) => void,
    private readonly checksummed: boolean,
  ) {}

  get offset(): number {
    return this.flushed + this.pos;
  }

  /** Start again at offset 0 (the file writer's next attempt). */
  restart(): void {
    this.pos = 0;
    this.flushed = 0;
    this.adler = 1;
  }

  flush(): void {
    if (this.pos === 0) return;
    this.emit(this.buf, this.pos);
    this.pos = 0;
  }

  private emit(b: Buffer, n: number): void {
    if (this.checksummed) this.adler = adler32(b, 0, n, this.adler);
    this.out(b.subarray(0, n), this.flushed);
    this.flushed += n;
  }

  private room(n: number): void {
    if (this.pos + n > CHUNK) this.flush();
  }

  int(v: number): void {
    this.room(4);
    this.buf.writeInt32BE(v | 0, this.pos);
    this.pos += 4;
  }

  long(v: number): void {
    this.room(8);
    const hi = Math.floor(v / TWO32);
    this.buf.writeInt32BE(hi | 0, this.pos);
    this.buf.writeUInt32BE(v - hi * TWO32, this.pos + 4);
    this.pos += 8;
  }

  bigLong(v: bigint): void {
    this.room(8);
    if (v === 0n) {
      this.buf.writeInt32BE(0, this.pos);
      this.buf.writeInt32BE(0, this.pos + 4);
    } else {
      this.buf.writeBigInt64BE(BigInt.asIntN(64, v), this.pos);
    }
    this.pos += 8;
  }

  bytes(b: Uint8Array): void {
    const n = b.length;
    if (n <= CHUNK >> 2) {
      this.room(n);
      this.buf.set(b, this.pos);
      this.pos += n;
    } else {
      this.flush();
      const view = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, n);
      this.emit(view, n);
    }
  }

  buffer(b: Uint8Array | null): void {
    if (b === null) return this.int(-1);
    this.int(b.length);
    this.bytes(b);
  }

  /** A Jute ustring. */
  ustring(s: string): void {
    const max = s.length * 3;
    if (max + 4 <= CHUNK >> 2) {
      this.room(max + 4);
      const n = this.buf.write(s, this.pos + 4, 'utf8');
      this.buf.writeInt32BE(n, this.pos);
      this.pos += 4 + n;
      return;
    }
    const b = Buffer.from(s, 'utf8');
    this.buffer(b);
  }

  /** Seal: the Adler-32 of everything so far, then "/". */
  seal(): void {
    this.flush();
    this.long(this.adler);
    this.ustring('/');
  }
}

// ---------------------------------------------------------------- writing

/** Nodes serialised between two yields to the event loop. */
const SLICE_NODES = 4096;
/** ...or bytes, whichever comes first */
const SLICE_BYTES = 4 << 20;
/** Fuzzy attempts before a blocking one (a retry happens when an ACL list appears mid-write). */
const FUZZY_ATTEMPTS = 3;

let tmpCounter = 0;

/** Snapshots are written under this prefix and renamed when complete; a crash leaves the partial file behind. */
const TMP_PREFIX = 'tmp.';

/** Delete partial snapshots a crash left in dir (call before any snapshot is being written); returns their paths. */
export function removePartialSnapshots(dir: string): string[] {
  const partial = filesByZxid(dir, (name) => (name.startsWith(TMP_PREFIX + PREFIX) ? 0 : null)).map((f) => f.path);
  for (const path of partial) unlinkSync(path);
  return partial;
}

/** One node record. */
function writeNode(sink: Sink, path: string, node: ZNode, ref: number): void {
  sink.ustring(path === '/' ? '' : path);
  const data = node.data;
  sink.buffer(data);
  sink.long(ref);
  sink.long(node.czxid);
  sink.long(node.mzxid);
  sink.long(node.ctime);
  sink.long(node.mtime);
  sink.int(node.version);
  sink.int(node.cversion);
  sink.int(node.aversion);
  sink.bigLong(node.ephemeralOwner);
  sink.long(node.pzxid);
}

/** SerializeUtils' sessions, then the ACL table (ReferenceCountedACLCache.serialize). */
function writeSessionsAndAcls(sink: Sink, sessions: ReadonlyMap<bigint, number>, table: AclTable): void {
  sink.int(sessions.size);
  for (const [id, timeout] of sessions) {
    sink.bigLong(id);
    sink.int(timeout);
  }
  sink.int(table.entries.length);
  for (const { ref, acl } of table.entries) {
    sink.long(ref);
    sink.int(acl.length);
    for (const a of acl) {
      sink.int(a.perms);
      sink.ustring(a.id.scheme);
      sink.ustring(a.id.id);
    }
  }
}

/** Visit every node of the walk, yielding to the event loop between slices. */
async function sliced(walk: Walk, visit: (node: ZNode) => void): Promise<void> {
  let n = 0;
  while (walk.next()) {
    visit(walk.node!);
    if (++n % SLICE_NODES === 0) await yieldToLoop();
  }
}

function collectAcls(tree: DataTree, table: AclTable): void {
  const walk = new Walk(tree);
  while (walk.next()) table.add(walk.node!.acl);
}

/**
 * One pass writing the whole file. The ACL table goes first, so a node whose
 * ACL list the table lacks spoils the pass: the walk then goes on only adding
 * such lists to the table, and the pass returns false for another one to use
 * it. In fuzzy mode the pass yields to the event loop between slices; in
 * blocking mode it never yields.
 */
async function writeAttempt(tree: DataTree, sink: Sink, table: AclTable, fuzzy: boolean): Promise<boolean> {
  // header, sessions and ACL table: written synchronously, as of now
  sink.int(SNAP_MAGIC);
  sink.int(SNAP_VERSION);
  sink.long(SNAP_DBID);
  writeSessionsAndAcls(sink, tree.sessions, table);
  // The tree's digest (kept as nodes change) as of now; the file states it only if no txn is applied while the nodes are written.
  const zxidAtStart = tree.lastProcessedZxid;
  const digestAtStart = tree.digest;
  const walk = new Walk(tree);
  let nodes = 0;
  let spoilt = false;
  let sliceStart = sink.offset;
  while (walk.next()) {
    const node = walk.node!;
    if (spoilt) table.add(node.acl);
    else {
      const ref = table.refOf(node.acl);
      if (ref === undefined) {
        spoilt = true;
        table.add(node.acl);
      } else {
        writeNode(sink, walk.path, node, ref);
      }
    }
    if (fuzzy && (++nodes % SLICE_NODES === 0 || sink.offset - sliceStart > SLICE_BYTES)) {
      sink.flush();
      await yieldToLoop();
      sliceStart = sink.offset;
    }
  }
  if (spoilt) return false;
  sink.ustring('/');
  sink.seal();
  const exact = tree.lastProcessedZxid === zxidAtStart;
  // zxid 0 marks "no digest" for ZooKeeper (as when it has not computed one yet)
  sink.long(exact ? zxidAtStart : 0);
  sink.int(DIGEST_VERSION);
  sink.bigLong(exact ? digestAtStart : 0n);
  sink.seal();
  sink.flush();
  return true;
}

function fsyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (e) => (e ? reject(e) : resolve())));
}

/**
 * Write a snapshot of `tree` as of `zxid` to <dir>/snapshot.<hex zxid>: to a
 * temporary name first, fsync, rename, fsync the directory. Fuzzy and
 * non-blocking: the nodes are written in slices with yields to the event loop
 * in between while the tree keeps changing; nodes deleted meanwhile are
 * skipped, nodes added meanwhile may or may not be included. Replaying the log
 * from zxid on top gives the exact state. Returns the file path.
 */
export async function writeSnapshot(tree: DataTree, zxid: number, dir: string): Promise<string> {
  if (!Number.isSafeInteger(zxid) || zxid < 0) throw new RangeError(`bad snapshot zxid ${zxid}`);
  const name = snapshotName(zxid);
  const path = join(dir, name);
  // ZooKeeper only considers names whose first dot-separated part is "snapshot"
  const tmp = join(dir, `${TMP_PREFIX}${name}.${process.pid}.${++tmpCounter}`);
  const fd = openSync(tmp, 'w', 0o644);
  let closed = false;
  try {
    const sink = new Sink((bytes, at) => {
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, at + done);
    }, true);
    const restart = (): void => {
      ftruncateSync(fd, 0);
      sink.restart();
    };
    const known = knownAcls.get(tree);
    let table: AclTable;
    if (known) table = AclTable.of(known);
    else {
      // first snapshot of this tree: learn its ACL lists in a walk of their own
      const learning = new AclTable();
      await sliced(new Walk(tree), (node) => learning.add(node.acl));
      table = learning;
    }
    let done = false;
    for (let attempt = 0; attempt < FUZZY_ATTEMPTS && !done; attempt++) {
      if (attempt > 0) restart();
      done = await writeAttempt(tree, sink, table, true);
    }
    if (!done) {
      // ACL lists keep appearing while we write: take one blocking pass.
      table = new AclTable();
      collectAcls(tree, table);
      restart();
      await writeAttempt(tree, sink, table, false);
    }
    knownAcls.set(tree, table.usedLists());
    await fsyncAsync(fd);
    closeSync(fd);
    closed = true;
    await rename(tmp, path);
    const dh = await open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
    return path;
  } catch (e) {
    if (!closed) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // already gone (renamed, or never created)
    }
    throw e;
  }
}

// ---------------------------------------------------------------- SNAP stream

/** The ustring a leader writes after the snapshot in a SNAP sync, and its learner checks. */
export const SNAP_SIGNATURE = 'BenWasHere';

/** Resolve once `out` can take more (at once if it can now); reject if it closes or fails first. */
function drained(out: Writable): Promise<void> {
  if (out.destroyed || out.writableEnded) return Promise.reject(new Error('the SNAP stream was closed before the snapshot was sent'));
  if (!out.writableNeedDrain) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (e?: Error): void => {
      out.off('drain', onDrain).off('close', onClose).off('error', onError);
      if (e) reject(e);
      else resolve();
    };
    const onDrain = (): void => done();
    const onClose = (): void => done(new Error('the SNAP stream was closed before the snapshot was sent'));
    const onError = (e: Error): void => done(e);
    out.on('drain', onDrain).on('close', onClose).on('error', onError);
  });
}

/**
 * Write the payload of a Zab SNAP to `out`: what ZooKeeper's LearnerHandler
 * sends after the SNAP packet — SerializeUtils.serializeSnapshot (sessions,
 * ACL table, nodes, "/"; no file header, seals or digest) then the ustring
 * "BenWasHere". Returns the zxid the payload stands for: the tree's
 * lastProcessedZxid when called, which the SNAP packet carries.
 *
 * Fuzzy, like the file writer and like ZooKeeper, so that a large tree never
 * blocks the server nor waits whole in memory: nodes go out in slices,
 * waiting for `out` to drain between them, while txns keep being applied.
 * The learner replays every txn after the returned zxid on top (the leader
 * forwards them after the payload), which makes the result exact, given two
 * rules for nodes that a txn after that zxid touched (a socket cannot restart
 * a pass the way the file writer does when an ACL list is new):
 *  - nodes created after it (czxid greater) are left out, with their
 *    subtrees: the replayed create makes them, with the right ACL (a create
 *    replayed onto an existing node would keep the node's ACL as written);
 *  - a node whose ACL list is not in the table (written first, from a walk
 *    at the start) got it by a setACL after it; it is written with the open
 *    ACL, which that replayed setACL replaces before the learner serves.
 * Rejects if `out` closes or fails first (the caller keeps an 'error'
 * listener on it, as on any socket it owns); `out` is not ended.
 */
export async function writeSnapStream(tree: DataTree, out: Writable): Promise<number> {
  const zxid = tree.lastProcessedZxid;
  const sessions = new Map(tree.sessions);
  const sink = new Sink((bytes) => out.write(Buffer.from(bytes)), false);
  const table = new AclTable();
  await sliced(new Walk(tree), (node) => table.add(node.acl));
  await drained(out);
  writeSessionsAndAcls(sink, sessions, table);
  const walk = new Walk(tree, (node) => node.czxid <= zxid);
  let nodes = 0;
  let sliceStart = sink.offset;
  while (walk.next()) {
    const node = walk.node!;
    writeNode(sink, walk.path, node, table.refOf(node.acl) ?? OPEN_REF);
    if (++nodes % SLICE_NODES === 0 || sink.offset - sliceStart > SLICE_BYTES) {
      sink.flush();
      if (out.writableNeedDrain || out.destroyed) await drained(out);
      else await yieldToLoop();
      sliceStart = sink.offset;
    }
  }
  sink.ustring('/');
  sink.ustring(SNAP_SIGNATURE);
  sink.flush();
  await drained(out);
  return zxid;
}

/** Largest record readSnapStream buffers by default (a node with its data, an ACL list). */
const MAX_STREAM_RECORD = 64 << 20;

/**
 * Bytes pulled from a Readable as records need them: parse steps run on what
 * is buffered and, cut short by its end (JuteTruncated), run again once more
 * has arrived. Holds one record (or one chunk) at a time.
 */
class StreamInput {
  private buf = EMPTY;
  private pos = 0;
  /** stream offset of buf[0] */
  private base = 0;

  constructor(
    private readonly input: Readable,
    private readonly maxRecord: number,
  ) {}

  readonly fail: Fail = (msg, at) => {
    throw new SnapshotError(msg, 'SNAP stream', at === undefined ? this.base + this.pos : this.base + at);
  };

  /** Run `step` over and over while it returns true; each step reads one record and acts only once it has read it whole. */
  async each(step: (r: JuteReader, buf: Buffer) => boolean): Promise<void> {
    for (;;) {
      const r = new JuteReader(this.buf, this.pos, this.buf.length, this.maxRecord);
      try {
        for (;;) {
          const more = step(r, this.buf);
          this.pos = r.offset;
          if (!more) return;
        }
      } catch (e) {
        if (e instanceof JuteTruncated) await this.fill(e.missing);
        else if (e instanceof JuteError) this.fail(e.message);
        else throw e;
      }
    }
  }

  /** One record. */
  async read<T>(parse: (r: JuteReader) => T): Promise<T> {
    let value: T;
    await this.each((r) => {
      value = parse(r);
      return false;
    });
    return value!;
  }

  /** Buffer at least `missing` bytes more after the partial record at pos. */
  private async fill(missing: number): Promise<void> {
    const partial = this.buf.length - this.pos;
    if (partial + missing > this.maxRecord) this.fail(`a record of more than ${this.maxRecord} bytes`);
    const parts: Buffer[] = [this.buf.subarray(this.pos)];
    let got = 0;
    while (got < missing) {
      const chunk = await this.nextChunk();
      if (chunk === null) this.fail(`the stream ended ${this.base + this.buf.length + got} bytes in, inside a record`, this.pos);
      parts.push(chunk!);
      got += chunk!.length;
    }
    this.base += this.pos;
    this.buf = Buffer.concat(parts);
    this.pos = 0;
  }

  private nextChunk(): Promise<Buffer | null> {
    const input = this.input;
    const chunk: unknown = input.read();
    if (chunk !== null) return Promise.resolve(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
    if (input.errored) return Promise.reject(input.errored);
    if (input.readableEnded || input.destroyed) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const done = (): void => void input.off('readable', onReadable).off('end', onEnd).off('close', onEnd).off('error', onError);
      const onReadable = (): void => {
        done();
        this.nextChunk().then(resolve, reject);
      };
      const onEnd = (): void => {
        done();
        resolve(null);
      };
      const onError = (e: Error): void => {
        done();
        reject(e);
      };
      input.on('readable', onReadable).on('end', onEnd).on('close', onEnd).on('error', onError);
    });
  }

  /** Hand the bytes read past the last record back to the stream (the packets after the payload). */
  giveBack(): void {
    if (this.pos < this.buf.length) this.input.unshift(this.buf.subarray(this.pos));
    this.buf = EMPTY;
    this.pos = 0;
  }
}

/**
 * Read a SNAP payload (as writeSnapStream writes it, or a ZooKeeper leader)
 * from `input` into a new tree at `zxid` (the SNAP packet's), parsing records
 * as they arrive: memory beyond the tree is one record or one chunk, and no
 * record may exceed `maxRecordBytes`. Bytes that follow the signature are
 * pushed back onto `input` (unshift), so the next packet reads from there.
 * Throws SnapshotError (file "SNAP stream", with the stream offset) on
 * malformed input, a wrong signature or a stream that ends early; it does not
 * time out by itself — destroy `input` to give up. `input` must be paused
 * (no 'data' listener): it is read with read() as records need bytes.
 */
export async function readSnapStream(input: Readable, zxid: number, opts: { maxRecordBytes?: number } = {}): Promise<DataTree> {
  const inp = new StreamInput(input, opts.maxRecordBytes ?? MAX_STREAM_RECORD);
  const fail = inp.fail;
  const sessions = new Map<bigint, number>();
  let left = await inp.read((r) => r.int());
  if (left < 0) fail(`bad session count ${left}`);
  if (left > 0) {
    await inp.each((r) => {
      const id = r.bigLong();
      sessions.set(id, r.int());
      return --left > 0;
    });
  }
  left = await inp.read((r) => r.int());
  if (left < 0) fail(`bad ACL table size ${left}`);
  const acls = new Map<number, ACL[]>();
  if (left > 0) {
    await inp.each((r) => {
      readAclEntry(r, acls, fail);
      return --left > 0;
    });
  }
  const loading = DataTree.loadingSnapshot();
  let first = true;
  await inp.each((r, buf) => {
    const at = r.offset;
    const path = readNodePath(r, first, fail);
    if (path === null) return false;
    const node = readNode(r, buf, path, acls, fail);
    try {
      loading.add(path, node);
    } catch (e) {
      fail((e as Error).message, at);
    }
    first = false;
    return true;
  });
  const signature = await inp.read((r) => r.ustring());
  if (signature !== SNAP_SIGNATURE) fail(`signature ${JSON.stringify(signature)} where "${SNAP_SIGNATURE}" was expected`);
  inp.giveBack();
  let tree: DataTree;
  try {
    tree = loading.finish(sessions, zxid);
  } catch (e) {
    return fail((e as Error).message);
  }
  knownAcls.set(tree, [...acls.values()]);
  return tree;
}

// ---------------------------------------------------------------- reading

interface Parsed {
  tree: DataTree;
  /** the ACL table as stored, ref → list (the lists are the arrays the nodes hold) */
  acls: Map<number, ACL[]>;
  /** path → ACL ref the table lacks: such nodes hold UNRESOLVED_ACL */
  unresolvedAcls: Map<string, number>;
  digest: { zxid: number; digestVersion: number; digest: bigint } | null;
}

const EMPTY = Buffer.alloc(0);

function loadFile(file: string): Buffer {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new SnapshotError(`cannot read: ${(e as Error).message}`, file);
  }
  if (file.endsWith('.gz')) {
    try {
      buf = gunzipSync(buf);
    } catch (e) {
      throw new SnapshotError(`bad gzip stream: ${(e as Error).message}`, file);
    }
  }
  return buf;
}

/** Parse and validate a whole snapshot image; `zxid` becomes the tree's lastProcessedZxid. */
function parse(buf: Buffer, file: string, zxid: number): Parsed {
  const r = new JuteReader(buf);
  const fail = (msg: string, at = r.offset): never => {
    throw new SnapshotError(msg, file, at);
  };
  let nodeAt = 0;
  try {
    if (r.int() !== SNAP_MAGIC) fail('not a snapshot (bad magic)', 0);
    const version = r.int();
    if (version !== SNAP_VERSION) fail(`unsupported snapshot version ${version}`, 4);
    r.long(); // dbid
    // sessions
    const nSessions = r.int();
    if (nSessions < 0 || nSessions * 12 > r.remaining) fail(`bad session count ${nSessions}`, r.offset - 4);
    const sessions = new Map<bigint, number>();
    for (let i = 0; i < nSessions; i++) {
      const id = r.bigLong();
      sessions.set(id, r.int());
    }
    // ACL table
    const nAcls = r.int();
    if (nAcls < 0 || nAcls * 12 > r.remaining) fail(`bad ACL table size ${nAcls}`, r.offset - 4);
    const acls = new Map<number, ACL[]>();
    const unresolvedAcls = new Map<string, number>();
    for (let i = 0; i < nAcls; i++) readAclEntry(r, acls, fail);
    // nodes, fed straight into the tree
    const entry: [string, ZNode] = ['/', null as unknown as ZNode];
    const nodes = function* (): Generator<[string, ZNode]> {
      for (let first = true; ; first = false) {
        nodeAt = r.offset;
        const path = readNodePath(r, first, fail);
        if (path === null) return;
        entry[0] = path;
        // A fuzzy snapshot may name an ACL list newer than its table: ZooKeeper
        // loads it too (ReferenceCountedACLCache.addUsage ignores the ref); the
        // logged txn that gave the node its list resolves it.
        entry[1] = readNode(r, buf, path, acls, fail, (ref) => unresolvedAcls.set(path, ref));
        yield entry;
      }
    };
    let tree: DataTree;
    try {
      tree = DataTree.fromSnapshot(nodes(), sessions, zxid);
    } catch (e) {
      if (e instanceof SnapshotError || e instanceof JuteError) throw e;
      return fail((e as Error).message, nodeAt);
    }
    // seals: the Adler-32 runs from the start of the file up to each one
    let adler = 1;
    let covered = 0;
    const sealHere = (): void => {
      adler = adler32(buf, covered, r.offset, adler);
      covered = r.offset;
      checkSeal(r, adler, fail);
    };
    sealHere();
    let digest: Parsed['digest'] = null;
    if (r.remaining > 0) {
      const dz = r.long();
      const digestVersion = r.int();
      let value: bigint;
      if (digestVersion >= 2) value = r.bigLong();
      else {
        const hex = r.ustring();
        value = hex !== null && /^[0-9a-fA-F]{1,16}$/.test(hex) ? BigInt.asIntN(64, BigInt(`0x${hex}`)) : 0n;
      }
      sealHere();
      digest = { zxid: dz, digestVersion, digest: value };
      // ZooKeeper 3.9: long lastProcessedZxid + seal
      if (r.remaining > 0) {
        r.long();
        sealHere();
      }
      if (r.remaining > 0) fail(`${r.remaining} unexpected bytes after the end`);
    }
    return { tree, acls, unresolvedAcls, digest };
  } catch (e) {
    if (e instanceof JuteError) throw new SnapshotError(e.message, file, r.offset);
    throw e;
  }
}

type Fail = (msg: string, at?: number) => never;

/** One ACL table entry (long ref, vector<ACL>), added to `acls`. */
function readAclEntry(r: JuteReader, acls: Map<number, ACL[]>, fail: Fail): void {
  const at = r.offset;
  const ref = r.long();
  const list = r.vector(readACL);
  if (list === null) fail(`ACL list ${ref} is null`, at);
  if (ref === OPEN_REF || acls.has(ref)) fail(`ACL ref ${ref} repeated or reserved`, at);
  acls.set(ref, list!);
}

/** A node record's path ("/" for the root, written as ""), or null at the end marker "/". */
function readNodePath(r: JuteReader, first: boolean, fail: Fail): string | null {
  const at = r.offset;
  const raw = r.ustring();
  if (raw === null) fail('null node path', at);
  if (raw === '/') return null;
  if (first ? raw !== '' : raw!.charCodeAt(0) !== 0x2f) fail(first ? 'first node is not the root' : `bad node path ${JSON.stringify(raw)}`, at);
  return first ? '/' : raw!;
}

/** The rest of a node record (DataNode: data, ACL ref, StatPersisted); `buf` is the reader's buffer. */
/** One node record; a ref the ACL table lacks fails, unless `unresolved` takes it (the node then holds UNRESOLVED_ACL). */
function readNode(r: JuteReader, buf: Buffer, path: string, acls: ReadonlyMap<number, ACL[]>, fail: Fail, unresolved?: (ref: number) => void): ZNode {
  const d = r.buffer();
  let data: Buffer | null = null;
  if (d !== null) {
    if (d.length === 0) data = EMPTY;
    else {
      data = Buffer.allocUnsafe(d.length);
      data.set(d);
    }
  }
  const refAt = r.offset;
  const ref = r.long();
  let acl = ref === OPEN_REF ? OPEN_ACL_UNSAFE : acls.get(ref);
  if (acl === undefined) {
    if (!unresolved) fail(`node ${path} refers to ACL ${ref}, which the table lacks`, refAt);
    unresolved!(ref);
    acl = UNRESOLVED_ACL;
  }
  const czxid = r.long();
  const mzxid = r.long();
  const ctime = r.long();
  const mtime = r.long();
  const version = r.int();
  const cversion = r.int();
  const aversion = r.int();
  const o = r.offset;
  // most nodes are not ephemeral: share 0n rather than allocate a BigInt each
  const owner = r.remaining >= 8 && buf.readInt32BE(o) === 0 && buf.readInt32BE(o + 4) === 0 ? (r.long(), 0n) : r.bigLong();
  const pzxid = r.long();
  return new ZNode(data, acl!, czxid, mzxid, ctime, mtime, version, cversion, aversion, owner, pzxid);
}

function checkSeal(r: JuteReader, expected: number, fail: Fail): void {
  const at = r.offset;
  const stored = r.long();
  if (stored !== expected) fail(`checksum mismatch: stored ${stored.toString(16)}, computed ${expected.toString(16)}`, at);
  const slash = r.offset;
  if (r.ustring() !== '/') fail('bad seal marker', slash);
}

/** A snapshot as read; see readSnapshot. */
export interface LoadedSnapshot {
  tree: DataTree;
  zxid: number;
  digest: { zxid: number; digest: bigint } | null;
  /** nodes (path → ACL ref) whose ref the ACL table lacks; they hold UNRESOLVED_ACL until the log replay sets their list */
  unresolvedAcls: ReadonlyMap<string, number>;
}

/**
 * Read and validate (checksums, structure) a snapshot file. Throws
 * SnapshotError naming the file and offset on any corruption or truncation.
 * The zxid comes from the file name. `digest` is the tree digest the writer
 * recorded and the zxid it belongs to (which may be past the snapshot's zxid:
 * compare once the log has been replayed up to it), or null when the file
 * holds none. A fuzzy snapshot may hold nodes whose ACL list is newer than its
 * ACL table (`unresolvedAcls`): usable only once the log has supplied them.
 */
export function readSnapshot(file: string): LoadedSnapshot {
  const zxid = zxidOfName(basename(file));
  if (zxid === null) throw new SnapshotError('file name is not snapshot.<hex zxid>', file);
  return readSnapshotBytes(loadFile(file), file, zxid);
}

/** readSnapshot on the (uncompressed) bytes of a snapshot file; `file` only names it in errors. */
export function readSnapshotBytes(bytes: Buffer, file: string, zxid: number): LoadedSnapshot {
  const { tree, acls, unresolvedAcls, digest } = parse(bytes, file, zxid);
  knownAcls.set(tree, [...acls.values()]);
  const d = digest !== null && digest.zxid > 0 && digest.digestVersion === DIGEST_VERSION ? { zxid: digest.zxid, digest: digest.digest } : null;
  return { tree, zxid, digest: d, unresolvedAcls };
}


// ---------------------------------------------------------------- formatting

const hex64 = (v: bigint | number): string => {
  const u = BigInt.asUintN(64, BigInt(v));
  return `0x${u.toString(16).padStart(14, '0')}`; // Java's %#016x
};

function permString(perms: number): string {
  return [
    [4, 'c'],
    [8, 'd'],
    [1, 'r'],
    [2, 'w'],
    [16, 'a'],
  ]
    .filter(([bit]) => (perms & (bit as number)) !== 0)
    .map(([, c]) => c)
    .join('');
}

const aclText = (acl: readonly ACL[]): string => acl.map((a) => `${a.id.scheme}:${a.id.id}:${permString(a.perms)}`).join(',');

function* preorder(tree: DataTree): Generator<[string, ZNode]> {
  const walk = new Walk(tree);
  while (walk.next()) yield [walk.path, walk.node!];
}

function kindText(owner: bigint): string {
  const kind = kindOf(owner);
  return kind === 'ttl' ? `ttl ${ttlOf(owner)} ms` : kind;
}

/**
 * For `paddock snapshot FILE [--json]`: a human-readable dump in the manner
 * of ZooKeeper's SnapshotFormatter (each node's path, stat fields and data
 * length, then sessions), with each node's ACL and the ACL table; or JSON.
 * Validates like readSnapshot.
 */
export function formatSnapshot(file: string, json: boolean): string {
  const nameZxid = zxidOfName(basename(file));
  const { tree, acls, unresolvedAcls, digest } = parse(loadFile(file), file, nameZxid ?? 0);
  let lastZxid = nameZxid ?? 0;
  const ephemeralCount = (sid: bigint): number => tree.ephemeralsOf(sid).size;
  if (json) {
    const nodes = [];
    for (const [path, n] of preorder(tree)) {
      lastZxid = Math.max(lastZxid, n.mzxid, n.pzxid);
      nodes.push({
        path,
        czxid: n.czxid,
        mzxid: n.mzxid,
        pzxid: n.pzxid,
        ctime: n.ctime,
        mtime: n.mtime,
        version: n.version,
        cversion: n.cversion,
        aversion: n.aversion,
        ephemeralOwner: hex64(n.ephemeralOwner),
        kind: kindOf(n.ephemeralOwner),
        ...(kindOf(n.ephemeralOwner) === 'ttl' ? { ttl: ttlOf(n.ephemeralOwner) } : {}),
        dataLength: n.data === null ? 0 : n.data.length,
        dataNull: n.data === null,
        numChildren: n.children.size,
        ...(unresolvedAcls.has(path)
          ? { acl: null, unresolvedAclRef: unresolvedAcls.get(path) }
          : { acl: n.acl.map((a) => ({ perms: a.perms, scheme: a.id.scheme, id: a.id.id })) }),
      });
    }
    const out = {
      file,
      zxid: nameZxid,
      lastZxid,
      nodeCount: tree.nodeCount,
      sessions: [...tree.sessions].map(([id, timeout]) => ({ id: hex64(id), timeout, ephemeralCount: ephemeralCount(id) })),
      acls: [...acls].map(([ref, list]) => ({ ref, acl: list.map((a) => ({ perms: a.perms, scheme: a.id.scheme, id: a.id.id })) })),
      digest: digest && { zxid: digest.zxid, version: digest.digestVersion, digest: digest.digest.toString() },
      nodes,
    };
    return JSON.stringify(out, null, 1) + '\n';
  }
  const lines: string[] = [`ZNode Details (count=${tree.nodeCount}):`];
  for (const [path, n] of preorder(tree)) {
    lastZxid = Math.max(lastZxid, n.mzxid, n.pzxid);
    lines.push(
      '----',
      path,
      `  cZxid = ${hex64(n.czxid)}`,
      `  ctime = ${javaDate(n.ctime, 'UTC')}`,
      `  mZxid = ${hex64(n.mzxid)}`,
      `  mtime = ${javaDate(n.mtime, 'UTC')}`,
      `  pZxid = ${hex64(n.pzxid)}`,
      `  cversion = ${n.cversion}`,
      `  dataVersion = ${n.version}`,
      `  aclVersion = ${n.aversion}`,
      `  ephemeralOwner = ${hex64(n.ephemeralOwner)}${n.ephemeralOwner === 0n ? '' : ` (${kindText(n.ephemeralOwner)})`}`,
      `  dataLength = ${n.data === null ? 0 : n.data.length}`,
      `  acl = ${unresolvedAcls.has(path) ? `ref ${unresolvedAcls.get(path)}, not in the ACL table` : aclText(n.acl)}`,
    );
  }
  lines.push('----', 'Session Details (sid, timeout, ephemeralCount):');
  for (const [id, timeout] of tree.sessions) lines.push(`${hex64(id)}, ${timeout}, ${ephemeralCount(id)}`);
  lines.push('----', `ACL Details (ref, acl) (count=${acls.size}, ref -1 = world:anyone:cdrwa is implicit):`);
  for (const [ref, list] of acls) lines.push(`${ref}, ${aclText(list)}`);
  if (digest) lines.push('----', `Digest: zxid 0x${digest.zxid.toString(16)}, version ${digest.digestVersion}, ${digest.zxid > 0 ? digest.digest : 'empty'}`);
  lines.push('----', `Last zxid: 0x${lastZxid.toString(16)}`);
  return lines.join('\n') + '\n';
}
