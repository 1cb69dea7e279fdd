/**
 * Which kernel mechanism enforces each limit, given what this host offers. Pure: the cgroup probe is
 * an input. The order of preference per limit, and what the fallback really means:
 *
 *   memory   cgroup memory (+swap) limit        → RLIMIT_AS (address space of each process: a process
 *                                                  can map more than it touches; no group total)
 *   pids     cgroup pids.max                    → RLIMIT_NPROC (counted per user namespace and uid,
 *                                                  which here is exactly the sandbox's processes)
 *   cpuTime  cgroup CPU usage + timers          → supervisor sums /proc CPU ticks of the process tree,
 *                                                  which misses processes reaped without a wait (a
 *                                                  parent that ignores SIGCHLD): the kernel adds a
 *                                                  child's time to its parent's only in wait()
 *            (both keep RLIMIT_CPU as a backstop: SIGXCPU, then SIGKILL, per process)
 *   cpus     cgroup cpu quota                   → nothing: unenforceable
 *   wallTime, output: the supervisor; fsize, nofile, stack: rlimits; tmpfs size: the tmpfs itself.
 *
 * The launcher's own two processes (the outer one and the sandbox's init) live in the run's cgroup
 * and user namespace too, so the pid budget gets 2 added for them and the memory they use (well under
 * 1 MiB) is charged to the run.
 */
import type { CgroupLimits, CgroupProbe } from '../host/cgroup/index.js';
import type { LimitReport, Mechanism } from '../launch/result.js';
import type { Rlimit } from '../launch/types.js';
import type { LimitSpec } from './spec.js';

/** The launcher's outer process and the sandbox's init, counted in pids and in the cgroup. */
export const LAUNCHER_TASKS = 2;

export interface Enforcement {
  /** limits to ask a cgroup for; null when no cgroup is needed or none is usable */
  cgroup: CgroupLimits | null;
  /** 'cgroup': CPU time read from the run's cgroup; 'proc': summed from /proc; null: no CPU limit */
  cpuClock: 'cgroup' | 'proc' | null;
  rlimits: Rlimit[];
  report: Record<string, LimitReport>;
  /** declared limits that no mechanism here can enforce */
  unenforceable: string[];
}

export function chooseMechanisms(spec: LimitSpec, probe: CgroupProbe): Enforcement {
  const cg = probe.driver === 'none' ? null : probe.driver;
  const has = (c: string) => cg !== null && probe.controllers.includes(c);
  const cgMech: Mechanism = cg === 'v2' ? 'cgroup-v2' : 'cgroup-v1';
  const out: Enforcement = { cgroup: null, cpuClock: null, rlimits: [], report: {}, unenforceable: [] };
  const cgroup: CgroupLimits = {};
  const rl = (resource: Rlimit['resource'], soft: number, hard = soft) => out.rlimits.push({ resource, soft, hard });

  if (spec.memoryBytes !== undefined) {
    if (has('memory')) {
      cgroup.memoryBytes = spec.memoryBytes;
      cgroup.swapBytes = spec.swapBytes;
      out.report['memory'] = { value: spec.memoryBytes, mechanism: cgMech };
    } else {
      rl('as', spec.memoryBytes);
      out.report['memory'] = { value: spec.memoryBytes, mechanism: 'rlimit', note: 'RLIMIT_AS: address space per process, not memory in use; allocation failures surface as the program\'s own errors' };
    }
  }
  if (spec.pids !== undefined) {
    if (has('pids')) {
      cgroup.pids = spec.pids + LAUNCHER_TASKS;
      out.report['pids'] = { value: spec.pids, mechanism: cgMech };
    } else {
      rl('nproc', spec.pids + 1); // init shares the uid and the user namespace; the outer process does not
      out.report['pids'] = { value: spec.pids, mechanism: 'rlimit', note: 'RLIMIT_NPROC, counted in the sandbox\'s user namespace' };
    }
  }
  if (spec.cpuTimeMs !== undefined) {
    const cpuacct = cg === 'v2' || has('cpuacct');
    out.cpuClock = cpuacct ? 'cgroup' : 'proc';
    out.report['cpuTime'] = cpuacct
      ? { value: spec.cpuTimeMs, mechanism: cgMech, note: 'usage re-checked by timers armed for the remaining budget; RLIMIT_CPU backstop' }
      : { value: spec.cpuTimeMs, mechanism: 'supervisor', note: 'CPU ticks of the process tree from /proc (10 ms granularity); misses processes reaped without a wait (SIGCHLD ignored), so only the wall time bounds such a workload; RLIMIT_CPU backstop per process' };
    // Backstop: if the supervisor could not act, each process still gets SIGXCPU then SIGKILL.
    const seconds = Math.ceil(spec.cpuTimeMs / 1000) + 1;
    rl('cpu', seconds, seconds + 1);
  }
  if (spec.cpus !== undefined) {
    if (has('cpu')) {
      cgroup.cpuCores = spec.cpus;
      out.report['cpus'] = { value: spec.cpus, mechanism: cgMech };
    } else {
      out.unenforceable.push(`cpus (${spec.cpus}): no cgroup cpu controller is usable here${probe.reason ? ` — ${probe.reason}` : ''}`);
      out.report['cpus'] = { value: spec.cpus, mechanism: 'none', note: 'not enforced: no cgroup cpu controller' };
    }
  }
  if (spec.wallTimeMs !== undefined) out.report['wallTime'] = { value: spec.wallTimeMs, mechanism: 'supervisor' };
  if (spec.outputBytes !== undefined) out.report['output'] = { value: spec.outputBytes, mechanism: 'supervisor' };
  if (spec.fsizeBytes !== undefined) { rl('fsize', spec.fsizeBytes); out.report['fsize'] = { value: spec.fsizeBytes, mechanism: 'rlimit' }; }
  if (spec.nofile !== undefined) { rl('nofile', spec.nofile); out.report['nofile'] = { value: spec.nofile, mechanism: 'rlimit' }; }
  if (spec.stackBytes !== undefined) { rl('stack', spec.stackBytes); out.report['stack'] = { value: spec.stackBytes, mechanism: 'rlimit' }; }
  out.report['tmpfs'] = { value: spec.tmpfsBytes, mechanism: 'tmpfs' };
  // A cgroup is also how CPU time and memory are *measured*: create one whenever it is usable.
  out.cgroup = cg ? cgroup : null;
  return out;
}
