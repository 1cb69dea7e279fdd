/**
 * run() makes the next run's cgroup while a run waits for its launcher (run-resources.ts, `spare`):
 * the next run with the same limits takes it, a run with other limits does not (and the spare is
 * dropped), and nothing of it is left once the process exits. Root on this host's cgroups, in a child
 * process so that its exit is part of the test.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ROOT } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'sbx-spare-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const script = `
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { run } from ${JSON.stringify(join(ROOT, 'dist/src/api.js'))};
const quiet = { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' };
const mine = (parent) => readdirSync(parent).filter((n) => n.includes('.' + process.pid + '.')).map((n) => parent + '/' + n);
const first = await run({ policy: 'strict', command: ['true'], ...quiet });
const parent = dirname(first.cgroups[0]);
const afterFirst = mine(parent);
const second = await run({ policy: 'strict', command: ['true'], ...quiet });
const other = await run({ policy: 'strict', command: ['true'], memory: '96M', ...quiet });
console.log(JSON.stringify({ parent, first: first.cgroups, afterFirst, second: second.cgroups, other: other.cgroups, statuses: [first.status, second.status, other.status] }));
`;

test('the spare group: made during a run, taken by the next with the same limits, gone at exit', { timeout: 60_000 }, () => {
  if (process.geteuid!() !== 0) throw new Error('run as root (CI does)');
  const path = join(dir, 'spare.mjs');
  writeFileSync(path, script);
  const r = spawnSync(process.execPath, [path], { encoding: 'utf8', timeout: 50_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { parent: string; first: string[]; afterFirst: string[]; second: string[]; other: string[]; statuses: string[] };
  assert.deepEqual(out.statuses, ['OK', 'OK', 'OK']);
  assert.equal(out.afterFirst.length, 1, `one group of the process between runs: ${out.afterFirst.join(', ')}`);
  const spare = out.afterFirst[0]!;
  assert.ok(!out.first.includes(spare), 'the first run removed its own group; the one left is the spare');
  assert.ok(out.second.includes(spare), 'the second run (same limits) ran in the spare');
  assert.ok(!out.other.includes(spare) && !out.other.some((p) => out.second.includes(p)), 'other limits: a group of its own');
  for (const p of [...out.first, ...out.second, ...out.other, spare]) assert.ok(!existsSync(p), `${p} is gone after the process exited`);
  const leftover = spawnSync('sh', ['-c', `ls -d ${out.parent}/*.${r.pid}.* 2>/dev/null`], { encoding: 'utf8' }).stdout.trim();
  assert.equal(leftover, '', 'no group of the exited process is left');
});
