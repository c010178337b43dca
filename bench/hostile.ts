// Hostile-client benchmark: what each misbehaving client of issue 7 costs the
// server and a well-behaved client, Paddock vs Apache ZooKeeper 3.8 on the
// same machine in the same run.
//
//   node --import tsx bench/hostile.ts [--cases slow-1mb,silent,...] [--out results.json]
//
// The cases are those of test/hostile.test.ts (test/support/hostile.ts): a
// fresh server per case and per server kind (ZooKeeper first), the hostile
// clients run while a good session does getData/setData one at a time. Printed
// per case: the server's RSS before and at its peak, its CPU (% of one core)
// while the case ran, the good client's p50/p99/max latency, and the ratios
// Paddock/ZooKeeper. See bench/README.md.

import { writeFileSync } from 'node:fs';
import { allScenarios, describeOutcome, measure, type Outcome } from '../test/support/hostile.ts';
import { fmt, ratio, table } from './common.ts';

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const wanted = option('cases')?.split(',');
const scenarios = allScenarios().filter((s) => !wanted || wanted.includes(s.id));
const results: { case: string; zookeeper: Outcome; paddock: Outcome }[] = [];
for (const s of scenarios) {
  const zookeeper = await measure('zookeeper', s);
  const paddock = await measure('paddock', s);
  console.log(`${s.name}\n  ${describeOutcome(paddock)}\n  ${describeOutcome(zookeeper)}`);
  results.push({ case: s.name, zookeeper, paddock });
}

const x = (r?: number) => (r === undefined ? '-' : `${fmt(r, 2)}×`);
const rows = [['case', 'server', 'RSS peak MiB', 'RSS growth MiB', 'CPU %', 'good p50 ms', 'good p99 ms', 'good max ms', 'good answered']];
for (const r of results) {
  for (const o of [r.paddock, r.zookeeper]) {
    rows.push([o === r.paddock ? r.case : '', o.kind, fmt(o.rssPeak, 1), fmt(o.rssPeak - o.rssBefore, 1), fmt(o.cpu, 1), fmt(o.p50, 2), fmt(o.p99, 1), fmt(o.max, 1), `${o.answered}${o.failed ? ` (${o.failed} failed)` : ''}`]);
  }
  const [p, z] = [r.paddock, r.zookeeper];
  rows.push(['', 'Paddock/ZK', x(ratio(p.rssPeak, z.rssPeak)), x(ratio(p.rssPeak - p.rssBefore, z.rssPeak - z.rssBefore)), x(ratio(p.cpu, z.cpu)), x(ratio(p.p50, z.p50)), x(ratio(p.p99, z.p99)), x(ratio(p.max, z.max)), '']);
}
console.log(`\n${table(rows, 2)}`);
const out = option('out');
if (out) writeFileSync(out, JSON.stringify(results, null, 2));
