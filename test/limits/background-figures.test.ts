/**
 * A workload's figures count the processes it leaves running when it exits. Such processes are killed
 * then (nothing outlives the workload), and init reaps them before it takes getrusage: rootless, with
 * no cgroup, that is where the run's CPU and memory come from, and a process init never reaped was in
 * none of them (an audit saw 28 ms reported for two burners that ran a second). As root the cgroup
 * counts them anyway; the test runs in both modes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { modes, sandboxExec } from '../helpers/cli.js';
import type { Result } from '../../src/launch/result.js';

// In the background: burn 300 ms of CPU and hold 64 MiB (touched), say so in /tmp/done, then wait to
// be killed. The workload itself waits for that and exits 0 while the background process still runs.
const BACKGROUND = [
  'import time',
  'x = b"1" * (64 << 20)',
  'while time.process_time() < 0.3: pass',
  'open("/tmp/done", "w").close()',
  'time.sleep(600)',
].join('\n');
const SCRIPT = `python3 -c '${BACKGROUND}' & while [ ! -e /tmp/done ]; do sleep 0.02; done; exit 0`;

for (const mode of modes()) {
  describe(`processes left running at the workload's exit are in its figures (${mode.name})`, () => {
    test('their CPU is in cpuMs and their memory in the peak, and they are gone', async () => {
      const r = await sandboxExec(['sh', '-c', SCRIPT], ['--policy', 'strict', '--json', '--wall-time', '60s'], { user: mode.user, timeoutMs: 90_000 });
      assert.equal(r.code, 0, r.stderr);
      const result = JSON.parse(r.stdout) as Result;
      assert.equal(result.status, 'OK', result.message);
      assert.ok(result.time.cpuMs !== null && result.time.cpuMs >= 300, `cpuMs ${result.time.cpuMs} counts the 300 ms burnt in the background (${result.time.cpuSource})`);
      const peak = Math.max(result.memory.peakBytes ?? 0, result.memory.maxRssBytes ?? 0);
      assert.ok(peak >= 64 << 20, `memory ${JSON.stringify(result.memory)} counts the background process's 64 MiB`);
    });
  });
}

for (const mode of modes()) {
  describe(`a killed run still has a memory figure (${mode.name})`, () => {
    test('a run stopped at its CPU limit reports the largest resident set, read just before the kill', async () => {
      // init is killed with the workload and reports no rusage: the figure comes from /proc at the kill
      const hog = 'x = b"1" * (64 << 20)\nwhile True: pass';
      const r = await sandboxExec(['python3', '-c', hog], ['--policy', 'strict', '--json', '--cpu-time', '500ms', '--wall-time', '60s'], { user: mode.user, timeoutMs: 90_000 });
      const result = JSON.parse(r.stdout) as Result;
      assert.equal(result.status, 'TO', result.message);
      assert.ok(result.memory.maxRssBytes !== null && result.memory.maxRssBytes >= 64 << 20, `maxRssBytes ${result.memory.maxRssBytes}: the 64 MiB process`);
      assert.ok(result.memory.peakBytes !== null && result.memory.peakBytes >= 64 << 20, `peakBytes ${JSON.stringify(result.memory)}`);
      if (mode.user) assert.equal(result.memory.source, 'proc VmHWM');
    });
  });
}
