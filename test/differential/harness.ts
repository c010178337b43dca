// Start a fresh server, run the script, normalise the recording, stop the server.

import type { RunningServer, ServerOptions } from '../support/servers.ts';
import { normalise, type Normalised } from './normalize.ts';
import { runScript } from './runner.ts';
import { SUPER_DIGEST, type Step } from './script.ts';
import { startServer } from '../support/servers.ts';

export const SERVER_OPTIONS = {
  cfg: { extendedTypesEnabled: 'true' },
  jvmFlags: [
    `-Dzookeeper.DigestAuthenticationProvider.superDigest=${SUPER_DIGEST}`,
    // keep the container/TTL reaper out of the run: its deletions would land at
    // timing-dependent zxids
    '-Dznode.container.checkIntervalMs=3600000',
  ],
};

export async function runAgainst(kind: RunningServer['kind'], steps: readonly Step[], options: ServerOptions = SERVER_OPTIONS): Promise<Normalised> {
  const server = await startServer(kind, options);
  try {
    return normalise(await runScript(kind, server.connectString, steps));
  } finally {
    await server.stop();
  }
}

