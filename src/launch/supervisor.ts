/**
 * Supervisor: runs native/sandbox-launcher on a plan and waits for the outcome. The launcher is forked
 * by this process's zygote (zygote.ts) or spawned (one-run processes such as the CLI, and runs in a
 * systemd scope); either way it gets the plan as fd 3 and reports on fd 4. The supervisor reads the
 * structured reports, enforces the wall clock (and whatever a Watchdog adds), and tears the sandbox
 * down on request: SIGTERM to the launcher, which kills the sandbox's init — the kernel then kills
 * every process of the pid namespace — and exits only once init is reaped.
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import { resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { SandboxError } from '../errors.js';
import { packageRoot } from '../policy/paths.js';
import type { LaunchFailure } from './launcher-errors.js';
import type { LaunchPlan } from './types.js';
import type { LauncherHandle, StdioFd } from './launcher-process.js';
import { spawnLauncherProcess } from './spawn.js';
import { decodeReport, decodeWaitStatus, encodePlan, fixedRecords, REPORT_SIZE } from './wire.js';

/** 'setup-time': the sandbox's setup did not finish within SETUP_TIMEOUT_MS (a failure, not an abort) */
export type KillReason = 'wall-time' | 'cpu-time' | 'output' | 'aborted' | 'setup-time';

/** Something that watches a running sandbox (CPU time, output bytes) and may ask to kill it. */
export interface Watchdog {
  /** called when the workload has been forked; setupCpuNs: CPU the launcher spent on setup */
  start(ctx: { initPid: number; kill(reason: KillReason): void; setupCpuNs: number }): void;
  stop(): void;
  /** the run is about to be killed (once, for whatever reason): the last moment its processes can be read */
  beforeKill?(): void;
}

/** How one of the workload's stdio fds is provided: the supervisor's own, none, an fd, or (spawned
 * launcher only) a pipe to this process that the launcher relays the workload's output to (`relay`). */
export type StdioSlot = StdioFd | 'pipe';

export interface SuperviseRequest {
  plan: LaunchPlan;
  /** a command prefix the launcher runs under (e.g. systemd-run … --scope --), which must exec it in place */
  wrapper?: string[] | null;
  /** called with the launcher's pid before the plan is sent; returns the plan to send (e.g. with cgroups
   * made for the launcher's new scope) */
  beforePlan?: (pid: number) => Promise<LaunchPlan>;
  stdio: [StdioSlot, StdioSlot, StdioSlot];
  /** outputs the launcher relays from pipes of its own to its own fds (native/relay.c) */
  relay?: ('stdout' | 'stderr')[];
  /** bytes of relayed output the launcher copies (both outputs together); past it, the run ends as 'output' */
  relayLimit?: number;
  /** called once the launcher holds its stdio fds (our copies of pipe ends can be closed); a spawned
   * launcher's stdio streams come with it */
  onSpawn?: (childStdio?: readonly (Readable | Writable | null | undefined)[]) => void;
  /** 'zygote': fork it from this process's zygote (zygote.ts), for processes that run many sandboxes;
   * 'spawn': spawn it from Node (a process that runs one, like the CLI; always with a wrapper) */
  launcher?: 'zygote' | 'spawn';
  /** called when init reports the workload's exit, while the sandbox is still being torn down */
  onWorkloadExit?: () => void;
  /**
   * With a wrapper: the launcher (--hold) waits, once the sandbox has ended, until this settles, and
   * only then exits. A systemd scope lives as long as a process is in it, and the run's cgroups are in
   * the scope: they must be read (the run's statistics) before the launcher, the scope's last process,
   * is gone. */
  hold?: () => Promise<unknown>;
  wallTimeMs?: number;
  watchdogs?: Watchdog[];
  signal?: AbortSignal;
}

export interface LaunchOutcome {
  /** the workload's own exit, when it ran */
  exit: { code: number | null; signal: number | null } | null;
  /** max RSS and CPU of every process the sandbox's init reaped (getrusage RUSAGE_CHILDREN) */
  rusage: { maxRssKiB: number; cpuUs: number } | null;
  /** context switches of the same processes (getrusage's ru_nvcsw, ru_nivcsw) */
  contextSwitches: { voluntary: number; involuntary: number } | null;
  /** the run cgroup's CPU time (ns) as init reaped the workload (plans with cpuUsageFile), before the
   * sandbox's teardown; null when init did not send it (killed with the workload, or no cgroup) */
  cpuAtExitNs: number | null;
  /** CPU the launcher's own processes spent on setup (µs), not the workload's */
  setupCpuUs: number;
  failure: LaunchFailure | null;
  killed: KillReason | null;
  initPid: number | null;
  /** the host uid the sandbox ran as, when the launcher chose it from uid slots */
  hostUid: number | null;
  launcherExitCode: number | null;
  launcherSignal: NodeJS.Signals | null;
  /** nanoseconds from the workload's start (forked by init) to its exit */
  wallNs: bigint;
}

