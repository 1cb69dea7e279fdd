/**
 * Stop a run's sandbox *now*, synchronously, when its CPU budget is found exhausted: each millisecond
 * between the detection and the kill is CPU the workload keeps burning past its limit. The generic
 * teardown (SIGTERM to the launcher → init killed → pid namespace killed) follows anyway; this only
 * closes the gap, so every step is best effort.
 *
 * It SIGKILLs the sandbox's init: the kernel then kills every process of its pid namespace at once,
 * and every process of the workload is in it. It must not kill the whole cgroup (cgroup.kill, or each
 * pid of cgroup.procs): the launcher's outer process is in the group too, and killed it could not reap
 * init, which would be left a zombie under the host's init. The pid is signalled only while it is a
 * member of the run's group — so never once the launcher has reaped it and the pid could be reused.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunCgroup } from '../host/cgroup/index.js';

export function stopCgroupNow(cg: RunCgroup, initPid: number): void {
  if (initPid <= 0) return;
  try {
    const members = readFileSync(join(cg.path, 'cgroup.procs'), 'utf8').split('\n');
    if (members.includes(String(initPid))) process.kill(initPid, 'SIGKILL');
  } catch {
    // the group or init is gone already
  }
}
