// The fault suite (`npm run faults -- --duration 60 --seed 7 --peers 3
// --faults kill-leader,partition-halves --servers paddock`): a real ensemble
// of `paddock server` processes (or ZooKeeper 3.8 QuorumPeerMain ones), each
// peer in its own network namespace, clients recording a history while the
// nemesis injects faults (register and create workers pinned to each peer,
// and one lock worker pinned to each peer contending for the lock recipe),
// then every fault healed, a quiet spell of clients (lock workers go on until
// each acquired once after the heal), every peer read, and the checkers'
// verdicts (on ZooKeeper, a violation only sync + getData reads show is
// reported as expected evidence and does not fail the run).
// Run as root. Without network namespaces (or with `--net proxy`) the peers
// run on loopback and every peer and client link goes through a TCP proxy the
// suite controls (test/faults/proxy-mesh.ts), which partitions stall; the
// output says which network ran. Delays and packet loss (netem) are not
// injected: this machine's kernel has no sch_netem.
//
// Output (in --out, default a fresh directory under the system's tmp):
// history.jsonl (every event, replayable: `--check DIR` checks it again),
// schedule.json (the seeded plan and what was executed), final.json (each
// peer's children at the end), report.json, peer<id>.log (each peer's output
// since its last start), and a summary on stdout. Exit code 1 if any checker
// finds a violation.
//
// Mirrors nothing in ZooKeeper: Jepsen's zookeeper test, on one machine.

import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ZooKeeperClient } from '../../src/client/index.ts';
import { bounded, TestEnsemble, type ServerKind } from '../support/ensemble.ts';
import { Rand } from '../support/random.ts';
import { checkEphemerals, EPHEMERAL_PARENT, type EphemeralReport } from './ephemerals.ts';
import { History, pair, parseHistory, type Fn, type Op } from './history.ts';
import { checkRegister, type KeyReport } from './linearizable.ts';
import { checkLocks, LOCK_PATH, LockWorker, type LockReport } from './locks.ts';
import { FAULT_KINDS, Nemesis, plan, type ExecutedFault, type FaultKind, type PlannedFault } from './nemesis.ts';
import { namespacesAvailable, NamespaceNet, type FaultNet } from './net.ts';
import { ProxyMesh } from './proxy-mesh.ts';
import { checkSets, type SetReport } from './sets.ts';
import { checkWatches, type WatchReport } from './watches.ts';
import { Processes, readAfterSync, REGISTER_PARENT, registerPath, SEQ_PARENT, SET_PARENT, sleep, Worker, type WorkloadOptions } from './workload.ts';

export const NET_CHOICES = ['auto', 'namespaces', 'proxy'] as const;
export type NetChoice = (typeof NET_CHOICES)[number];

export interface FaultOptions {
  durationMs: number;
  seed: number;
  peers: 3 | 5;
  faults: readonly FaultKind[];
  servers: ServerKind;
  /** network namespaces, the proxy mesh, or (auto, the default) namespaces where they are available */
  net?: NetChoice;
  /** where history, schedule and report go (default: a fresh temporary directory) */
  out?: string;
  workersPerPeer?: number;
  workload?: Partial<WorkloadOptions>;
  log?: (line: string) => void;
}

export interface FaultReport {
  options: Omit<FaultOptions, 'log'>;
  out: string;
  network: string;
  ops: { total: number; ok: number; fail: number; info: number; byFn: Record<string, number> };
  faults: ExecutedFault[];
  /** per heal: ms until the ensemble settled, and until the first write invoked after heal was acknowledged */
  recovery: { kind: FaultKind; settledMs: number | null; firstWriteMs: number | null }[];
  registers: { valid: boolean | 'unknown'; keys: KeyReport[] };
  /** the same check restricted to each kind of read, to tell which one a violation needs */
  byRead: Record<'read-sync' | 'read-quorum', boolean | 'unknown'>;
  /** ZooKeeper failed linearizability through sync + getData reads only: expected, and not a failed run */
  syncReadEvidence: boolean;
  sets: SetReport;
  ephemerals: EphemeralReport;
  watches: WatchReport;
  locks: LockReport;
  /** history time at which the last fault was healed and the ensemble settled: progress is judged from there */
  healedAt: number;
  valid: boolean;
}

const WAIT_MS = 60_000;
/** How long the clients go on once every fault is healed and the ensemble settled: the service must work again. */
const QUIET_MS = 4000;
/** final.json's name for the peers' /eph read after every session's timeout */
const EPHEMERALS_AFTER_TIMEOUT = `${EPHEMERAL_PARENT} after timeout`;
/** A lock attempt gives up after this long: during a fault that is allowed, after the last heal it fails progress. */
const LOCK_TIMEOUT_MS = 20_000;

