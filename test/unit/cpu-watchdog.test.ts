/**
 * The CPU-time watchdog's reading (src/limits/cpu-watchdog.ts), with a clock made up in the test: the
 * workload's usage is the clock's minus the launcher's setup, and never below zero.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CpuTimeWatchdog } from '../../src/limits/cpu-watchdog.js';

function watch(clockNs: number, setupNs: number): CpuTimeWatchdog {
  const w = new CpuTimeWatchdog(1e9, { usedNs: () => clockNs }, 1);
  w.start({ kill: () => {}, initPid: 1, setupCpuNs: setupNs });
  w.stop();
  return w;
}

test('the setup CPU is not the workload\'s', () => {
  assert.equal(watch(30e6, 5e6).lastUsedNs, 25e6);
});

test('a coarse clock behind the exact setup figure reads 0, not a negative time', () => {
  // the /proc clock (10 ms ticks) still at 0 while the launcher's setup took 5 ms
  assert.equal(watch(0, 5e6).lastUsedNs, 0);
});
