// Probes of a server's client port, for code that starts servers: the reply
// to a four-letter word, and the wait until a server serves clients. Both
// speak only the four-letter-word protocol, so they work on ZooKeeper as on
// Paddock. ZooKeeper answers ruok before it has loaded its data, so the wait
// asks srvr, which reports a version only once the server serves (a member of
// an ensemble: once it has joined a leader and synced).

import net from 'node:net';

/** Send a four-letter word and collect the reply until the server closes. */
export function fourLetterWord(host: string, port: number, word: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, host, () => sock.write(word));
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no reply to ${word} within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

/** Resolve once host:port serves clients, or reject after timeoutMs. */
export async function waitForServing(host: string, port: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reply = await fourLetterWord(host, port, 'srvr').catch(() => '');
    if (reply.startsWith('Zookeeper version:')) return;
    if (Date.now() > deadline) throw new Error(`server on ${host}:${port} did not serve (srvr) within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
