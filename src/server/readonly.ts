// Read-only mode of an ensemble member (readonlymode.enabled=true): a member
// cut off from its quorum keeps serving reads to clients that asked for
// read-only, as ZooKeeper's ReadOnlyZooKeeperServer does. This file holds the
// two rules that make it: when the mode starts and ends (QuorumPeer's LOOKING
// branch, which starts the read-only server once the peer has been looking for
// max(2000 ms, tickTime) and shuts it down when the election ends), and which
// requests it refuses (ReadOnlyRequestProcessor).
//
// Invariants:
// - the mode is on only while the peer is looking, and at least the delay
//   after it began looking; any other role ends it at once;
// - every request that would need a txn (or the leader, as sync does) is
//   answered NotReadOnly: nothing is written while the mode is on.
//
// The sessions themselves live in the request pipeline (Processor): new ones
// are local to the member (no txn), as ZooKeeper 3.8's are only with
// localSessionsEnabled=true (without it 3.8 answers a new session with a
// NotReadOnly reply header). Unlike 3.8, a session made read-write may come
// back read-only, as before ZooKeeper 3.7 (kazoo relies on it); it is neither
// expired nor closed here, which only the leader can do by a txn.

import { OpCode } from '../proto/constants.ts';
import type { Role } from '../zab/ready.ts';

/** The requests a read-only server answers with NotReadOnly (-119), as ZooKeeper 3.8's ReadOnlyRequestProcessor lists them. */
export const REFUSED_WHEN_READ_ONLY: ReadonlySet<number> = new Set([
  OpCode.sync,
  OpCode.create,
  OpCode.create2,
  OpCode.createTTL,
  OpCode.createContainer,
  OpCode.delete,
  OpCode.deleteContainer,
  OpCode.setData,
  OpCode.reconfig,
  OpCode.setACL,
  OpCode.multi,
  OpCode.check,
]);

/** How long a peer looks for a leader before it serves read-only (QuorumPeer: max(2000, tickTime)). */
export const readOnlyDelay = (tickTime: number): number => Math.max(2000, tickTime);

/** Turns read-only mode on after the peer has looked for `delayMs`, and off when it takes any other role. */
export class ReadOnlySwitch {
  private timer: NodeJS.Timeout | null = null;
  private on = false;

  constructor(
    private readonly delayMs: number,
    private readonly enter: () => void,
    private readonly leave: () => void,
  ) {}

  /** The peer's role now (call at start, while looking, and on every change). */
  roleIs(role: Role): void {
    if (role === 'looking') {
      if (!this.on && !this.timer) {
        this.timer = setTimeout(() => {
          this.timer = null;
          this.on = true;
          this.enter();
        }, this.delayMs);
      }
      return;
    }
    this.dispose();
    if (!this.on) return;
    this.on = false;
    this.leave();
  }

  /** Cancel a pending start (the server is shutting down). */
  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
