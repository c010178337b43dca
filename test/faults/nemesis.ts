// The fault suite's nemesis: a seeded plan of faults, then their execution on
// a TestEnsemble (and its FaultNet, for partitions). Each fault lasts its
// planned time, is healed, and the nemesis waits until the ensemble has
// settled (one leader, every other peer following) before a planned quiet
// spell and the next fault. The plan depends on the seed only; which peer is
// "the leader" is resolved when the fault strikes, and the executed log names
// the peers, the times and how long recovery took.
//
// Kinds: kill -9 of the leader, of a follower, of a majority (restarted at
// heal); SIGSTOP of the leader or of a random peer (SIGCONT at heal);
// partitions (cut links, restored at heal) isolating the leader,
// splitting the peers into a majority and a minority, or into two sides with
// one bridge peer that sees both.
//
// Mirrors nothing in ZooKeeper: Jepsen's nemesis, on one machine.

import type { TestEnsemble } from '../support/ensemble.ts';
import { Rand } from '../support/random.ts';
import type { FaultNet } from './net.ts';

export const FAULT_KINDS = ['kill-leader', 'kill-follower', 'kill-majority', 'pause-leader', 'pause-random', 'partition-leader', 'partition-halves', 'partition-bridge'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface PlannedFault {
  kind: FaultKind;
  /** how long the fault lasts before heal */
  faultMs: number;
  /** quiet time after the ensemble settled again */
  quietMs: number;
  /** the seed of the fault's own choices of peers */
  pick: number;
}

/** As many faults as could fit in `durationMs` (the nemesis stops when time is up). */
export function plan(seed: number, durationMs: number, kinds: readonly FaultKind[]): PlannedFault[] {
  const rand = new Rand(seed).fork(1);
  const faults: PlannedFault[] = [];
  for (let planned = 0; planned < durationMs; ) {
    const fault = { kind: rand.pick(kinds), faultMs: rand.int(3000, 7000), quietMs: rand.int(1500, 3500), pick: rand.int(0, 2 ** 31 - 1) };
    faults.push(fault);
    planned += fault.faultMs + fault.quietMs;
  }
  return faults;
}

export interface ExecutedFault {
  kind: FaultKind;
  /** ms since the run began */
  at: number;
  healedAt: number;
  /** the leader when it struck (null: none could be found within the wait) */
  leader: number | null;
  /** e.g. "killed 1, 3" or "sides [2] | [1, 3]" */
  what: string;
  /** ms from heal until one leader led every other peer again (null: not within the ensemble's wait) */
  settledMs: number | null;
}

function shuffle<T>(rand: Rand, xs: readonly T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rand.int(0, i);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Nemesis {
  readonly executed: ExecutedFault[] = [];

  constructor(
    private readonly ens: TestEnsemble,
    private readonly net: FaultNet,
    private readonly now: () => number,
    private readonly log: (line: string) => void,
  ) {}

  /** The current leader, asked of every running peer for up to `ms`. */
  private async leader(ms = 10_000): Promise<number | null> {
    const deadline = Date.now() + ms;
    do {
      for (const id of this.ens.runningIds) if ((await this.ens.mode(id)) === 'leader') return id;
      await sleep(200);
    } while (Date.now() < deadline);
    return null;
  }

  /** Run `faults` in order until `running()` turns false; every fault is healed before the next. */
  async run(faults: readonly PlannedFault[], running: () => boolean): Promise<void> {
    for (const fault of faults) {
      if (!running()) return;
      await this.one(fault);
      await sleep(fault.quietMs);
    }
  }

  private async one(fault: PlannedFault): Promise<void> {
    const rand = new Rand(fault.pick);
    const ids = this.ens.ids;
    const leader = await this.leader();
    const target = (f: FaultKind) => (f.endsWith('-leader') && leader !== null ? leader : rand.pick(f === 'kill-follower' ? ids.filter((id) => id !== leader) : ids));
    const at = this.now();
    let what: string;
    let heal: () => Promise<void>;
    switch (fault.kind) {
      case 'kill-leader':
      case 'kill-follower':
      case 'kill-majority': {
        const victims = fault.kind === 'kill-majority' ? shuffle(rand, ids).slice(0, Math.floor(ids.length / 2) + 1) : [target(fault.kind)];
        for (const id of victims) await this.ens.kill(id);
        what = `killed ${victims.join(', ')}`;
        heal = async () => void (await Promise.all(victims.map((id) => this.ens.start(id, { noWait: true }))));
        break;
      }
      case 'pause-leader':
      case 'pause-random': {
        const victim = target(fault.kind);
        await this.ens.pause(victim);
        what = `paused ${victim}`;
        heal = async () => this.ens.resume(victim);
        break;
      }
      default: {
        const net = this.net;
        const order = shuffle(rand, ids);
        if (fault.kind === 'partition-bridge') {
          const [bridge, ...rest] = order;
          const [a, b] = [rest.slice(0, rest.length >> 1), rest.slice(rest.length >> 1)];
          for (const x of a) for (const y of b) net.cutPair(x, y);
          what = `sides [${a.join(', ')}] | [${b.join(', ')}], bridge ${bridge}`;
        } else {
          const alone = fault.kind === 'partition-leader' ? [target(fault.kind)] : order.slice(0, (ids.length - 1) >> 1);
          const sides = [alone, ids.filter((id) => !alone.includes(id))];
          net.partition(sides);
          what = `sides ${sides.map((s) => `[${s.join(', ')}]`).join(' | ')}`;
        }
        heal = async () => net.heal();
      }
    }
    this.log(`${(at / 1000).toFixed(1)} s: ${fault.kind} (leader ${leader ?? 'unknown'}): ${what}, for ${fault.faultMs} ms`);
    await sleep(fault.faultMs);
    const healedAt = this.now();
    await heal();
    const settledMs = await this.ens.settled().then(
      () => this.now() - healedAt,
      () => null,
    );
    this.log(`${(healedAt / 1000).toFixed(1)} s: healed; ${settledMs === null ? 'NOT settled within the wait' : `settled after ${settledMs.toFixed(0)} ms`}`);
    this.executed.push({ kind: fault.kind, at, healedAt, leader, what, settledMs });
  }
}
