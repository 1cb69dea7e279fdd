/**
 * The run's CPU time as init reaps the workload (TAG_CPU_USAGE, REPORT_CPU): the cgroup's counter read
 * before the sandbox's teardown, which the supervisor's later read also counted (the end of the pid,
 * mount and network namespaces: 1-4 ms of every run on the dev VM).
 *
 * The launcher runs a real plan of a real run; its counter is a file of this test's with the text of
 * each cgroup version's counter, so that the figure init reports is known exactly. Then the verdict:
 * with that report the Result's cpuMs is made of it, not of the cgroup's later reading.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { prepareRun } from '../../src/launch/prepare.js';
import type { LaunchOutcome } from '../../src/launch/supervisor.js';
import { outcomeToResult } from '../../src/launch/verdict.js';
import { encodePlan } from '../../src/launch/wire.js';
import { tempDirFor } from '../helpers/cli.js';
import { runLauncher } from '../helpers/launcher.js';

const dir = tempDirFor(null, 'sbx-cpu-at-exit-');
after(() => dir.cleanup());

test('init reads the run\'s CPU counter as it reaps the workload, v1 and v2 text alike, and reports it before the exit', async () => {
  const prepared = await prepareRun({ policy: 'strict', command: ['/bin/true'] });
  await prepared.acquire();
  try {
    for (const [text, ns] of [['123456789012\n', 123456789012n], ['usage_usec 4242\nuser_usec 4000\nsystem_usec 242\n', 4242000n]] as const) {
      const counter = join(dir.path, 'counter');
      writeFileSync(counter, text, { mode: 0o644 });
      const r = await runLauncher(encodePlan({ ...prepared.plan, cpuUsageFile: counter }));
      assert.equal(r.code, 0, JSON.stringify(r.reports, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
      const kinds = r.reports.map((x) => x.type).filter((t) => t === 'clock' || t === 'cpu' || t === 'exit');
      assert.deepEqual(kinds, ['clock', 'clock', 'cpu', 'exit'], 'start, end, the counter, then the exit');
      assert.deepEqual(r.reports.find((x) => x.type === 'cpu'), { type: 'cpu', ns });
    }
    // a counter that cannot be read as one: no figure (the supervisor reads the cgroup itself)
    writeFileSync(join(dir.path, 'bad'), 'usage_usec many\n', { mode: 0o644 });
    const bad = await runLauncher(encodePlan({ ...prepared.plan, cpuUsageFile: join(dir.path, 'bad') }));
    assert.equal(bad.code, 0);
    assert.ok(!bad.reports.some((x) => x.type === 'cpu'));
  } finally {
    await prepared.release();
  }
});

test('the Result\'s cpuMs is the counter as init read it (or as read at a kill), less the setup, not the later reading', async () => {
  const prepared = await prepareRun({ command: ['true'] }); // no side effects before acquire()
  const outcome: LaunchOutcome = {
    exit: { code: 0, signal: null }, rusage: null, contextSwitches: null, cpuAtExitNs: 9_000_000, setupCpuUs: 2_000, failure: null, killed: null,
    initPid: 2, hostUid: null, launcherExitCode: 0, launcherSignal: null, wallNs: 20_000_000n,
  };
  const cgroup = {
    cpuNs: 12_000_000, memoryPeakBytes: 1 << 20, memoryPeakSource: 'memory.peak' as const, oomKilled: false, oomKillCount: 0,
    pidsPeak: 1, pidsLimitHits: 0, cpuThrottledPeriods: null,
  };
  const m = { cgroup, cgroupDriver: 'v2' as const, cgroupPaths: ['/sys/fs/cgroup/x'], cpuAtKillNs: null, atKill: { maxRssBytes: null, contextSwitches: null } };
  assert.equal(outcomeToResult(outcome, prepared, m, false).time.cpuMs, 7);
  // a killed run (init sends nothing): the counter as read at the kill, setup already excluded
  const killed: LaunchOutcome = { ...outcome, exit: null, cpuAtExitNs: null, killed: 'wall-time' };
  assert.equal(outcomeToResult(killed, prepared, { ...m, cpuAtKillNs: 8_500_000 }, false).time.cpuMs, 8.5);
  // ... and where nothing read it then, the cgroup's figure read afterwards
  assert.equal(outcomeToResult(killed, prepared, m, false).time.cpuMs, 10);
  // a reading the CPU-time watchdog made mid-run is not the figure of a run that was not killed
  assert.equal(outcomeToResult({ ...outcome, cpuAtExitNs: null }, prepared, { ...m, cpuAtKillNs: 1_000_000 }, false).time.cpuMs, 10);
});
