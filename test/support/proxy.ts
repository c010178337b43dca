// A TCP proxy on loopback that a test controls, to put faults between a client
// and a server: cut() closes every connection through it at once (both ends, as
// a network fault looks to each side), refuse() makes it drop new connections
// as they arrive, freeze() stops forwarding bytes without closing anything (a
// silent partition: only timeouts notice; freeze('replies') drops only the
// server's bytes, so requests are applied but their replies are lost), thaw()
// resumes. stall() holds the bytes both ways (stall('replies'): the server's
// only) without losing one, as TCP retransmits through a blackhole route (new
// connections are accepted and held too, and an end's close reaches the other
// only at unstall); unstall() writes each direction's held bytes at once, in
// order, so they arrive together. Bytes are forwarded unchanged.

import net from 'node:net';

/** One connection through the proxy, and the bytes a stall holds for each end. */
interface Link {
  client: net.Socket;
  upstream: net.Socket;
  held: Map<net.Socket, Buffer[]>;
  /** one end closed during a full stall: the other learns at unstall, as no FIN crosses a blackhole */
  closing: boolean;
}

export class TcpProxy {
  private readonly links = new Set<Link>();
  private refusing = false;
  private frozen: 'both' | 'replies' | false = false;
  private stalled: 'both' | 'replies' | false = false;
  /** connections accepted so far (refused ones included) */
  accepted = 0;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  /** A proxy on 127.0.0.1:<free port> forwarding to host:port. */
  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const proxy = new TcpProxy(server, (server.address() as net.AddressInfo).port, target);
    server.on('connection', (client) => proxy.accept(client));
    return proxy;
  }

  get connectString(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** connections currently open through the proxy */
  get open(): number {
    return this.links.size;
  }

  private accept(client: net.Socket): void {
    this.accepted++;
    if (this.refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect(this.target);
    const link: Link = { client, upstream, held: new Map([[client, []], [upstream, []]]), closing: false };
    this.links.add(link);
    const drop = () => {
      if (this.stalled === 'both') {
        link.closing = true;
        return;
      }
      this.links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      const reply = from === upstream;
      from.on('data', (chunk) => {
        if (this.frozen && !(this.frozen === 'replies' && !reply)) return;
        if (this.stalled === 'both' || (this.stalled === 'replies' && reply)) link.held.get(to)!.push(chunk);
        else to.write(chunk);
      });
      from.on('error', drop);
      from.on('close', drop);
    }
  }

  /** Close every open connection, both ends. */
  cut(): void {
    for (const { client, upstream } of this.links) {
      client.destroy();
      upstream.destroy();
    }
    this.links.clear();
  }

  /** Drop new connections as they arrive (true) or forward them again (false). */
  refuse(on = true): void {
    this.refusing = on;
  }

  /** Discard bytes both ways (or only the server's, 'replies') without closing anything, until thaw(). */
  freeze(what: 'both' | 'replies' = 'both'): void {
    this.frozen = what;
  }

  thaw(): void {
    this.frozen = false;
  }

  /**
   * Stop forwarding (both ways, or only the server's bytes: 'replies') without discarding or closing anything, until
   * unstall(): every byte arrives after, in order (bytes held together arrive together).
   */
  stall(what: 'both' | 'replies' = 'both'): void {
    this.stalled = what;
  }

  unstall(): void {
    this.stalled = false;
    for (const link of this.links) {
      for (const [to, chunks] of link.held) if (chunks.length > 0 && !to.destroyed) to.write(Buffer.concat(chunks.splice(0)));
      if (link.closing) {
        this.links.delete(link);
        link.client.end();
        link.upstream.end();
      }
    }
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
