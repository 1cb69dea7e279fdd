/**
 * Limits and measurement through `sandbox exec`, for real: as root (cgroup v1 on these hosts) and
 * rootless (the rlimit + /proc fallback). Each case checks the verdict the issue asks for and the
 * figure that was measured, and the Result's claim about which mechanism enforced the limit.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Result } from '../../src/launch/result.js';
import { modes, mountTable, processesMatching, processesOfUid, ROOT, sandboxExec, tempDirFor, markerAssignment } from '../helpers/cli.js';

/** About half a second of dash builtins: no fork, so a full pids limit cannot stop it. */
const WAIT_WITHOUT_FORK = 'n=0; while [ $n -lt 100000 ]; do n=$((n+1)); done';

const programs = tempDirFor(null, 'sbx-limit-programs-');
const BIND = ['--bind', `${programs.path}:/opt/t`];

before(() => {
  for (const [src, out, extra] of [['alloc.c', 'alloc', []], ['burn-threads.c', 'burn-threads', ['-pthread']]] as const) {
    const cc = spawnSync('cc', ['-O1', '-o', join(programs.path, out), join(ROOT, 'test/limits/programs', src), ...extra], { encoding: 'utf8' });
    assert.equal(cc.status, 0, `compiling ${src}: ${cc.stderr}`);
  }
});
after(() => programs.cleanup());

