/**
 * Regression tests for bugs found in review (each named after what went wrong), through the pure
 * parts where possible and through run() where only the whole path shows it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { run, type Result, type RunOptions } from '../../src/api.js';
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

  // The launcher refused more than 65536 (a malformed plan, "this is a bug"); the kernel takes them.
  test('70 000 arguments', async () => {
    const args = Array.from({ length: 70_000 }, () => 'a');
    const r = await run({ command: ['sh', '-c', 'echo $#', 'sh', ...args], ...quiet });
    assert.equal(r.status, 'OK', r.message);
    assert.equal(r.stdout!.toString(), '70000\n');
  });

  test('more arguments than the launcher takes is a usage error, not a launcher bug', async () => {
    const r = await run({ command: ['true', ...Array.from({ length: 262_144 }, () => '')], ...quiet });
    assertUsage(r, /^262145 arguments; the sandbox accepts at most 262144 \(pass large data through a file or stdin\)$/);
  });

  test('an argument longer than the kernel accepts is a usage error, not a launcher bug', async () => {
    const r = await run({ command: ['echo', 'a'.repeat(200_000)], ...quiet });
    assert.equal(r.status, 'XX');
    assert.equal(r.error?.code, 'USAGE');
    assert.match(r.message, /at most 131071/);
  });
});

function assertUsage(r: Result, message: RegExp): void {
  assert.equal(r.status, 'XX', r.message);
  assert.equal(r.exitCode, 125);
  assert.equal(r.error?.code, 'USAGE', r.message);
  assert.match(r.message, message);
  assert.ok(!r.message.includes('\n'), `one line: ${r.message}`);
}

// run() promises a Result for every sandbox failure; these threw a TypeError (or, for stdout, were
// taken for 'inherit'), or got another error's message.
describe('run() options of the wrong type: status XX (USAGE) naming the option, never a throw', () => {
  const cases: [string, unknown, RegExp][] = [
    ['no options', null, /^the options must be an object \(\{ command: \['prog', 'arg'\] \}\), not null$/],
    ['command as a string', { command: '/bin/true' }, /^command must be an array of strings \(\['prog', 'arg'\]\), not a string$/],
    ['a number in command', { command: ['/bin/echo', 5] }, /^command\[1\] must be a string, not a number: give every argument as a string$/],
    ['a number in env', { command: ['true'], env: { A: 5 } }, /^env A: the value must be a string, not a number$/],
    ['a number in an env array', { command: ['true'], env: [5] }, /^env\[0\] must be a string 'NAME=VALUE', not a number$/],
    ['env as a string', { command: ['true'], env: 'A=1' }, /^env must be \{ NAME: 'value' \} or \['NAME=value'\], not a string$/],
    ['bind as a string', { command: ['true'], bind: '/tmp:/x' }, /^bind must be an array, not a string$/],
    ['a number in bind', { command: ['true'], bind: [5] }, /^bind: each entry must be "SRC:DST\[:ro\|rw\]" or \{ source, target, mode \}, not a number$/],
    ['a bind source that is a number', { command: ['true'], bind: [{ source: 5, target: '/x', mode: 'ro' }] }, /^bind 5:\/x: the source must be a string, not a number$/],
    ['a bind target that is a number', { command: ['true'], bind: [{ source: '/tmp', target: 5, mode: 'ro' }] }, /^bind \/tmp:5: the target must be a string, not a number$/],
    ['null in tmpfs', { command: ['true'], tmpfs: [null] }, /^tmpfs: each entry must be "DST\[:SIZE\]" or \{ target, size \}, not null$/],
    ['a tmpfs target that is a number', { command: ['true'], tmpfs: [{ target: 5 }] }, /^tmpfs 5: the target must be a string, not a number$/],
    ...(['policy', 'workdir', 'cwd', 'uidRange', 'image', 'trustPolicy', 'store'] as const).map((k): [string, unknown, RegExp] =>
      [`${k} as a number`, { command: ['true'], [k]: 5 }, new RegExp(`^${k} must be a string, not a number$`)]),
    ['stdin as a number', { command: ['true'], stdin: 5 }, /^stdin must be 'inherit', 'ignore', a string, a Buffer or a Readable, not a number$/],
    ['a misspelt stdout', { command: ['true'], stdout: 'bufer' }, /^stdout must be 'inherit', 'ignore', 'buffer' or a Writable, not 'bufer'$/],
    ['stderr as a plain object', { command: ['true'], stderr: {} }, /^stderr must be 'inherit', 'ignore', 'buffer' or a Writable, not an object$/],
    ['a misspelt launcher', { command: ['true'], launcher: 'zygot' }, /^launcher must be 'zygote' or 'spawn', not 'zygot'$/],
    ['signal as a plain object', { command: ['true'], signal: {} }, /^signal must be an AbortSignal, not an object$/],
  ];
  for (const [name, opts, message] of cases) {
    test(name, async () => assertUsage(await run(opts as RunOptions), message));
  }
});

// The launcher refused these as a malformed plan: "the launcher rejected the plan (bad string at
// record 68); this is a bug, please report it".
describe('paths the kernel would not take: status XX (USAGE) naming the option and the limit', () => {
  const long = `/${'x'.repeat(5000)}`;
  const cases: [string, RunOptions, RegExp][] = [
    ['a bind target', { command: ['true'], bind: [`/tmp:${long}`] }, /^--bind '\/tmp:\/x{30,}…': the target is 5001 bytes; a path has at most 4095 \(PATH_MAX\): shorten it$/],
    ['a bind object target', { command: ['true'], bind: [{ source: '/tmp', target: long, mode: 'ro' }] }, /^bind \/tmp:\/x+…: the target is 5001 bytes; a path has at most 4095/],
    ['a bind source', { command: ['true'], bind: [{ source: `/tmp${long}`, target: '/x', mode: 'ro' }] }, /^bind \/tmp\/x+…:\/x: the source is 5005 bytes; a path has at most 4095/],
    ['a tmpfs target', { command: ['true'], tmpfs: [long] }, /^--tmpfs '\/x+…': the target is 5001 bytes; a path has at most 4095/],
    ['the workdir', { command: ['true'], workdir: long }, /^--workdir is 5001 bytes; a path has at most 4095 \(PATH_MAX\): shorten it$/],
    ['the workdir at PATH_MAX', { command: ['true'], workdir: `/${'x'.repeat(4095)}` }, /^--workdir is 4096 bytes; a path has at most 4095/],
    ['a NUL in a bind target', { command: ['true'], bind: ['/tmp:/x\0y'] }, /^--bind '\/tmp:\/x\\u0000y': the target contains a NUL byte; remove it$/],
    ['a NUL in the workdir', { command: ['true'], workdir: '/x\0y' }, /^--workdir contains a NUL byte; remove it$/],
  ];
  for (const [name, opts, message] of cases) {
    test(name, async () => assertUsage(await run({ ...opts, ...quiet }), message));
  }
});

// s.pipe() left the workload's stdin open when the caller's stream failed: the run never ended.
describe('a stdin stream that fails: the run ends, status XX naming the error', () => {
  for (const launcher of ['zygote', 'spawn'] as const) {
    test(`before the workload reads (launcher ${launcher})`, async () => {
      const input = new Readable({ read() { this.destroy(new Error('boom')); } });
      // wallTime only bounds the test when the run would not end: it is never reached with the fix
      const r = await run({ command: ['/bin/cat'], stdin: input, stdout: 'buffer', launcher, wallTime: '20s' });
      assertUsage(r, /^stdin: the input stream failed \(boom\); the workload got EOF and was stopped, the run has no verdict$/);
      assert.equal(input.listenerCount('error'), 0, "the caller's stream is left as it was");
    });

    test(`while the workload waits for more (launcher ${launcher})`, async () => {
      const input = new Readable({ read() {} });
      input.push('first\n');
      let seen = '';
      // the workload echoes the first line: it is running and about to read again
      const stdout = new Writable({
        write(chunk: Buffer, _encoding, done) {
          seen += chunk.toString();
          if (seen.includes('first')) input.destroy(new Error('the disk went away'));
          done();
        },
      });
      const r = await run({ command: ['sh', '-c', 'read line; echo "$line"; cat'], stdin: input, stdout, launcher, wallTime: '20s' });
      assertUsage(r, /^stdin: the input stream failed \(the disk went away\);/);
      assert.equal(seen, 'first\n');
    });
  }
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
    exit: null, rusage: null, contextSwitches: null, cpuAtExitNs: null, setupCpuUs: 0, failure: { step: 'SYNC', errno: 32, index: 0 }, killed, initPid: 2,
    hostUid: null, launcherExitCode: 125, launcherSignal: null, wallNs: 0n,
  });
  const measurements = { cgroup: null, cgroupDriver: null, cgroupPaths: [], cpuAtKillNs: null, atKill: { maxRssBytes: null, contextSwitches: null } };

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
