/**
 * CPU-time limit with an overrun of about a millisecond instead of a fixed polling period: a timer is
 * armed for the remaining budget divided by the number of CPUs the sandbox can use at once (it cannot
 * consume CPU faster than that), the usage is re-read when it fires, and the timer is re-armed for
 * what is left — so checks get denser only near the limit. All threads and processes of the sandbox
 * count: the clock is the run's cgroup (or the /proc sum of its process tree).
 */
import type { KillReason, Watchdog } from '../launch/supervisor.js';

export interface CpuClock {
  /** CPU time used by the sandbox so far, ns (including the launcher's setup); initPid: host pid of its init */
  usedNs(initPid: number): number;
}

const MIN_DELAY_MS = 1;
const MAX_DELAY_MS = 1000;

export class CpuTimeWatchdog implements Watchdog {
  private timer: NodeJS.Timeout | null = null;
  private kill: ((r: KillReason) => void) | null = null;
  private initPid = 0;
  private setupNs = 0;
  /** usage (ns) when the limit was found exceeded, for the report */
  exceededAtNs: number | null = null;
  /** the last usage read (ns, setup excluded): the best figure left when the run is killed */
  lastUsedNs: number | null = null;

  constructor(
    private readonly budgetNs: number,
    private readonly clock: CpuClock,
    /** how many CPUs the sandbox can run on at once */
    private readonly parallelism: number,
    /** called once when the limit is exceeded, before the generic kill (e.g. stop the sandbox at once) */
    private readonly onExceeded: (initPid: number) => void = () => {},
  ) {}

  start(ctx: { kill(reason: KillReason): void; initPid: number; setupCpuNs: number }): void {
    this.kill = ctx.kill;
    this.initPid = ctx.initPid;
    // The launcher's own setup CPU is on the same clock but is not the workload's budget.
    this.setupNs = ctx.setupCpuNs;
    this.check();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.kill = null;
  }

  /** Killed for another reason (wall time, output): the reading of that moment, not of the last check. */
  beforeKill(): void {
    if (this.kill) this.lastUsedNs = this.read();
  }

  private read(): number {
    try {
      // Never below 0: the /proc clock moves in 10 ms ticks, the setup figure is exact, so early in a
      // run the difference can be negative (and was reported as negative CPU time).
      return Math.max(0, this.clock.usedNs(this.initPid) - this.setupNs);
    } catch {
      return 0; // the sandbox is going away (its /proc entries vanish): the exit path takes over
    }
  }

  private check = (): void => {
    if (!this.kill) return;
    const used = this.read();
    this.lastUsedNs = used;
    const remaining = this.budgetNs - used;
    if (remaining <= 0) {
      this.exceededAtNs = used;
      this.onExceeded(this.initPid);
      this.kill('cpu-time');
      return;
    }
    const delay = Math.min(MAX_DELAY_MS, Math.max(MIN_DELAY_MS, remaining / this.parallelism / 1e6));
    this.timer = setTimeout(this.check, delay);
  };
}
