/**
 * The largest resident set of a killed run's processes. A run that ends by itself gets it from its
 * init (getrusage of every process it reaped: isolate's max-rss); a run the sandbox kills (time limit,
 * output, abort) gets nothing from init, which is killed with it — so without a cgroup it had no
 * memory figure at all. This reads, just before the kill, the peak resident set (VmHWM) of each live
 * process under init (not init itself, which is ours), and keeps the largest. A process that had
 * already exited by then is not in it.
 */
import { readFileSync } from 'node:fs';
import { children } from './proc-cpu.js';

/** Largest VmHWM among the live descendants of `init`, bytes; null if none could be read. */
export function processTreeMaxRssBytes(init: number): number | null {
  let max: number | null = null;
  const stack = children(init);
  while (stack.length > 0) {
    const pid = stack.pop()!;
    let status: string;
    try {
      status = readFileSync(`/proc/${pid}/status`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const kib = /^VmHWM:\s+(\d+) kB$/m.exec(status);
    if (kib) max = Math.max(max ?? 0, Number(kib[1]) * 1024);
    stack.push(...children(pid));
  }
  return max;
}

/** A watchdog that only reads, at a kill: the max-RSS figure of a killed run. */
export class MaxRssAtKill {
  bytes: number | null = null;
  private initPid = 0;

  start(ctx: { initPid: number }): void {
    this.initPid = ctx.initPid;
  }

  stop(): void {}

  /** Read now; called again later, it keeps the larger figure (a second reading may find the
   * processes already gone: the CPU-time watchdog stops the cgroup before the supervisor's kill). */
  beforeKill(): void {
    if (this.initPid === 0) return;
    const now = processTreeMaxRssBytes(this.initPid);
    if (now !== null && (this.bytes === null || now > this.bytes)) this.bytes = now;
  }
}
