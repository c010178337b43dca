// The fault suite's network: each peer in its own network namespace, joined
// to the host by a veth pair on a bridge the suite creates and removes itself,
// private addresses only (10.77.<subnet>.<id>; the host is .254 on the bridge,
// so the suite's clients reach every peer whatever the partition).
//
// A partition is made of blackhole routes inside the peers' namespaces: peer a
// cut from peer b drops every packet a sends to b and b sends to a, silently,
// as a pulled cable would (no iptables here; routes need nothing but `ip`).
// Heal deletes every blackhole route. Invariants: every name this module makes
// carries the run's prefix (pdf<subnet>), so `teardown` removes exactly what
// `setup` made, and two runs at once take different subnets.
//
// FaultNet is what the nemesis needs of a network, whichever it is (this one,
// or test/faults/proxy-mesh.ts where namespaces are not available): cut
// directed links, heal them all, tear down.
//
// Mirrors nothing in ZooKeeper: it stands in for Jepsen's `net` protocol
// (jepsen.net/iptables) on one machine.

import { execFileSync } from 'node:child_process';

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

/** Whether this process may make network namespaces (root, and a kernel that has them). */
export function namespacesAvailable(): boolean {
  const probe = `pdf-probe-${process.pid}`;
  try {
    ip('netns', 'add', probe);
    ip('netns', 'del', probe);
    return true;
  } catch {
    return false;
  }
}

/** A network whose links between peers the nemesis can cut. */
export abstract class FaultNet {
  constructor(readonly ids: number[]) {}

  /** what the network is, for the output */
  abstract get description(): string;

  /** Drop whatever peer `from` sends to peer `to`, silently. */
  protected abstract cut(from: number, to: number): void;

  /** Every peer reaches every other again. */
  abstract heal(): void;

  abstract teardown(): void | Promise<void>;

  /** Cut every link between a member of `side` and a peer outside it (both directions). */
  partition(sides: number[][]): void {
    const sideOf = new Map(sides.flatMap((s, i) => s.map((id) => [id, i] as const)));
    for (const a of this.ids) for (const b of this.ids) if (a !== b && sideOf.get(a) !== sideOf.get(b)) this.cut(a, b);
  }

  /** Cut only the links between `a` and `b` (both directions). */
  cutPair(a: number, b: number): void {
    this.cut(a, b);
    this.cut(b, a);
  }
}

export class NamespaceNet extends FaultNet {
  private made = false;

  private constructor(
    readonly subnet: number,
    ids: number[],
  ) {
    super(ids);
  }

  get description(): string {
    return `network namespaces ${this.prefix}-${this.ids[0]}..${this.ids.at(-1)} on bridge ${this.bridge}, 10.77.${this.subnet}.0/24`;
  }

  /** A free subnet (one no namespace of ours uses), its bridge, and one namespace per id, all up. */
  static setup(ids: number[]): NamespaceNet {
    const used = new Set([...ip('netns', 'list').matchAll(/^pdf(\d+)-/gm)].map((m) => Number(m[1])));
    const subnet = [...Array(200).keys()].map((k) => k + 20).find((k) => !used.has(k));
    if (subnet === undefined) throw new Error('no free 10.77.x subnet for the fault suite');
    const net = new NamespaceNet(subnet, ids);
    try {
      net.create();
    } catch (e) {
      net.teardown();
      throw e;
    }
    return net;
  }

  get prefix(): string {
    return `pdf${this.subnet}`;
  }

  get bridge(): string {
    return `${this.prefix}-br`;
  }

  namespace(id: number): string {
    return `${this.prefix}-${id}`;
  }

  address(id: number): string {
    return `10.77.${this.subnet}.${id}`;
  }

  /** The command prefix that runs a program inside peer `id`'s namespace (the program keeps its pid: `ip netns exec` execs it). */
  exec(id: number): string[] {
    return ['ip', 'netns', 'exec', this.namespace(id)];
  }

  private create(): void {
    this.made = true;
    ip('link', 'add', this.bridge, 'type', 'bridge');
    ip('addr', 'add', `10.77.${this.subnet}.254/24`, 'dev', this.bridge);
    ip('link', 'set', this.bridge, 'up');
    for (const id of this.ids) {
      const ns = this.namespace(id);
      const hostEnd = `${this.prefix}-${id}h`;
      ip('netns', 'add', ns);
      ip('link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      ip('link', 'set', hostEnd, 'master', this.bridge, 'up');
      ip('-n', ns, 'addr', 'add', `${this.address(id)}/24`, 'dev', 'eth0');
      ip('-n', ns, 'link', 'set', 'eth0', 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
  }

  protected cut(from: number, to: number): void {
    ip('-n', this.namespace(from), 'route', 'replace', 'blackhole', `${this.address(to)}/32`);
  }

  /** Remove every blackhole route. */
  heal(): void {
    for (const id of this.ids) {
      const routes = ip('-n', this.namespace(id), 'route', 'show', 'type', 'blackhole');
      for (const m of routes.matchAll(/^blackhole (\S+)/gm)) ip('-n', this.namespace(id), 'route', 'del', 'blackhole', m[1]!);
    }
  }

  /** Remove the namespaces (their veth ends go with them) and the bridge; safe to call twice. */
  teardown(): void {
    if (!this.made) return;
    this.made = false;
    for (const id of this.ids) {
      try {
        ip('netns', 'del', this.namespace(id));
      } catch {
        // never made
      }
    }
    try {
      ip('link', 'del', this.bridge);
    } catch {
      // never made
    }
  }
}
