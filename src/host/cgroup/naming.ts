/**
 * Names of run groups. cgroupfs cannot hold ordinary files, so the owner (the supervisor that created the group)
 * is encoded in the directory name: `<runId>.<ownerPid>.<ownerStartTime>`. The start time (clock ticks since boot,
 * /proc/<pid>/stat field 22) defeats pid reuse: a dead supervisor's pid that was recycled by another process has
 * a different start time, so cleanStaleCgroups still sees the group as abandoned.
 */
import { readFileSync } from 'node:fs';
import { SandboxError } from '../../errors.js';

/** The directory all run groups live under, in every hierarchy. It is ours; nothing else is touched. */
export const PARENT_NAME = 'sandbox';
/** v2 only: the leaf the processes of a delegated cgroup are moved into (see v2.ts, "no internal processes"). */
export const SUPERVISOR_LEAF = 'sandbox-supervisor';

// No dots (they separate the fields) and no slashes (a runId must never become a path outside our parent).
const RUN_ID = /^[A-Za-z0-9_-]{1,64}$/;
const LEAF = /^([A-Za-z0-9_-]{1,64})\.([1-9]\d*)\.(\d+)$/;

export function validateRunId(runId: string): void {
  if (!RUN_ID.test(runId)) {
    throw new SandboxError('CGROUP', `invalid run id ${JSON.stringify(runId)}: use 1-64 characters from A-Z a-z 0-9 _ -`, {
      runId,
    });
  }
}

export interface LeafOwner {
  runId: string;
  pid: number;
  startTime: string;
}

export function leafName(runId: string, pid: number, startTime: string): string {
  validateRunId(runId);
  return `${runId}.${pid}.${startTime}`;
}

export function parseLeafName(name: string): LeafOwner | null {
  const m = LEAF.exec(name);
  return m ? { runId: m[1]!, pid: Number(m[2]), startTime: m[3]! } : null;
}

/**
 * Start time (field 22 of /proc/<pid>/stat) of a live process, or null when the text is malformed or the process
 * is a zombie / dead (state Z or X: it exited, only its parent has not reaped it yet). The command name (field 2)
 * may contain spaces and ')', so fields are counted after the last ')'.
 */
export function parseStartTime(stat: string): string | null {
  const close = stat.lastIndexOf(')');
  if (close < 0) return null;
  const fields = stat.slice(close + 2).split(' '); // fields[0] is field 3 (state)
  if (fields[0] === 'Z' || fields[0] === 'X') return null;
  const v = fields[22 - 3];
  return v !== undefined && /^\d+$/.test(v) ? v : null;
}

export function processStartTime(pid: number): string | null {
  try {
    return parseStartTime(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

let selfStart: string | null = null;
export function selfOwner(): { pid: number; startTime: string } {
  if (selfStart === null) {
    selfStart = processStartTime(process.pid);
    if (selfStart === null) throw new SandboxError('CGROUP', 'cannot read /proc/self/stat: is /proc mounted?', {});
  }
  return { pid: process.pid, startTime: selfStart };
}

/**
 * The owner is alive when a process with that pid exists with the same start time. Pids are those of our pid
 * namespace: a supervisor in another pid namespace sharing the same cgroup parent would be seen as dead, so do
 * not share one parent between pid namespaces.
 */
export function ownerAlive(owner: { pid: number; startTime: string }): boolean {
  return processStartTime(owner.pid) === owner.startTime;
}
