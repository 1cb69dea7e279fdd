/**
 * `sandbox exec` end to end on a cgroup v2 kernel. Runs *inside* the VM (test/limits/cgroup-v2-vm.test.ts
 * starts it there, as root and as an unprivileged user in a delegated subtree, with SANDBOX_VM_GUEST=1).
 * On the host — which is hybrid, where these v2 expectations cannot hold — this module registers no test.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { Result } from '../../src/launch/result.js';

const CLI = join(fileURLToPath(import.meta.url), '../../../bin/sandbox.cjs'); // dist/test/vm → dist/bin

function exec(args: string[], command: string[]): Result {
  const r = spawnSync(process.execPath, [CLI, 'exec', '--json', ...args, '--', ...command], { encoding: 'utf8', timeout: 240_000 });
  assert.notEqual(r.stdout, '', `no Result (exit ${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Result;
}

if (process.env['SANDBOX_VM_GUEST'] === '1') {
  test('v2 exec: a memory bomb is ML, killed by the OOM killer, measured by memory.peak', () => {
    const r = exec(['--memory', '32M'], ['python3', '-c', 'x = bytearray(300 << 20); x[::4096] = b"1" * (len(x) // 4096)']);
    assert.equal(r.status, 'ML', r.message);
    assert.equal(r.memory.oomKilled, true);
    assert.equal(r.memory.source, 'memory.peak');
    assert.equal(r.limits['memory']!.mechanism, 'cgroup-v2');
  });

  test('v2 exec: an infinite loop under a CPU limit is TO, on the cgroup clock', () => {
    const r = exec(['--cpu-time', '300ms', '--wall-time', '60s'], ['sh', '-c', 'while :; do :; done']);
    assert.equal(r.status, 'TO', r.message);
    assert.equal(r.killReason, 'cpu-time');
    assert.equal(r.time.cpuSource, 'cgroup-v2');
    assert.ok(r.time.cpuMs! >= 300, `cpu ${r.time.cpuMs}`);
  });

  test('v2 exec: a fork bomb is held at pids.max and reported', () => {
    // the main shell waits with builtins only: a fork after the bomb filled pids.max makes dash exit
    const r = exec(['--pids', '16', '--wall-time', '60s'], ['sh', '-c', 'f(){ f | f & }; f; n=0; while [ $n -lt 100000 ]; do n=$((n+1)); done; echo alive']);
    assert.match(String(r.stdout), /alive/);
    assert.equal(r.limits['pids']!.mechanism, 'cgroup-v2');
    assert.ok((r.pids?.limitHits ?? 0) > 0, JSON.stringify(r.pids));
  });

  test('v2 exec: CPU bandwidth is enforced by cpu.max', () => {
    const r = exec(['--cpus', '0.5', '--policy', 'strict'], ['true']);
    assert.equal(r.status, 'OK', r.message);
    assert.equal(r.limits['cpus']!.mechanism, 'cgroup-v2');
  });
}

/**
 * The library on cgroup v2 (as the CLI above, in the VM as root and as a delegated user): runs go
 * through the zygote, a CPU-time kill stops init only (the launcher reaps it: no zombie), and the spare
 * group the process keeps between runs is gone once it exits. In a child process, so that its exit is
 * part of the test.
 */
if (process.env['SANDBOX_VM_GUEST'] === '1') {
  test('v2 library: zygote runs, a CPU-time kill leaves no process, the spare group goes at exit', () => {
    const api = join(fileURLToPath(import.meta.url), '../../../src/api.js'); // dist/test/vm → dist/src
    const script = `
      import { readdirSync } from 'node:fs';
      import { dirname } from 'node:path';
      import { run } from ${JSON.stringify(api)};
      const quiet = { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' };
      const first = await run({ policy: 'strict', command: ['true'], ...quiet });
      const burn = await run({ policy: 'strict', command: ['sh', '-c', 'while :; do :; done'], cpuTime: '300ms', wallTime: '60s', ...quiet });
      const parent = dirname(first.cgroups[0]);
      console.log(JSON.stringify({ statuses: [first.status, burn.status], killReason: burn.killReason, cpuSource: burn.time.cpuSource,
        parent, hostUid: burn.hostUid, mine: readdirSync(parent).filter((n) => n.includes('.' + process.pid + '.')) }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 240_000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { statuses: string[]; killReason: string; cpuSource: string; parent: string; hostUid: number | null; mine: string[] };
    assert.deepEqual(out.statuses, ['OK', 'TO']);
    assert.equal(out.killReason, 'cpu-time');
    assert.equal(out.cpuSource, 'cgroup-v2');
    assert.equal(out.mine.length, 1, `one group of the process between runs (the spare): ${out.mine.join(', ')}`);
    const left = spawnSync('sh', ['-c', `ls -d ${out.parent}/*.${r.pid}.* 2>/dev/null`], { encoding: 'utf8' }).stdout.trim();
    assert.equal(left, '', 'no group of the exited process is left');
    if (process.geteuid!() === 0 && out.hostUid !== null) {
      const procs = spawnSync('ps', ['-e', '-o', 'pid=,uid='], { encoding: 'utf8' }).stdout.split('\n')
        .filter((l) => Number(l.trim().split(/\s+/)[1]) === out.hostUid);
      assert.deepEqual(procs, [], `nothing runs as the run's host uid ${out.hostUid} (a zombie init would)`);
    }
  });
}