/** The combined verdict of several: false beats unknown beats true. */
const combine = (vs: (boolean | 'unknown')[]): boolean | 'unknown' => (vs.includes(false) ? false : vs.includes('unknown') ? 'unknown' : true);

function checkRegisters(ops: readonly Op[]): { valid: boolean | 'unknown'; keys: KeyReport[] } {
  const byKey = new Map<string, Op[]>();
  for (const op of ops) if (op.key.startsWith(`${REGISTER_PARENT}/`)) byKey.set(op.key, [...(byKey.get(op.key) ?? []), op]);
  const keys = [...byKey].sort(([a], [b]) => a.localeCompare(b)).map(([key, keyOps]) => checkRegister(key, keyOps));
  return { valid: combine(keys.map((k) => k.verdict.valid)), keys };
}

/**
 * The checkers on a paired history, the peers' final children and the time the last heal settled. On ZooKeeper a
 * register violation that needs sync + getData reads (none with quorum-confirmed reads only) does not make the run
 * invalid: ZooKeeper 3.8 does not promise that sync + getData is linearizable, and such a failure is the evidence
 * that the checker catches a real violation.
 */
export function check(ops: readonly Op[], final: ReadonlyMap<number, ReadonlyMap<string, readonly string[]>>, { healedAt, servers }: { healedAt: number; servers: ServerKind }) {
  const registers = checkRegisters(ops);
  const without = (f: string) => checkRegisters(ops.filter((op) => op.f !== f)).valid;
  const byRead = registers.valid === true ? { 'read-sync': true, 'read-quorum': true } : { 'read-sync': without('read-quorum'), 'read-quorum': without('read-sync') };
  const sets = checkSets(ops, final);
  const reading = (name: string) => new Map([...final].map(([id, m]) => [id, m.get(name) ?? []]));
  const ephemerals = checkEphemerals(ops, { afterClose: reading(EPHEMERAL_PARENT), afterTimeout: reading(EPHEMERALS_AFTER_TIMEOUT) });
  const watches = checkWatches(ops);
  const locks = checkLocks(ops, healedAt, reading(LOCK_PATH));
  const syncReadEvidence = servers === 'zookeeper' && byRead['read-sync'] === false && byRead['read-quorum'] === true;
  return { registers, byRead, syncReadEvidence, sets, ephemerals, watches, locks, valid: (registers.valid === true || syncReadEvidence) && sets.valid && ephemerals.valid && watches.valid && locks.valid };
}

const WRITES = new Set<Fn>(['write', 'cas', 'create', 'create-seq', 'create-eph']);

/** Ms from each heal until the first write, cas or create invoked after it was acknowledged. */
function firstWrites(ops: readonly Op[], faults: readonly ExecutedFault[]): (number | null)[] {
  const writes = ops.filter((op) => op.status === 'ok' && WRITES.has(op.f));
  return faults.map((fault) => {
    const first = Math.min(...writes.filter((op) => op.invoke >= fault.healedAt).map((op) => op.complete));
    return Number.isFinite(first) ? first - fault.healedAt : null;
  });
}

