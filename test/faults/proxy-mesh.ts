// The fault suite's network where network namespaces are not available (or
// with `--net proxy`): every peer on loopback, and every connection between
// them through a TCP proxy the suite controls (test/support/proxy.ts). Each
// directed peer link a→b has a quorum-port and an election-port proxy, and
// peer a's zoo.cfg names those proxies as b's address (each peer gets its own
// server lines; its own line stays its real one), so whatever a dials to b
// crosses a→b's proxies. Each client link (the suite's clients to peer x) has
// a proxy too.
//
// A partition stalls the proxies of the links it cuts, both directions: the
// proxies hold the bytes and new connections get none, as through a
// blackhole route with TCP retransmitting; heal releases them and everything
// arrives, in order. Invariants: a peer's configured address of another peer
// is always its proxy, so no peer traffic bypasses the mesh; teardown closes
// every proxy.
//
// Mirrors nothing in ZooKeeper: it stands in for Jepsen's `net` protocol
// (jepsen.net/iptables) where iptables and namespaces are not available.

import type { TestEnsemble } from '../support/ensemble.ts';
import { TcpProxy } from '../support/proxy.ts';
import { FaultNet } from './net.ts';

/** One directed peer link's proxies. */
interface Link {
  quorum: TcpProxy;
  election: TcpProxy;
}

export class ProxyMesh extends FaultNet {
  private constructor(
    ids: number[],
    /** "a>b" → the proxies a dials b through */
    private readonly links: Map<string, Link>,
    private readonly clients: Map<number, TcpProxy>,
  ) {
    super(ids);
  }

  /** Proxies for every directed link between `ens`'s members and for each member's client port. */
  static async setup(ens: TestEnsemble): Promise<ProxyMesh> {
    const ids = ens.ids;
    const links = new Map<string, Link>();
    const clients = new Map<number, TcpProxy>();
    const mesh = new ProxyMesh(ids, links, clients);
    try {
      for (const to of ids) {
        const { quorumPort, electionPort } = ens.peerPorts(to);
        const host = ens.host(to);
        for (const from of ids.filter((id) => id !== to)) {
          links.set(`${from}>${to}`, { quorum: await TcpProxy.start({ host, port: quorumPort }), election: await TcpProxy.start({ host, port: electionPort }) });
        }
        clients.set(to, await TcpProxy.start({ host, port: ens.clientPort(to) }));
      }
    } catch (e) {
      await mesh.teardown();
      throw e;
    }
    return mesh;
  }

  get description(): string {
    return `a TCP proxy mesh on loopback (${this.links.size} directed peer links, ${this.clients.size} client links): partitions stall the proxies, no packets are dropped by the kernel`;
  }

  private link(from: number, to: number): Link {
    const link = this.links.get(`${from}>${to}`);
    if (!link) throw new Error(`no proxied link from peer ${from} to peer ${to}`);
    return link;
  }

  /** Member `id`'s server lines for the others: `line` (each one's shared line) with the address and ports of id's proxies to it. */
  serverLines(id: number, line: (other: number) => string): Record<string, string> {
    return Object.fromEntries(
      this.ids
        .filter((other) => other !== id)
        .map((other) => {
          const { quorum, election } = this.link(id, other);
          return [`server.${other}`, line(other).replace(/^[^:]+:\d+:\d+/, `127.0.0.1:${quorum.port}:${election.port}`)];
        }),
    );
  }

  /** The address clients reach peer `id` at. */
  clientAddress(id: number): string {
    return this.clients.get(id)!.connectString;
  }

  protected cut(from: number, to: number): void {
    const { quorum, election } = this.link(from, to);
    quorum.stall();
    election.stall();
  }

  heal(): void {
    for (const { quorum, election } of this.links.values()) {
      quorum.unstall();
      election.unstall();
    }
  }

  async teardown(): Promise<void> {
    const proxies = [...[...this.links.values()].flatMap((l) => [l.quorum, l.election]), ...this.clients.values()];
    this.links.clear();
    this.clients.clear();
    await Promise.all(proxies.map((p) => p.close()));
  }
}
