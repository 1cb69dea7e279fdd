/** Validation of CgroupLimits and the arithmetic both drivers share. */
import { SandboxError } from '../../errors.js';
import type { CgroupLimits } from './types.js';

/** CFS bandwidth period. 100 ms is the kernel default: short enough that a quota cannot be burst far ahead. */
export const CPU_PERIOD_US = 100_000;
/** The kernel rejects quotas below 1 ms. */
const CPU_MIN_QUOTA_US = 1_000;

/** How long killAll waits for SIGKILLed tasks to leave the group (a task in uninterruptible sleep can take a while). */
export const KILL_TIMEOUT_MS = 10_000;

function bad(field: string, value: unknown, want: string): SandboxError {
  return new SandboxError('CGROUP', `invalid cgroup limit ${field}=${String(value)}: ${want}`, { field, value });
}

export function validateLimits(l: CgroupLimits): void {
  if (l.memoryBytes !== undefined && !(Number.isSafeInteger(l.memoryBytes) && l.memoryBytes > 0))
    throw bad('memoryBytes', l.memoryBytes, 'a positive integer number of bytes');
  if (l.swapBytes !== undefined && !(Number.isSafeInteger(l.swapBytes) && l.swapBytes >= 0))
    throw bad('swapBytes', l.swapBytes, 'a non-negative integer number of bytes');
  if (l.pids !== undefined && !(Number.isSafeInteger(l.pids) && l.pids > 0))
    throw bad('pids', l.pids, 'a positive integer');
  if (l.cpuCores !== undefined && !(Number.isFinite(l.cpuCores) && l.cpuCores > 0))
    throw bad('cpuCores', l.cpuCores, 'a positive number of cores');
}

/** cores → quota per CPU_PERIOD_US, rounded to whole µs and raised to the kernel's minimum. */
export function cpuQuotaUs(cores: number): number {
  return Math.max(CPU_MIN_QUOTA_US, Math.round(cores * CPU_PERIOD_US));
}

/** memory+swap cap for v1 memsw. Default swap 0: swap counts as memory, so the sum is capped at the RAM limit. */
export function memswBytes(l: CgroupLimits): number {
  return l.memoryBytes! + (l.swapBytes ?? 0);
}

/** SIGKILL each pid; ESRCH (already gone) is fine. Returns pids that could not be signalled and why. */
export function killPids(pids: number[]): { pid: number; errno: string }[] {
  const failed: { pid: number; errno: string }[] = [];
  for (const pid of pids) {
    // cgroup.procs shows 0 for a task outside our pid namespace; kill(0) would hit our own process group.
    if (!Number.isSafeInteger(pid) || pid <= 0) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch (e) {
      const errno = (e as NodeJS.ErrnoException).code ?? 'EUNKNOWN';
      if (errno !== 'ESRCH') failed.push({ pid, errno });
    }
  }
  return failed;
}
