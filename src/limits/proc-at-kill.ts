/**
 * Figures of a killed run's processes, read from /proc just before the kill. A run that ends by itself
 * gets them from its init (getrusage of every process it reaped, as isolate reports them); a run the
 * sandbox kills (time limit, output, abort) gets nothing from init, which is killed with it — so
 * without a cgroup it had no memory figure at all. This reads each live process under init (not init
 * itself, which is ours): its peak resident set (VmHWM; the largest is kept) and its threads' context
 * switches (summed). A process that had already exited by then is not in them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { children } from './proc-cpu.js';

export interface TreeFigures {
  /** the largest VmHWM, bytes; null if none could be read */
  maxRssBytes: number | null;
  /** voluntary and involuntary context switches of every thread; null if none could be read */
  contextSwitches: { voluntary: number; involuntary: number } | null;
}

/** The /proc/PID/status lines read here, each as a pattern made once. */
const FIELD = {
  VmHWM: /^VmHWM:\s+(\d+)/m,
  voluntary_ctxt_switches: /^voluntary_ctxt_switches:\s+(\d+)/m,
  nonvoluntary_ctxt_switches: /^nonvoluntary_ctxt_switches:\s+(\d+)/m,
};

const field = (status: string, name: keyof typeof FIELD): number | null => {
  const m = FIELD[name].exec(status);
  return m ? Number(m[1]) : null;
};

/** /proc/PID/status counts the context switches of one thread: every thread's, summed. */
function addThreadSwitches(pid: number, into: { voluntary: number; involuntary: number }): boolean {
  let read = false;
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return false; // exited meanwhile
  }
  for (const tid of tids) {
    try {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      into.voluntary += field(status, 'voluntary_ctxt_switches') ?? 0;
      into.involuntary += field(status, 'nonvoluntary_ctxt_switches') ?? 0;
      read = true;
    } catch { /* the thread exited meanwhile */ }
  }
  return read;
}

/** The figures of the live descendants of `init`. */
export function processTreeFigures(init: number): TreeFigures {
  let maxRssBytes: number | null = null;
  const switches = { voluntary: 0, involuntary: 0 };
  let anySwitches = false;
  const stack = children(init);
  while (stack.length > 0) {
    const pid = stack.pop()!;
    let status: string;
    try {
      status = readFileSync(`/proc/${pid}/status`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const kib = field(status, 'VmHWM');
    if (kib !== null) maxRssBytes = Math.max(maxRssBytes ?? 0, kib * 1024);
    anySwitches = addThreadSwitches(pid, switches) || anySwitches;
    stack.push(...children(pid));
  }
  return { maxRssBytes, contextSwitches: anySwitches ? switches : null };
}

/** A watchdog that only reads, at a kill: the figures of a killed run. */
export class FiguresAtKill implements TreeFigures {
  maxRssBytes: number | null = null;
  contextSwitches: TreeFigures['contextSwitches'] = null;
  private initPid = 0;

  start(ctx: { initPid: number }): void {
    this.initPid = ctx.initPid;
  }

  stop(): void {}

  /** Read now; called again later, it keeps the larger figures (a second reading may find the
   * processes already gone: the CPU-time watchdog stops the cgroup before the supervisor's kill). */
  beforeKill(): void {
    if (this.initPid === 0) return;
    const now = processTreeFigures(this.initPid);
    if (now.maxRssBytes !== null && (this.maxRssBytes === null || now.maxRssBytes > this.maxRssBytes)) this.maxRssBytes = now.maxRssBytes;
    const was = this.contextSwitches;
    const cs = now.contextSwitches;
    if (cs !== null && (was === null || cs.voluntary + cs.involuntary > was.voluntary + was.involuntary)) this.contextSwitches = cs;
  }
}