export async function runFaults(opts: FaultOptions): Promise<FaultReport> {
  const { log: logTo, ...options } = opts;
  const log = logTo ?? ((line: string) => console.log(line));
  const out = opts.out ?? mkdtempSync(join(tmpdir(), `paddock-faults-${opts.servers}-${opts.seed}-`));
  mkdirSync(out, { recursive: true });
  const workload: WorkloadOptions = { keys: 6, opTimeoutMs: 4000, sessionTimeoutMs: 6000, thinkMs: 40, ...opts.workload };
  const ids = [...Array(opts.peers).keys()].map((i) => i + 1);
  const choice = opts.net ?? 'auto';
  const namespaces = choice !== 'proxy' && namespacesAvailable();
  if (choice === 'namespaces' && !namespaces) throw new Error('--net namespaces: network namespaces are not available here (run as root, with ip netns)');
  const nsNet = namespaces ? NamespaceNet.setup(ids) : undefined;
  let mesh: ProxyMesh | undefined;
  const ens = await TestEnsemble.create(`faults-${opts.servers}`, ids.map((id) => ({ id, kind: opts.servers })), {
    tickTime: 300,
    waitMs: WAIT_MS,
    cfg: { syncLimit: 5, initLimit: 10, maxSessionTimeout: workload.sessionTimeoutMs, snapCount: 2000 },
    network: nsNet,
    memberCfg: (id) => mesh?.serverLines(id, (other) => ens.serverLine(other)) ?? {},
  });
  mesh = nsNet ? undefined : await ProxyMesh.setup(ens);
  const net: FaultNet = nsNet ?? mesh!;
  const network = nsNet ? net.description : `${net.description} (${choice === 'proxy' ? 'forced by --net proxy' : 'network namespaces are not available here: not root, or no ip netns'})`;
  /** Where the suite's clients reach peer `id`. */
  const clientAddress = (id: number) => mesh?.clientAddress(id) ?? ens.connectString([id]);
  const everyPeer = ids.map(clientAddress).join(',');
  const faultPlan: PlannedFault[] = plan(opts.seed, opts.durationMs, opts.faults);
  log(`faults: ${opts.servers}, ${opts.peers} peers, seed ${opts.seed}, ${opts.durationMs / 1000} s; ${network}; output in ${out}`);
  log(`plan: ${faultPlan.map((f) => `${f.kind} ${f.faultMs} ms`).join(', ')}`);
  const history = new History(join(out, 'history.jsonl'));
  writeFileSync(join(out, 'history.jsonl'), '');
  // Interrupted: no peer outlives the run, no namespace stays behind.
  const interrupted = () => {
    for (const id of ens.runningIds) ens.server(id).proc.kill('SIGKILL');
    void net.teardown();
    process.exit(130);
  };
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
  try {
    await ens.startAll();
    const setup = await ZooKeeperClient.connect(everyPeer, { sessionTimeout: workload.sessionTimeoutMs });
    for (const parent of [REGISTER_PARENT, SET_PARENT, SEQ_PARENT, EPHEMERAL_PARENT, LOCK_PATH]) await setup.create(parent, '');
    for (let k = 0; k < workload.keys; k++) await setup.create(registerPath(k), 'init');
    await setup.close();

    const rand = new Rand(opts.seed).fork(2);
    const processes = new Processes();
    const workers = ids.flatMap((id) => [...Array(opts.workersPerPeer ?? 2).keys()].map((w) => new Worker(id, clientAddress(id), history, processes, rand.fork(id * 100 + w), workload)));
    const lockers = ids.map((id) => new LockWorker(processes.take(), clientAddress(id), history, rand.fork(10_000 + id), { sessionTimeoutMs: workload.sessionTimeoutMs, acquireTimeoutMs: LOCK_TIMEOUT_MS }));
    // The nemesis stops at the deadline (healing its last fault); the clients go on until a quiet spell after that,
    // and a lock worker until it acquired once after the heal (for up to WAIT_MS: past that, progress fails).
    const deadline = Date.now() + opts.durationMs;
    let workloadUntil = Infinity;
    let healedAt = Infinity;
    const nemesis = new Nemesis(ens, net, () => history.now(), log);
    await sleep(1000);
    const clients = Promise.all([
      ...workers.map((w) => w.run(() => Date.now() < workloadUntil)),
      ...lockers.map((w) => w.run(() => Date.now() < workloadUntil || (w.lastAcquired < healedAt && history.now() < healedAt + WAIT_MS))),
    ]);
    await nemesis
      .run(faultPlan, () => Date.now() < deadline)
      .then(() => ens.settled())
      .finally(() => {
        healedAt = history.now();
        workloadUntil = Math.max(deadline, Date.now()) + QUIET_MS;
        return clients;
      });
    await Promise.all([...workers, ...lockers].map((w) => w.finish()));
    const final = new Map<number, Map<string, string[]>>(ids.map((id) => [id, new Map()]));
    const finalProcess = processes.take();
    /** On every peer: sync, then each of `parents`' children into `final` (under the name `as` gives), and with `registers` a read of each register. */
    const readPeers = async (parents: string[], { registers = false, as = (parent: string) => parent } = {}) => {
      for (const id of ids) {
        const c = await ZooKeeperClient.connect(clientAddress(id), { sessionTimeout: workload.sessionTimeoutMs });
        try {
          for (let k = 0; registers && k < workload.keys; k++) {
            const key = registerPath(k);
            history.add({ type: 'invoke', process: finalProcess, f: 'read-sync', key, peer: id });
            const { value, version } = await bounded(`final read of ${key} on ${id}`, WAIT_MS, readAfterSync(c, key));
            history.add({ type: 'ok', process: finalProcess, f: 'read-sync', key, value: { value, version }, peer: id });
          }
          await bounded(`sync on ${id}`, WAIT_MS, c.sync('/'));
          for (const parent of parents) final.get(id)!.set(as(parent), await bounded(`children of ${parent} on ${id}`, WAIT_MS, c.getChildren(parent)));
        } finally {
          await c.close();
        }
      }
    };
    await readPeers([SET_PARENT, SEQ_PARENT, EPHEMERAL_PARENT], { registers: true });
    // Sessions the workers abandoned expire within their timeout (counted again by a new leader).
    await sleep(2 * workload.sessionTimeoutMs + 1000);
    await readPeers([EPHEMERAL_PARENT, LOCK_PATH], { as: (parent) => (parent === EPHEMERAL_PARENT ? EPHEMERALS_AFTER_TIMEOUT : parent) });

    const ops = pair(history.events);
    const verdicts = check(ops, final, { healedAt, servers: opts.servers });
    const writes = firstWrites(ops, nemesis.executed);
    const report: FaultReport = {
      options,
      out,
      network,
      ops: {
        total: ops.length,
        ok: ops.filter((op) => op.status === 'ok').length,
        fail: ops.filter((op) => op.status === 'fail').length,
        info: ops.filter((op) => op.status === 'info').length,
        byFn: Object.fromEntries([...new Set(ops.map((op) => op.f))].map((f) => [f, ops.filter((op) => op.f === f).length])),
      },
      faults: nemesis.executed,
      recovery: nemesis.executed.map((f, i) => ({ kind: f.kind, settledMs: f.settledMs, firstWriteMs: writes[i]! })),
      healedAt,
      ...verdicts,
    };
    writeFileSync(join(out, 'schedule.json'), JSON.stringify({ seed: opts.seed, plan: faultPlan, executed: nemesis.executed, healedAt, servers: opts.servers }, null, 2) + '\n');
    writeFileSync(join(out, 'final.json'), JSON.stringify(Object.fromEntries([...final].map(([id, m]) => [id, Object.fromEntries(m)]))) + '\n');
    writeFileSync(join(out, 'report.json'), JSON.stringify(report, null, 2) + '\n');
    summarize(report, log);
    return report;
  } finally {
    // Each peer's output since its last start, for a post-mortem.
    for (const id of ens.runningIds) writeFileSync(join(out, `peer${id}.log`), ens.server(id).output());
    process.off('SIGINT', interrupted).off('SIGTERM', interrupted);
    await ens.close();
    await net.teardown();
  }
}

