/**
 * What a run holds on the host and must give back: its cgroup (made in acquire(), or — rootless in a
 * systemd scope — once the launcher's scope exists) and the watchdogs that read it. release() removes
 * everything, also after a failure; a supervisor killed with SIGKILL leaves a cgroup that the next run
 * (sweepStaleOnce) or `sandbox doctor --clean` removes.
 */
import { mkdirSync, rmdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { SandboxError } from '../errors.js';
import type { CgroupLimits, CgroupProbe, CgroupStats, RunCgroup } from '../host/cgroup/index.js';
import { CpuTimeWatchdog } from '../limits/cpu-watchdog.js';
import type { Enforcement } from '../limits/mechanisms.js';
import { CpuAtKill, processTreeCpuNs } from '../limits/proc-cpu.js';
import { FiguresAtKill, type TreeFigures } from '../limits/proc-at-kill.js';
import type { LimitSpec } from '../limits/spec.js';
import { stopCgroupNow } from '../limits/stop-now.js';
import type { Watchdog } from './supervisor.js';

export interface Measurements {
  cgroup: CgroupStats | null;
  cgroupDriver: 'v2' | 'v1' | null;
  /** every leaf directory of the run's cgroup (removed by release()) */
  cgroupPaths: string[];
  /** the run's CPU clock (ns, setup excluded) as last read: at the kill, for a run that was killed (the
   * CPU-time watchdog's reading, or without a CPU limit CpuAtKill's); on the cgroup's clock when the
   * run has one, else from /proc. Null when nothing was read. */
  cpuAtKillNs: number | null;
  /** for a killed run, its processes' figures read from /proc just before the kill (init reports none) */
  atKill: TreeFigures;
}

let staleSwept = false;

/**
 * One spare cgroup per process, made while a run waits for its launcher (Node is idle then), and
 * taken by the next run with the same limits: a judge runs thousands with the same policy, and this
 * takes the group's creation (mkdir and limit writes in every hierarchy) off each run's path. It is
 * empty and belongs to this process (its name carries our pid and start time, so no other process's
 * sweep touches it); it is removed when the process exits, or by the stale sweep if it is killed.
 */
let spare: { key: string; cgroup: RunCgroup } | null = null;
let spareBeingMade = false;
let spareCleanupRegistered = false;

function removeSpareSync(): void {
  const s = spare;
  spare = null;
  for (const dir of s?.cgroup.paths ?? []) {
    try {
      rmdirSync(dir);
    } catch { /* already gone, or swept later */ }
  }
}

function takeSpare(key: string): RunCgroup | null {
  if (!spare) return null;
  if (spare.key !== key) {
    // another policy's limits: the next wait makes one for these
    void spare.cgroup.remove().catch(() => { /* left to the stale sweep */ });
    spare = null;
    return null;
  }
  const cg = spare.cgroup;
  spare = null;
  return cg;
}

async function makeSpare(key: string, limits: CgroupLimits): Promise<void> {
  if (spare || spareBeingMade) return;
  spareBeingMade = true;
  try {
    const { createRunCgroup } = await import('../host/cgroup/index.js');
    spare = { key, cgroup: await createRunCgroup(newRunId(), limits) };
    if (!spareCleanupRegistered) {
      spareCleanupRegistered = true;
      process.once('exit', removeSpareSync);
    }
  } catch { /* no spare: the next run makes its group itself, and reports what went wrong */ } finally {
    spareBeingMade = false;
  }
}

let runs = 0;

/** Unique within this process, which is all it needs to be: the group's name adds our pid and start time. */
function newRunId(): string {
  runs += 1;
  return `r${runs.toString(36)}`;
}

/** After a SIGKILLed supervisor, the next run removes what it left (once per process). */
async function sweepStaleOnce(): Promise<void> {
  if (staleSwept) return;
  staleSwept = true;
  const { cleanStaleCgroups } = await import('../host/cgroup/index.js');
  await cleanStaleCgroups().catch(() => { /* reported by `sandbox doctor --clean`; never blocks a run */ });
}

/** A cgroup that cannot enforce a requested limit: an error under "onUnenforceable": "error", else reported as not enforced. */
function checkEnforced(cg: RunCgroup, e: Enforcement, limits: LimitSpec): void {
  const missing: string[] = [];
  if (e.cgroup?.memoryBytes !== undefined && !cg.enforced.memory) missing.push('memory');
  if (e.cgroup?.pids !== undefined && !cg.enforced.pids) missing.push('pids');
  if (e.cgroup?.cpuCores !== undefined && !cg.enforced.cpuCores) missing.push('cpus');
  if (missing.length === 0) return;
  const why = cg.notes.join('; ');
  if (limits.onUnenforceable === 'error') {
    throw new SandboxError('LIMIT_UNENFORCEABLE', `the run's cgroup cannot enforce ${missing.join(', ')}${why ? ` (${why})` : ''}`);
  }
  for (const m of missing) {
    const r = e.report[m];
    if (r) e.report[m] = { ...r, mechanism: 'none', note: `not enforced: the cgroup cannot${why ? ` (${why})` : ''}` };
  }
}

/** What the plan needs of the run's cgroup: the files the launcher joins, and its CPU counter. */
export interface CgroupJoin {
  procs: string[];
  cpuUsage: string | null;
}

export class RunResources {
  readonly watchdogs: Watchdog[] = [];
  private cgroup: RunCgroup | null = null;
  private cpuWatchdog: CpuTimeWatchdog | null = null;
  /** no cgroup and no CPU limit: the /proc figure when the run is killed */
  private cpuAtKill: CpuAtKill | null = null;
  private atKill = new FiguresAtKill();
  private readonly runId = newRunId();

  constructor(
    private readonly limits: LimitSpec,
    private readonly enforcement: Enforcement,
    private readonly probe: CgroupProbe,
    /** as root: the directory of the launcher's uid-slot locks */
    private readonly lockDir: string | null,
  ) {
    // Without a cgroup the CPU clock is /proc, ready now; with one it starts when the group exists.
    if (!enforcement.cgroup) this.arm(null);
  }

  /** A systemd scope per run (rootless on a systemd v2 host): the cgroup comes with the launcher. */
  get inScope(): boolean {
    return this.enforcement.cgroup !== null && this.probe.scope === true;
  }

  /** Before the launcher starts: the lock directory, and the cgroup unless it comes with a scope. Returns the files the launcher joins. */
  async acquire(): Promise<CgroupJoin> {
    if (this.lockDir) mkdirSync(this.lockDir, { recursive: true, mode: 0o700 });
    if (!this.enforcement.cgroup || this.inScope) return { procs: [], cpuUsage: null };
    await sweepStaleOnce();
    const spareOne = takeSpare(this.spareKey);
    if (spareOne) return this.attach(spareOne);
    const { createRunCgroup } = await import('../host/cgroup/index.js');
    return this.attach(await createRunCgroup(this.runId, this.enforcement.cgroup));
  }

  private get spareKey(): string {
    return JSON.stringify(this.enforcement.cgroup);
  }

  /** The launcher has its plan: use the wait to make the next run's group (see `spare`). */
  prepareNext(): void {
    if (!this.enforcement.cgroup || this.inScope) return;
    const limits = this.enforcement.cgroup;
    setImmediate(() => void makeSpare(this.spareKey, limits));
  }

  /** In a scope: the run's groups inside the launcher's new scope. Returns the files the launcher joins. */
  async acquireInScope(launcherPid: number): Promise<CgroupJoin> {
    const { createScopedRunCgroup } = await import('../host/cgroup/index.js');
    return this.attach(await createScopedRunCgroup(this.runId, this.enforcement.cgroup!, launcherPid));
  }

  private attach(cg: RunCgroup): CgroupJoin {
    this.cgroup = cg;
    checkEnforced(cg, this.enforcement, this.limits);
    this.arm(cg);
    return { procs: [...cg.procsFiles], cpuUsage: cg.cpuUsageFile };
  }

  /** The run's CPU clock (its cgroup, or the /proc sum of its process tree) and who reads it: the CPU-time
   * watchdog, or without a CPU limit CpuAtKill, at a kill only. */
  private arm(cg: RunCgroup | null): void {
    this.watchdogs.push(this.atKill);
    const clock = this.enforcement.cpuClock === 'cgroup' && cg
      ? { usedNs: () => cg.cpuUsageNs() }
      : { usedNs: (initPid: number) => processTreeCpuNs(initPid) };
    if (this.limits.cpuTimeMs === undefined) {
      this.watchdogs.push(this.cpuAtKill = new CpuAtKill(clock));
      return;
    }
    const parallelism = Math.min(this.limits.cpus ?? Infinity, availableParallelism());
    // When the budget is gone, stop the sandbox at once (its init, through the cgroup that proves it is
    // still ours): that is immediate, while the launcher's teardown takes a few context switches.
    this.cpuWatchdog = new CpuTimeWatchdog(this.limits.cpuTimeMs * 1e6, clock, parallelism, (initPid) => {
      this.atKill.beforeKill(); // before the processes go
      if (cg) stopCgroupNow(cg, initPid);
    });
    this.watchdogs.push(this.cpuWatchdog);
  }

  /** Statistics of the finished run (read before release). */
  async measure(): Promise<Measurements> {
    const cg = this.cgroup;
    return {
      cgroup: cg ? await cg.stats() : null,
      cgroupDriver: cg?.driver ?? null,
      cgroupPaths: cg ? [...cg.paths] : [],
      // on the figure's own clock only: a cgroup without cpuacct (v1) is not read at the kill
      cpuAtKillNs: cg && this.enforcement.cpuClock !== 'cgroup' ? null : (this.cpuWatchdog ?? this.cpuAtKill)?.lastUsedNs ?? null,
      atKill: { maxRssBytes: this.atKill.maxRssBytes, contextSwitches: this.atKill.contextSwitches },
    };
  }

  async release(): Promise<void> {
    const cg = this.cgroup;
    this.cgroup = null;
    await cg?.remove();
  }
}
