// Quorum verifiers against ZooKeeper's own QuorumMaj and QuorumHierarchical: for several
// configurations, every subset of the servers is asked of both (QuorumCheck.java runs the
// Java classes from the Debian jar) and the answers and weights must agree.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../src/config/config.ts';
import { quorumVerifier } from '../../src/zab/quorum.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const CLASSPATH = '/usr/share/java/zookeeper.jar';

/** Quorum lines: `p` participants and `o` observers, ids 1.., followed by `extra` lines. */
function servers(ids: number[], observers: number[] = []): string {
  return [...ids, ...observers]
    .sort((a, b) => a - b)
    .map((id) => `server.${id}=127.0.0.1:${2000 + id}:${3000 + id}${observers.includes(id) ? ':observer' : ''}`)
    .join('\n');
}

const CONFIGS: { name: string; lines: string }[] = [
  { name: '3 participants', lines: servers([1, 2, 3]) },
  { name: '4 participants', lines: servers([1, 2, 3, 4]) },
  { name: '5 participants + 2 observers', lines: servers([1, 2, 3, 4, 5], [6, 7]) },
  { name: '6 participants, sparse ids', lines: servers([2, 5, 9, 11, 20, 31]) },
  { name: 'hierarchical 3 groups of 3', lines: servers([1, 2, 3, 4, 5, 6, 7, 8, 9]) + '\ngroup.1=1:2:3\ngroup.2=4:5:6\ngroup.3=7:8:9' },
  {
    name: 'hierarchical weighted, a zero-weight member and a zero-weight group',
    lines: servers([1, 2, 3, 4, 5, 6, 7], [8]) + '\ngroup.1=1:2:3\ngroup.2=4:5\ngroup.3=6:7\nweight.1=3\nweight.2=0\nweight.3=1\nweight.4=2\nweight.5=2\nweight.6=0\nweight.7=0',
  },
  { name: 'hierarchical 2 groups, uneven', lines: servers([1, 2, 3, 4, 5]) + '\ngroup.10=1\ngroup.20=2:3:4:5\nweight.1=5' },
  { name: 'hierarchical 4 groups', lines: servers([1, 2, 3, 4, 5, 6, 7, 8]) + '\ngroup.1=1:2\ngroup.2=3:4\ngroup.3=5:6\ngroup.4=7:8\nweight.3=2' },
];

test('containsQuorum and weight agree with ZooKeeper on every subset', () => {
  const dir = mkdtempSync(join(tmpdir(), 'quorum-check-'));
  try {
    const javac = spawnSync('javac', ['-nowarn', '-cp', CLASSPATH, '-d', dir, join(HERE, 'QuorumCheck.java')], { encoding: 'utf8', timeout: 180_000 });
    assert.equal(javac.status, 0, `javac failed: ${javac.stderr}`);
    for (const { name, lines } of CONFIGS) {
      const cfgText = `dataDir=${dir}\nclientPort=2181\ninitLimit=5\nsyncLimit=2\n${lines}\n`;
      const cfg = parseConfig(cfgText, { path: null, env: {}, readFile: () => String(/server\.(\d+)/.exec(lines)![1]) });
      const qv = quorumVerifier(cfg);
      assert.equal(qv.kind, lines.includes('group.') ? 'hierarchical' : 'majority', name);
      const ids = cfg.servers.map((s) => s.id);
      const subsets: number[][] = [];
      for (let mask = 0; mask < 1 << ids.length; mask++) subsets.push(ids.filter((_, i) => mask & (1 << i)));
      const propsFile = join(dir, 'quorum.properties');
      writeFileSync(propsFile, lines + '\n');
      const java = spawnSync('java', ['-XX:TieredStopAtLevel=1', '-cp', `${dir}:${CLASSPATH}`, 'QuorumCheck', propsFile], {
        input: subsets.map((s) => s.join(',')).join('\n') + '\n',
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(java.status, 0, `${name}: java failed: ${java.stderr}`);
      const [weights, ...answers] = java.stdout.trim().split('\n');
      const ours = 'weights' + [...qv.voters].sort((a, b) => a - b).map((id) => ` ${id}=${qv.weight(id)}`).join('');
      assert.equal(ours, weights, `${name}: weights`);
      assert.equal(answers.length, subsets.length, name);
      let quorums = 0;
      subsets.forEach((s, i) => {
        const theirs = answers[i] === 'true';
        assert.equal(qv.containsQuorum(s), theirs, `${name}: {${s}}`);
        if (theirs) quorums++;
      });
      // Neither all nor none: the comparison says something.
      assert.ok(quorums > 0 && quorums < subsets.length, `${name}: ${quorums} quorums of ${subsets.length}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('observers never count; config text lists every server and the version', () => {
  const cfg = parseConfig(`dataDir=/tmp\nclientPort=2181\ninitLimit=5\nsyncLimit=2\n${servers([1, 2, 3], [4])}\n`, { path: null, env: {}, readFile: () => '1' });
  const qv = quorumVerifier(cfg);
  assert.deepEqual([...qv.voters], [1, 2, 3]);
  assert.deepEqual([...qv.observers], [4]);
  assert.equal(qv.weight(4), 0);
  assert.equal(qv.containsQuorum([1, 4]), false);
  assert.equal(qv.containsQuorum([1, 1, 2]), true);
  assert.equal(
    qv.configText,
    'server.1=127.0.0.1:2001:3001:participant\nserver.2=127.0.0.1:2002:3002:participant\nserver.3=127.0.0.1:2003:3003:participant\nserver.4=127.0.0.1:2004:3004:observer\nversion=0',
  );
});