function summarize(r: FaultReport, log: (line: string) => void): void {
  const verdict = (v: boolean | 'unknown') => (v === true ? 'valid' : v === false ? 'INVALID' : 'unknown');
  log(`ops: ${r.ops.total} (ok ${r.ops.ok}, fail ${r.ops.fail}, info ${r.ops.info}); ${Object.entries(r.ops.byFn).map(([f, n]) => `${f} ${n}`).join(', ')}`);
  log(`faults: ${r.faults.length}; recovery after each heal (settled / first write): ${r.recovery.map((x) => `${x.kind} ${x.settledMs?.toFixed(0) ?? '-'}/${x.firstWriteMs?.toFixed(0) ?? '-'} ms`).join(', ')}`);
  log(`registers (linearizable): ${verdict(r.registers.valid)}; with sync+getData reads only: ${verdict(r.byRead['read-sync'])}; with quorum-confirmed reads only: ${verdict(r.byRead['read-quorum'])}`);
  if (r.syncReadEvidence) log('  expected: ZooKeeper 3.8 does not promise that sync + getData is linearizable (sync is not a quorum operation); this violation is the evidence that the checker catches a real one, and it does not fail the run');
  for (const k of r.registers.keys) {
    if (k.verdict.valid === true) continue;
    log(`  ${k.key}: ${verdict(k.verdict.valid)}${'why' in k.verdict ? ` (${k.verdict.why})` : ''}`);
    if (k.window) log(`    the minimised failing window, ${k.window.from === null ? 'from the start' : `from ${k.window.from.toFixed(1)} ms (what came before forgotten)`} to ${k.window.until.toFixed(1)} ms:`);
    for (const line of k.window?.ops ?? []) log(`    ${line}`);
  }
  log(`sets: ${r.sets.valid ? 'valid' : 'INVALID'} (acknowledged ${r.sets.acknowledged}, failed ${r.sets.failed}, indeterminate ${r.sets.indeterminate} of which present ${r.sets.indeterminatePresent})`);
  for (const p of r.sets.problems.slice(0, 20)) log(`  ${p}`);
  log(`ephemerals: ${r.ephemerals.valid ? 'valid' : 'INVALID'} (acknowledged ${r.ephemerals.acknowledged}, live sessions checked ${r.ephemerals.liveSessions}, closed ${r.ephemerals.closedSessions})`);
  for (const p of r.ephemerals.problems.slice(0, 20)) log(`  ${p}`);
  log(`watches: ${r.watches.valid ? 'valid' : 'INVALID'} (${r.watches.replies} replies on ${r.watches.streams} session-key streams)`);
  for (const p of r.watches.problems.slice(0, 20)) log(`  ${p}`);
  const l = r.locks;
  log(`locks: ${l.valid ? 'valid' : 'INVALID'} (acquired ${l.acquired}, released ${l.released}, lost at Disconnected ${l.lost}, timeouts ${l.timeouts}, ended by expiry ${l.expired}; first acquisition after the last heal per lock client: ${l.afterHealMs.map((ms) => (ms === null ? 'never' : `${ms.toFixed(0)} ms`)).join(', ')})`);
  for (const p of l.problems.slice(0, 20)) log(`  ${p}`);
  log(`verdict: ${r.valid ? 'valid' : 'INVALID'}`);
}

