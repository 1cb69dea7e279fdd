/**
 * Regression tests for bugs found in review (each named after what went wrong), through the pure
 * parts where possible and through run() where only the whole path shows it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { run } from '../../src/api.js';
import { buildPlan } from '../../src/launch/plan.js';
import { prepareRun } from '../../src/launch/prepare.js';
import type { LaunchOutcome } from '../../src/launch/supervisor.js';
import { outcomeToResult } from '../../src/launch/verdict.js';
import { loadPolicy } from '../../src/policy/load.js';
import { parseDuration, parseSize } from '../../src/policy/units.js';
import { request } from '../unit/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'sbx-regress-'));
chmodSync(dir, 0o777);
after(() => rmSync(dir, { recursive: true, force: true }));

const quiet = { stdin: 'ignore', stdout: 'buffer', stderr: 'buffer' } as const;

describe('plan ordering', () => {
  test('a tmpfs nested in a bind is mounted after (on top of) the bind', () => {
    const plan = buildPlan(request({ binds: [{ source: '/srv', target: '/work', mode: 'rw' }], tmpfs: [{ target: '/work/cache' }] }));
    const targets = plan.mounts.map((m) => m.target);
    assert.ok(targets.indexOf('/work') < targets.indexOf('/work/cache'), targets.join(' '));
  });

  test('a bind nested in a tmpfs is mounted after the tmpfs', () => {
    const plan = buildPlan(request({ binds: [{ source: '/srv', target: '/scratch/data', mode: 'ro' }], tmpfs: [{ target: '/scratch' }] }));
    const targets = plan.mounts.map((m) => m.target);
    assert.ok(targets.indexOf('/scratch') < targets.indexOf('/scratch/data'), targets.join(' '));
  });
});

describe('sizes and durations', () => {
  test('a size of 0 is refused (tmpfs size=0 would mean unlimited)', () => {
    assert.throws(() => parseSize('0', 'x'), /size of 0 is not allowed/);
    assert.throws(() => parseSize(0, 'x'), /size of 0 is not allowed/);
    assert.equal(parseSize('0', 'swap', { allowZero: true }), 0);
  });

  test('a duration longer than a timer can hold is refused', () => {
    assert.throws(() => parseDuration('2147484s', '--wall-time'), /longer than the maximum/);
    assert.equal(parseDuration('2147483s', '--wall-time'), 2147483000);
  });

  test('--tmpfs DST:0 is refused before anything runs', async () => {
    const r = await run({ command: ['true'], tmpfs: ['/x:0'], ...quiet });
    assert.equal(r.status, 'XX');
    assert.match(r.message, /size of 0 is not allowed/);
  });
});

describe('ordinary command lines reach the workload', () => {
  test('an empty argument', async () => {
    const r = await run({ command: ['sh', '-c', 'echo "[$1]"', 'sh', ''], ...quiet });
    assert.equal(r.status, 'OK', r.message);
    assert.equal(r.stdout!.toString(), '[]\n');
  });

  test('an argument of 100 000 bytes and an environment value of 100 000 bytes', async () => {
    const big = 'a'.repeat(100_000);
    const r = await run({ command: ['sh', '-c', 'echo ${#1} ${#BIG}', 'sh', big], env: { BIG: big }, ...quiet });
    assert.equal(r.status, 'OK', r.message);
    assert.equal(r.stdout!.toString(), '100000 100000\n');
  });

  test('2000 arguments', async () => {
    const args = Array.from({ length: 2000 }, (_, i) => String(i));
    const r = await run({ command: ['sh', '-c', 'echo $#', 'sh', ...args], ...quiet });
    assert.equal(r.status, 'OK', r.message);
    assert.equal(r.stdout!.toString(), '2000\n');
  });

  test('an argument longer than the kernel accepts is a usage error, not a launcher bug', async () => {
    const r = await run({ command: ['echo', 'a'.repeat(200_000)], ...quiet });
    assert.equal(r.status, 'XX');
    assert.equal(r.error?.code, 'USAGE');
    assert.match(r.message, /at most 131071/);
  });
});

describe('library-only inputs get the same checks as the CLI', () => {
  test('a bind object with a non-canonical target', async () => {
    const r = await run({ command: ['true'], bind: [{ source: '/tmp', target: '/x/../y', mode: 'ro' }], ...quiet });
    assert.equal(r.status, 'XX');
    assert.equal(r.error?.code, 'USAGE');
    assert.match(r.message, /must be an absolute path/);
  });

  test('a tmpfs object with a relative target', async () => {
    const r = await run({ command: ['true'], tmpfs: [{ target: 'relative' }], ...quiet });
    assert.equal(r.error?.code, 'USAGE');
    assert.match(r.message, /must be an absolute path/);
  });
});

describe('reporting', () => {
  test("a policy's name and description are its own, not inherited", () => {
    const file = join(dir, 'mine.json');
    writeFileSync(file, JSON.stringify({ hostname: 'x' }));
    const { policy } = loadPolicy(file);
    assert.equal(policy.name, 'mine');
    assert.equal(policy.description, '');
  });

  test('a command that was not found has no workload exit code', async () => {
    const r = await run({ command: ['no-such-command-sbx'], ...quiet });
    assert.equal(r.exitCode, 127);
    assert.equal(r.workloadExitCode, null);
  });
});

describe('an abort during setup', () => {
  // What the supervisor gets when SIGTERM reaches the launcher mid-setup: the launcher reports the
  // step it was at as failed (its child is gone: `sync: EPIPE`), and the kill's reason is 'aborted'.
  const outcome = (killed: LaunchOutcome['killed']): LaunchOutcome => ({
    exit: null, rusage: null, setupCpuUs: 0, failure: { step: 'SYNC', errno: 32, index: 0 }, killed, initPid: 2,
    hostUid: null, launcherExitCode: 125, launcherSignal: null, wallNs: 0n,
  });
  const measurements = { cgroup: null, cgroupDriver: null, cgroupPaths: [], procCpuNs: null };

  test('is reported as aborted (AB, ABORTED), not as the launch failure it caused', async () => {
    const prepared = await prepareRun({ command: ['true'] }); // no side effects before acquire()
    const aborted = outcomeToResult(outcome('aborted'), prepared, measurements, false);
    assert.equal(aborted.status, 'AB');
    assert.deepEqual(aborted.error, { code: 'ABORTED' });
    assert.match(aborted.message, /^aborted/);
    // the same report without an abort is a launch failure, with its step
    const failed = outcomeToResult(outcome(null), prepared, measurements, false);
    assert.equal(failed.status, 'XX');
    assert.deepEqual(failed.error, { code: 'LAUNCH_FAILED', step: 'SYNC', errno: '32' });
  });

  test('a setup killed for taking too long is a failure of its own (XX, SETUP_TIMEOUT), neither an abort nor the step it was at', async () => {
    const prepared = await prepareRun({ command: ['true'] });
    const r = outcomeToResult(outcome('setup-time'), prepared, measurements, false);
    assert.equal(r.status, 'XX');
    assert.equal(r.exitCode, 125);
    assert.deepEqual(r.error, { code: 'SETUP_TIMEOUT' });
    assert.equal(r.killReason, 'setup-time');
    assert.match(r.message, /setup did not finish within 30 s/);
  });
});
