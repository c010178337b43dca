// The orderer of a standalone server: what Zab is to an ensemble, for one
// server alone (ZooKeeper's standalone ZooKeeperServer runs no Zab either).
// It numbers txns from the last zxid on — no new epoch at start-up, as in
// ZooKeeper's standalone mode — and commits each once it is durable. It speaks
// the same Ready contract as Peer, so the request pipeline drives both alike.

import type { Txn } from '../proto/txn.ts';
import { zxidHex } from '../zxid.ts';
import type { ForwardedRequest } from './messages.ts';
import { Outbox, type Ready } from './ready.ts';

/** What the request pipeline needs from whatever orders its writes: Peer in an ensemble, Solo alone. */
export interface Orderer {
  /** Order a txn built for the next zxid; null when this server cannot order writes now. */
  propose(build: (zxid: number) => Txn): Txn | null;
  /** The log is durable up to `zxid`. */
  persisted(zxid: number): void;
  /** A client's sync; `token` comes back in Ready.syncs once every write ordered before it is applied. */
  sync(token: unknown, request: ForwardedRequest): boolean;
  /** Learner: hand a client's request to the leader; false when this server cannot. */
  forward(request: ForwardedRequest): boolean;
  /** Learner: ask the leader whether a reattaching session is alive (Ready.revalidated answers); false when this server cannot. */
  revalidate(sessionId: bigint, timeout: number): boolean;
  /** Leader: answer a learner's revalidation (Ready.revalidations). */
  revalidated(learner: number, sessionId: bigint, valid: boolean): void;
  /** Does this server order writes itself (standalone, or an established leader)? It then owns session expiry and container reaping. */
  readonly leads: boolean;
  /** The next Ready to carry out, or null. */
  ready(): Ready | null;
}

export class Solo implements Orderer {
  readonly leads = true;
  private readonly out = new Outbox();
  private lastProposed: number;
  /** proposed, not yet durable; syncs wait behind the last of them */
  private readonly unpersisted: { txn: Txn; syncs: unknown[] }[] = [];

  constructor(lastZxid: number) {
    this.lastProposed = lastZxid;
  }

  propose(build: (zxid: number) => Txn): Txn {
    const zxid = this.lastProposed + 1;
    const txn = build(zxid);
    if (txn.hdr.zxid !== zxid) throw new Error(`solo: txn built with zxid ${zxidHex(txn.hdr.zxid)}, expected ${zxidHex(zxid)}`);
    this.lastProposed = zxid;
    this.unpersisted.push({ txn, syncs: [] });
    this.out.append(txn);
    return txn;
  }

  persisted(zxid: number): void {
    let n = 0;
    while (n < this.unpersisted.length && this.unpersisted[n]!.txn.hdr.zxid <= zxid) {
      const { txn, syncs } = this.unpersisted[n++]!;
      this.out.commit(txn);
      for (const s of syncs) this.out.syncDone(s);
    }
    this.unpersisted.splice(0, n);
  }

  sync(token: unknown): boolean {
    const last = this.unpersisted[this.unpersisted.length - 1];
    if (last) last.syncs.push(token);
    else this.out.syncDone(token);
    return true;
  }

  forward(): boolean {
    return false;
  }

  revalidate(): boolean {
    return false; // standalone owns its sessions: nobody to ask
  }

  revalidated(): void {}

  ready(): Ready | null {
    return this.out.take();
  }
}