/** Grace period for the launcher to reap the sandbox after SIGTERM before it is SIGKILLed itself. */
const TEARDOWN_GRACE_MS = 2000;
/** Setup (namespaces, mounts) that takes longer than this is stuck (e.g. on a hung network mount). */
export const SETUP_TIMEOUT_MS = 30_000;

let launcher: string | null = null;

export function launcherPath(): string {
  if (launcher) return launcher;
  const path = resolve(packageRoot(), 'native/build/sandbox-launcher');
  try {
    accessSync(path, fsConstants.X_OK);
  } catch {
    throw new SandboxError('LAUNCHER_MISSING', `the native launcher is not built (${path}); run \`npm run build:native\` (needs a C compiler: apt-get install gcc make)`);
  }
  return (launcher = path);
}

/** Spawn the launcher (optionally under a wrapper) and send it the plan on fd 3. */
function spawnLauncher(req: SuperviseRequest, launcher: string, onFailure: (e: unknown) => void): LauncherHandle {
  // An empty environment for the launcher: the workload's env comes from the plan only. A wrapper
  // (systemd-run) gets what it needs to reach the user's service manager, and nothing else.
  const launcherArgs = [launcher, '--parent-pid', String(process.pid), ...(req.hold ? ['--hold'] : [])];
  const argv = req.wrapper ? [...req.wrapper, ...launcherArgs] : launcherArgs;
  const env: string[] = [];
  if (req.wrapper) {
    for (const k of ['XDG_RUNTIME_DIR', 'DBUS_SESSION_BUS_ADDRESS']) if (process.env[k]) env.push(`${k}=${process.env[k]}`);
  }
  const withRelay = (plan: LaunchPlan): LaunchPlan => (req.relay?.length
    ? { ...plan, relay: req.relay, ...(req.relayLimit !== undefined ? { relayLimit: req.relayLimit } : {}) }
    : plan);
  const child = spawnLauncherProcess(argv, env, req.stdio, req.beforePlan ? null : encodePlan(withRelay(req.plan)));
  if (req.beforePlan) {
    // The launcher waits for its plan on fd 3; nothing has run yet if this fails.
    req.beforePlan(child.pid).then(
      (plan) => child.sendPlan(encodePlan(withRelay(plan))),
      (e: unknown) => {
        child.kill('SIGKILL');
        child.onExit(() => onFailure(e));
      },
    );
  }
  return child;
}

/** The zygote path for runs that need no wrapper (one fork of a small process instead of a spawn from Node). */
async function zygoteLauncher(req: SuperviseRequest, launcher: string): Promise<LauncherHandle> {
  const { launchThroughZygote } = await import('./zygote.js');
  if (req.stdio.includes('pipe') || req.relay?.length) throw new Error('internal: relayed outputs need a spawned launcher');
  return launchThroughZygote(launcher, encodePlan(req.plan), req.stdio as [StdioFd, StdioFd, StdioFd]);
}