/** Check a saved run again: its history.jsonl and final.json. */
export function recheck(dir: string) {
  const ops = pair(parseHistory(readFileSync(join(dir, 'history.jsonl'), 'utf8')));
  const saved = JSON.parse(readFileSync(join(dir, 'final.json'), 'utf8')) as Record<string, Record<string, string[]>>;
  const final = new Map(Object.entries(saved).map(([id, m]) => [Number(id), new Map(Object.entries(m))]));
  return check(ops, final, JSON.parse(readFileSync(join(dir, 'schedule.json'), 'utf8')) as { healedAt: number; servers: ServerKind });
}

const USAGE = `npm run faults -- [options]   (as root: peers in network namespaces)
  --duration S       seconds of workload and faults (default 60)
  --seed N           seeds the fault plan and the clients (default: from the clock; printed)
  --peers 3|5        ensemble size (default 3)
  --faults K,K,...   fault kinds (default all): ${FAULT_KINDS.join(', ')}
  --servers paddock|zookeeper   the peers: paddock server or ZooKeeper 3.8 QuorumPeerMain (default paddock)
  --net auto|namespaces|proxy   peers in network namespaces, or on loopback behind a TCP proxy mesh
                     the suite partitions (default auto: namespaces where they are available)
  --out DIR          where history.jsonl, schedule.json, final.json and report.json go
  --op-timeout MS    an op without an answer this long is indeterminate (default 4000; shorter
                     pipelines more requests into a paused peer)
  --check DIR        check a saved run's history again, run nothing`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '60' },
      seed: { type: 'string', default: String(Date.now() % 100_000) },
      peers: { type: 'string', default: '3' },
      faults: { type: 'string', default: FAULT_KINDS.join(',') },
      servers: { type: 'string', default: 'paddock' },
      net: { type: 'string', default: 'auto' },
      out: { type: 'string' },
      'op-timeout': { type: 'string', default: '4000' },
      check: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (values.check) {
    const r = recheck(values.check);
    console.log(JSON.stringify({ registers: r.registers.valid, byRead: r.byRead, sets: r.sets.valid, ephemerals: r.ephemerals.valid, watches: r.watches.valid, locks: r.locks.valid, problems: [...r.sets.problems, ...r.ephemerals.problems, ...r.watches.problems, ...r.locks.problems], violations: r.registers.keys.filter((k) => k.verdict.valid !== true) }, null, 2));
    process.exitCode = r.valid ? 0 : 1;
    return;
  }
  const faults = values.faults.split(',').map((f) => f.trim());
  const unknown = faults.filter((f) => !(FAULT_KINDS as readonly string[]).includes(f));
  if (unknown.length) throw new Error(`unknown fault kinds ${unknown.join(', ')}; known: ${FAULT_KINDS.join(', ')}`);
  if (values.peers !== '3' && values.peers !== '5') throw new Error(`--peers is 3 or 5, not ${values.peers}`);
  if (values.servers !== 'paddock' && values.servers !== 'zookeeper') throw new Error(`--servers is paddock or zookeeper, not ${values.servers}`);
  if (!(NET_CHOICES as readonly string[]).includes(values.net)) throw new Error(`--net is ${NET_CHOICES.join(', ')}, not ${values.net}`);
  const report = await runFaults({
    durationMs: Number(values.duration) * 1000,
    seed: Number(values.seed),
    peers: Number(values.peers) as 3 | 5,
    faults: faults as FaultKind[],
    servers: values.servers,
    net: values.net as NetChoice,
    out: values.out,
    workload: { opTimeoutMs: Number(values['op-timeout']) },
  });
  process.exitCode = report.valid ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: Error) => {
    console.error(e.message);
    process.exitCode = 2;
  });
}
