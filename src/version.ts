// Versions Paddock reports. Clients gate features on the ZooKeeper version a
// server claims, so Paddock claims the release whose protocol it speaks.
// Paddock's own version is package.json's; the build time is the one
// scripts/build.js wrote next to the compiled code (dist/build-info.json).
// Sources run through tsx have no such file: they are compiled as the process
// starts, so that is their build time.

import { existsSync, readFileSync } from 'node:fs';
import { ZOOKEEPER_COMPAT_VERSION } from './proto/constants.ts';

const readJson = (url: URL) => JSON.parse(readFileSync(url, 'utf8'));

export const PADDOCK_VERSION: string = readJson(new URL('../package.json', import.meta.url)).version;

const buildInfo = new URL('./build-info.json', import.meta.url);
const builtOn = existsSync(buildInfo) ? new Date(readJson(buildInfo).builtOn) : new Date();

/** As ZooKeeper prints it in srvr/envi/mntr: `<zk version>-<build id>, built on <date> UTC`. */
export const VERSION_LINE = `${ZOOKEEPER_COMPAT_VERSION}-paddock-${PADDOCK_VERSION}, built on ${builtOn.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