export async function supervise(req: SuperviseRequest): Promise<LaunchOutcome> {
  const launcher = launcherPath();
  const viaZygote = req.launcher === 'zygote' && !req.wrapper && !req.beforePlan && !req.relay?.length;
  const zygoteHandle = viaZygote ? await zygoteLauncher(req, launcher) : null;
  return new Promise((resolvePromise, reject) => {
    const outcome: LaunchOutcome = {
      exit: null, rusage: null, contextSwitches: null, cpuAtExitNs: null, setupCpuUs: 0, failure: null, killed: null, initPid: null, hostUid: null,
      launcherExitCode: null, launcherSignal: null, wallNs: 0n,
    };
    // The workload's wall time, on CLOCK_MONOTONIC (process.hrtime's clock): from init's own clock
    // reports (its fork and its reaping of the workload) where it sent them, which our event loop's
    // lag does not blur (both reports of a short run can arrive in one tick); else when we learn of it.
    let forkedAt: bigint | null = null;
    let startedAt: bigint | null = null;
    let endedAt: bigint | null = null;
    const timers: NodeJS.Timeout[] = [];
    let exited = false;
    let reportsDone = false;

    const fail = (e: unknown) => {
      exited = true;
      reportsDone = true;
      for (const t of timers) clearTimeout(t);
      req.signal?.removeEventListener('abort', onAbort);
      reject(e);
    };
    const child = zygoteHandle ?? spawnLauncher(req, launcher, fail);

    const kill = (reason: KillReason) => {
      if (exited) return;
      // The workload stops now: that is the end of its wall time, not when teardown finishes.
      if (startedAt !== null) endedAt ??= process.hrtime.bigint();
      if (outcome.killed === null) for (const w of req.watchdogs ?? []) w.beforeKill?.();
      outcome.killed ??= reason;
      child.kill('SIGTERM');
      const t = setTimeout(() => { if (!exited) child.kill('SIGKILL'); }, TEARDOWN_GRACE_MS);
      t.unref();
      timers.push(t);
    };

    const finish = () => {
      if (!exited || !reportsDone) return;
      for (const t of timers) clearTimeout(t);
      for (const w of req.watchdogs ?? []) w.stop();
      req.signal?.removeEventListener('abort', onAbort);
      if (startedAt !== null) outcome.wallNs = (endedAt ?? process.hrtime.bigint()) - startedAt;
      resolvePromise(outcome);
    };

    let setupGuard: NodeJS.Timeout | null = null;
    // The workload's clocks start when init has forked it: setup is not the workload's time.
    const workloadStarted = (initPid: number) => {
      if (setupGuard) clearTimeout(setupGuard);
      const began = forkedAt ?? process.hrtime.bigint();
      startedAt = began;
      // Counted from the fork, not from when we heard of it; and never a kill before the limit: a
      // timer may fire up to a millisecond early by our clock (libuv's loop time is whole ms, cached
      // per iteration), so one that finds time left is set again for the rest.
      const limit = req.wallTimeMs;
      const checkWallTime = () => {
        const left = limit! - Number(process.hrtime.bigint() - began) / 1e6;
        if (left > 0) timers.push(setTimeout(checkWallTime, Math.ceil(left)));
        else kill('wall-time');
      };
      if (limit !== undefined) checkWallTime();
      for (const w of req.watchdogs ?? []) w.start({ initPid, kill, setupCpuNs: outcome.setupCpuUs * 1000 });
    };

    const onAbort = () => kill('aborted');
    if (req.signal?.aborted) kill('aborted');
    req.signal?.addEventListener('abort', onAbort, { once: true });

    child.reports.on('data', fixedRecords(REPORT_SIZE, (record) => {
      const r = decodeReport(record);
      if (r.type === 'started') {
        outcome.initPid = r.initPid;
        setupGuard = setTimeout(() => kill('setup-time'), SETUP_TIMEOUT_MS);
        timers.push(setupGuard);
      } else if (r.type === 'setup') {
        outcome.setupCpuUs += r.cpuUs;
        if (r.who === 2 && outcome.initPid !== null) workloadStarted(outcome.initPid);
      } else if (r.type === 'clock') {
        // 'end': the workload's own end, unless a kill we decided came first (the wall time ends there)
        if (r.which === 'start') forkedAt = r.ns;
        else endedAt = endedAt !== null && endedAt < r.ns ? endedAt : r.ns;
      } else if (r.type === 'cpu') {
        outcome.cpuAtExitNs = Number(r.ns);
      } else if (r.type === 'exit') {
        endedAt ??= process.hrtime.bigint();
        outcome.exit = decodeWaitStatus(r.waitStatus);
        req.onWorkloadExit?.();
      } else if (r.type === 'output') {
        // The launcher has killed the sandbox already: its end is the workload's end.
        if (startedAt !== null) endedAt ??= process.hrtime.bigint();
        outcome.killed ??= 'output';
      } else if (r.type === 'uid') {
        outcome.hostUid = r.hostUid;
      } else if (r.type === 'held') {
        const release = () => child.kill('SIGUSR1');
        (req.hold ? req.hold() : Promise.resolve()).then(release, release);
      } else if (r.type === 'rusage') {
        outcome.rusage = { maxRssKiB: r.maxRssKiB, cpuUs: r.cpuUs };
      } else if (r.type === 'csw') {
        outcome.contextSwitches = { voluntary: r.voluntary, involuntary: r.involuntary };
      } else {
        outcome.failure ??= { step: r.step, errno: r.errno, index: r.index };
      }
    }));
    child.reports.on('close', () => { reportsDone = true; finish(); });
    child.onExit((code, signal) => {
      exited = true;
      outcome.launcherExitCode = code;
      outcome.launcherSignal = signal;
      finish();
    });
    req.onSpawn?.(child.stdio);
  });
}
