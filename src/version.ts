// Versions Paddock reports. Clients gate features on the ZooKeeper version a
// server claims, so Paddock claims the release whose protocol it speaks.

import { readFileSync, statSync } from 'node:fs';
import { ZOOKEEPER_COMPAT_VERSION } from './proto/constants.ts';

const packageJson = new URL('../package.json', import.meta.url);

export const PADDOCK_VERSION: string = JSON.parse(readFileSync(packageJson, 'utf8')).version;

const built = statSync(packageJson).mtime.toISOString().slice(0, 16).replace('T', ' ');

/** As ZooKeeper prints it in srvr/envi/mntr: `<zk version>-<build id>, built on <date> UTC`. */
export const VERSION_LINE = `${ZOOKEEPER_COMPAT_VERSION}-paddock-${PADDOCK_VERSION}, built on ${built} UTC`;
