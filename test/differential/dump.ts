// Print one server's normalised run of the differential script, one step per line:
//   node --import tsx test/differential/dump.ts [zookeeper|paddock] [seed] > run.jsonl

import type { RunningServer } from '../support/servers.ts';
import { runAgainst } from './harness.ts';
import { buildScript } from './script.ts';

const kind = (process.argv[2] ?? 'zookeeper') as RunningServer['kind'];
const seed = Number(process.argv[3] ?? 20240601);
const run = await runAgainst(kind, buildScript(seed).steps);
for (const s of run.steps) console.log(JSON.stringify(s));
console.log(JSON.stringify({ summary: run.summary }));
