/**
 * CPU time of a process tree from /proc, for hosts without a usable cgroup: the sum over the tree
 * rooted at the sandbox's init of utime+stime (all threads of a process) and cutime+cstime (its
 * children that were already reaped with a wait — init reaps orphans that way). A child reaped
 * without a wait (its parent ignores SIGCHLD or set SA_NOCLDWAIT) is lost: the kernel adds a child's
 * time to its parent's only in wait(). No unprivileged interface has that time; a cgroup does, which
 * is why it is preferred (README, "fallback" column). Granularity is the kernel's clock tick
 * (USER_HZ, 100 Hz: 10 ms).
 */
import { readdirSync, readFileSync } from 'node:fs';

const USER_HZ = 100;
const NS_PER_TICK = 1e9 / USER_HZ;

function readTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // comm (field 2) may contain spaces and parentheses: split after the last ')'
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime..cstime are fields 14..17
  return Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
}

/** Children of every thread of `pid` (a child belongs to the thread that forked it). */
export function children(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) out.push(...text.split(' ').map(Number));
    }
  } catch {
    // exited meanwhile
  }
  return out;
}

/**
 * A run without a CPU limit has no watchdog reading its CPU clock, and a run that is killed (wall
 * time, output, abort) gets no figure from its init, which reports one only when the workload exits
 * (its rusage; with a cgroup, the cgroup's counter before the teardown). This reads the run's clock
 * just before the kill instead (`lastUsedNs`, setup excluded): the cgroup's counter, or without one
 * the /proc sum of the process tree. Read later, the cgroup's figure would also hold the sandbox's
 * teardown; the wall time ends at the kill as well.
 */
export class CpuAtKill {
  lastUsedNs: number | null = null;
  private initPid = 0;
  private setupNs = 0;

  constructor(private readonly clock: { usedNs(initPid: number): number }) {}

  start(ctx: { initPid: number; setupCpuNs: number }): void {
    this.initPid = ctx.initPid;
    this.setupNs = ctx.setupCpuNs;
  }

  stop(): void {}

  beforeKill(): void {
    if (this.initPid === 0) return; // killed during setup: no workload yet
    try {
      this.lastUsedNs = Math.max(0, this.clock.usedNs(this.initPid) - this.setupNs);
    } catch { /* gone already */ }
  }
}

/** ns of CPU used by `root` and all its descendants (live ones, and the reaped ones via cutime). */
export function processTreeCpuNs(root: number): number {
  let ticks = 0;
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    try {
      ticks += readTicks(pid);
    } catch {
      continue; // exited meanwhile: its time is now in its parent's cutime
    }
    stack.push(...children(pid));
  }
  return ticks * NS_PER_TICK;
}