async function exec(user: string | null, args: string[], command: string[]): Promise<Result> {
  const r = await sandboxExec(command, ['--json', ...BIND, ...args], { user, timeoutMs: 120_000 });
  assert.notEqual(r.stdout, '', `no Result on stdout (exit ${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Result;
}

for (const mode of modes()) {
  const cgroup = mode.user === null; // root on these hosts: cgroup v1; rootless: fallback
  describe(`limits (${mode.name}, ${cgroup ? 'cgroup' : 'rlimit fallback'})`, () => {
    test('memory bomb', async () => {
      const r = await exec(mode.user, ['--memory', '64M'], ['python3', '-c', 'x = bytearray(400 << 20); x[::4096] = b"1" * (len(x) // 4096); print("survived")']);
      assert.doesNotMatch(String(r.stdout), /survived/);
      if (cgroup) {
        assert.equal(r.status, 'ML', r.message);
        assert.equal(r.memory.oomKilled, true);
        assert.equal(r.limits['memory']!.mechanism, 'cgroup-v1');
        assert.ok(r.memory.peakBytes! <= 64 << 20, `peak ${r.memory.peakBytes} within the limit`);
      } else {
        // RLIMIT_AS: the allocation fails inside the program, which reports it its own way.
        assert.ok(r.status === 'RE' || r.status === 'SG', `${r.status}: ${r.message}`);
        assert.match(String(r.stderr), /MemoryError/);
        assert.equal(r.limits['memory']!.mechanism, 'rlimit');
      }
    });

    test('a program that allocates and touches 128 MiB is measured within 5 %', async () => {
      const n = 128 << 20;
      const r = await exec(mode.user, ['--memory', '512M'], ['/opt/t/alloc', '128']);
      assert.equal(r.status, 'OK', `${r.message} ${r.stderr}`);
      assert.equal(r.memory.source, cgroup ? 'memory.memsw.max_usage_in_bytes' : 'rusage max-rss');
      const peak = r.memory.peakBytes!;
      assert.ok(Math.abs(peak - n) / n < 0.05, `peak ${peak} vs ${n} (${((peak / n - 1) * 100).toFixed(1)} %)`);
      assert.ok(Math.abs(r.memory.maxRssBytes! - n) / n < 0.05, `max-rss ${r.memory.maxRssBytes}`);
    });

    test('fork bomb is contained and reported', async () => {
      const marker = `sbx-forkbomb-${process.pid}-${mode.name}`;
      // The main shell waits without forking (a fork it needs after the bomb has filled the limit
      // makes dash exit, which made this test fail now and then): a loop of builtins.
      const r = await exec(mode.user, ['--pids', '32', '--wall-time', '10s'], ['sh', '-c', `f(){ f | f & }; f; ${WAIT_WITHOUT_FORK}; echo ${marker}-main-alive`]);
      assert.match(String(r.stdout), new RegExp(`${marker}-main-alive`));
      assert.equal(r.limits['pids']!.mechanism, cgroup ? 'cgroup-v1' : 'rlimit');
      if (cgroup) assert.ok((r.pids?.limitHits ?? 0) > 0, `the pids limit refused forks: ${JSON.stringify(r.pids)}`);
      else assert.match(String(r.stderr), /Cannot fork|Resource temporarily unavailable/);
      assert.deepEqual(processesMatching(marker), []);
      const host = spawnSync('true');
      assert.equal(host.status, 0, 'the host can still fork');
    });

    test('infinite loop with a 300 ms CPU limit → TO, measured 300–310 ms', async () => {
      const r = await exec(mode.user, ['--cpu-time', '300ms'], ['sh', '-c', 'while :; do :; done']);
      assert.equal(r.status, 'TO', r.message);
      assert.equal(r.killReason, 'cpu-time');
      assert.ok(r.time.cpuMs! >= 300 && r.time.cpuMs! <= 310, `cpu ${r.time.cpuMs} ms (${r.time.cpuSource})`);
      assert.equal(r.limits['cpuTime']!.mechanism, cgroup ? 'cgroup-v1' : 'supervisor');
      // the immediate stop kills init, not the launcher: nothing is left, not even a zombie init
      // (the host uid's processes include zombies; rootless, the uid is the test user's own)
      if (mode.user === null) assert.deepEqual(processesOfUid(r.hostUid!), [], `nothing runs as host uid ${r.hostUid}`);
    });

    test('sleep with a 300 ms wall limit → TO', async () => {
      const r = await exec(mode.user, ['--wall-time', '300ms'], ['sleep', '10']);
      assert.equal(r.status, 'TO', r.message);
      assert.equal(r.killReason, 'wall-time');
      assert.ok(r.time.wallMs >= 300 && r.time.wallMs <= 310, `wall ${r.time.wallMs} ms`);
    });

    test('a short run\'s wall time is measured where it happens: never below its own CPU time', async () => {
      // The wall time was taken when the supervisor's event loop heard of the workload's start and
      // exit, and both reports of a short run could arrive in one tick: `/bin/true` showed 0.12 ms of
      // wall and 5 ms of CPU. Init's clock reports now bound it. A single-threaded workload's CPU time
      // fits inside its wall time; rootless, cpuMs is init's rusage of the workload alone (as root,
      // the cgroup's figure also holds some of the sandbox's teardown, so the check is rootless).
      for (const command of [['/bin/true'], ['/bin/true'], ['sh', '-c', 'n=0; while [ $n -lt 3000 ]; do n=$((n+1)); done']]) {
        const r = await exec(mode.user, [], command);
        assert.equal(r.status, 'OK', r.message);
        assert.ok(r.time.wallMs > 0, `wall ${r.time.wallMs} ms`);
        if (!cgroup) {
          assert.equal(r.time.cpuSource, 'rusage');
          assert.ok(r.time.wallMs >= r.time.cpuMs!, `${command.join(' ')}: wall ${r.time.wallMs} ms < cpu ${r.time.cpuMs} ms`);
        }
      }
      const slept = await exec(mode.user, [], ['sleep', '0.2']);
      assert.ok(slept.time.wallMs >= 200, `sleep 0.2: wall ${slept.time.wallMs} ms`);
    });

    test('a run killed at its wall time still reports its CPU time (without a CPU limit)', async () => {
      // rootless without a cgroup, the figure came only from init's report at the workload's exit,
      // which a killed run never sends: cpuMs was null; now /proc is read just before the kill
      const r = await exec(mode.user, ['--wall-time', '300ms'], ['sh', '-c', 'while :; do :; done']);
      assert.equal(r.status, 'TO', r.message);
      assert.equal(r.killReason, 'wall-time');
      assert.equal(r.time.cpuSource, cgroup ? 'cgroup-v1' : 'proc');
      assert.ok(r.time.cpuMs !== null && r.time.cpuMs > 0, `cpu ${r.time.cpuMs} ms`);
    });

    test('a 4-thread burn counts every thread', async () => {
      // each thread burns 150 ms of its own CPU: all four together are 600 ms, one alone 150 ms
      const measured = await exec(mode.user, ['--cpu-time', '5s'], ['/opt/t/burn-threads', '4', '150']);
      assert.equal(measured.status, 'OK', measured.message);
      assert.ok(measured.time.cpuMs! >= 600 && measured.time.cpuMs! < 700, `cpu ${measured.time.cpuMs} ms for 4 × 150 ms`);
      // and the limit sees the sum: 600 ms of work under a 300 ms limit is a TO
      const limited = await exec(mode.user, ['--cpu-time', '300ms'], ['/opt/t/burn-threads', '4', '150']);
      assert.equal(limited.status, 'TO', limited.message);
      assert.equal(limited.killReason, 'cpu-time');
    });

    test('output flood → OL, and the captured output is capped at the limit', async () => {
      const r = await exec(mode.user, ['--output-limit', '4K'], ['sh', '-c', 'yes flood']);
      assert.equal(r.status, 'OL', r.message);
      assert.equal(Buffer.byteLength(String(r.stdout)), 4096);
      assert.equal(r.outputTruncated, true);
    });

    test('file size limit → SIGXFSZ reported as SG', async () => {
      const r = await exec(mode.user, ['--fsize', '1M'], ['dd', 'if=/dev/zero', 'of=/tmp/big', 'bs=64K', 'count=64']);
      assert.equal(r.status, 'SG', r.message);
      assert.equal(r.signal, 25);
      assert.match(r.message, /SIGXFSZ.*file size limit/);
    });

    test('a daemonizing workload leaves no process, no cgroup and no mount', async () => {
      const mounts = mountTable();
      const marker = `sbx-daemon-${process.pid}-${mode.name}`;
      // setsid + double fork, ignoring SIGTERM; the marker is assembled inside so only the daemon carries it
      const script = `${markerAssignment(marker)}; (setsid sh -c 'trap "" TERM HUP INT; sleep 1000; :' "$M" &) ; sleep 0.2; echo started`;
      const r = await exec(mode.user, ['--pids', '16', '--memory', '64M'], ['sh', '-c', script]);
      assert.equal(r.status, 'OK', r.message);
      assert.match(String(r.stdout), /started/);
      assert.deepEqual(processesMatching(marker), [], 'the daemon died with the sandbox');
      if (cgroup) {
        assert.deepEqual(processesOfUid(r.hostUid), [], `nothing runs as the run's host uid ${r.hostUid}`);
        assert.ok(r.cgroups && r.cgroups.length > 0, 'the run had cgroups');
        for (const dir of r.cgroups!) assert.equal(existsSync(dir), false, `${dir} removed`);
      }
      assert.equal(mountTable(), mounts);
    });
  });
}

describe('a limit without a kernel mechanism (rootless, no cgroup)', () => {
  const user = modes().find((m) => m.user !== null)!.user;

  test('under strict it is an error before anything runs', async () => {
    const marker = `sbx-unenforceable-${process.pid}`;
    const r = await sandboxExec(['sh', '-c', `echo ${marker}`], ['--policy', 'strict', '--cpus', '1'], { user });
    assert.equal(r.code, 125);
    assert.match(r.stderr, /requires every declared limit to be enforced, but here: cpus \(1\): no cgroup cpu controller/);
    assert.doesNotMatch(r.stdout, new RegExp(marker), 'nothing ran');
  });

  test('a policy that allows it runs, and the Result reports the limit as not enforced', async () => {
    const r = await sandboxExec(['true'], ['--json', '--cpus', '1'], { user });
    const result = JSON.parse(r.stdout) as Result;
    assert.equal(result.status, 'OK', result.message);
    assert.equal(result.limits['cpus']!.mechanism, 'none');
    assert.match(result.limits['cpus']!.note ?? '', /not enforced/);
  });
});
