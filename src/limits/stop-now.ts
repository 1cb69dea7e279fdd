/**
 * Stop every task of a run's cgroup *now*, synchronously, when its CPU budget is found exhausted: each
 * millisecond between the detection and the kill is CPU the workload keeps burning past its limit.
 * The generic teardown (SIGTERM to the launcher → init killed → pid namespace killed) follows anyway;
 * this only closes the gap, so every step is best effort.
 *   v2: cgroup.kill (Linux 5.14) kills every task of the group at once.
 *   v1: SIGKILL every task listed in cgroup.procs. (Freezing first measured slower here — the
 *       freeze/thaw is work charged to the group — and a task forked meanwhile is still caught by the
 *       teardown: it is in the pid namespace that dies with init, and the cgroup's killAll at removal.)
 * The pids are read and signalled within microseconds; a pid freed in between could only be handed to
 * an unrelated process after the kernel's cyclic allocator wrapped around pid_max, which takes far longer.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunCgroup } from '../host/cgroup/index.js';

function tryWrite(file: string, value: string): void {
  try {
    writeFileSync(file, value);
  } catch {
    // best effort: the generic teardown follows
  }
}

export function stopCgroupNow(cg: RunCgroup): void {
  if (cg.driver === 'v2') {
    tryWrite(join(cg.path, 'cgroup.kill'), '1');
    return;
  }
  try {
    for (const pid of readFileSync(join(cg.path, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  } catch {
    // the group is going away already
  }
}
