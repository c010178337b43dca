// Ports for servers that a test starts, kills and starts again on the same
// port. They are taken below the kernel's ephemeral range: a port from that
// range (what listen(0) hands out) may, while its server is down, become the
// local end of some process's outgoing connection (peers dial a stopped
// member's election port over and over), and the restarted server could not
// listen on it.

import { readFileSync } from 'node:fs';
import net from 'node:net';

/** The kernel's range for ephemeral (outgoing) ports; Linux's default when it cannot be read. */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo! > 0 && hi! >= lo!) return [lo!, hi!];
  } catch {
    // not Linux
  }
  return [32768, 60999];
}

const canListen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });

/** A port free on 127.0.0.1 now, below the ephemeral range and not in `taken` (to which it is added). */
export async function restartablePort(taken: Set<number>): Promise<number> {
  const [lo] = ephemeralRange();
  const from = Math.min(10_000, lo - 1000);
  for (let attempt = 0; attempt < 1000; attempt++) {
    const port = from + Math.floor(Math.random() * (lo - from));
    if (!taken.has(port) && (await canListen(port))) {
      taken.add(port);
      return port;
    }
  }
  throw new Error(`no free port in ${from}..${lo - 1}`);
}
