/**
 * Library entry point: `run(options) → Promise<Result>`, the same options as `sandbox exec` in
 * camelCase. Safe to call many times and concurrently in one process: every run owns its plan, its
 * launcher process, its pipes, its uid slot and cgroup, and releases them before the promise settles.
 *
 *   const r = await run({ policy: 'judge', command: ['./a.out'], stdin: input, stdout: 'buffer', cpuTime: '1s' });
 */
import { isSandboxError } from './errors.js';
import { prepareRun, type Measurements, type PreparedRun, type RunSpec } from './launch/prepare.js';
import { failureResult, type Result } from './launch/result.js';
import { openStdio, type OutputOption, type StdinOption, type Stdio } from './launch/stdio.js';
import { supervise } from './launch/supervisor.js';
import { outcomeToResult } from './launch/verdict.js';

export type { Result, Status, LimitReport, Mechanism } from './launch/result.js';
export type { LaunchPlan } from './launch/types.js';
export type { RunSpec, PreparedRun } from './launch/prepare.js';
export type { StdinOption, OutputOption } from './launch/stdio.js';
export { SandboxError, type SandboxErrorCode } from './errors.js';

export interface RunOptions extends RunSpec {
  /** default 'inherit' */
  stdin?: StdinOption;
  /** 'inherit' (default), 'ignore', 'buffer' (Result.stdout), or a Writable */
  stdout?: OutputOption;
  stderr?: OutputOption;
  /** abort the run: the sandbox is killed and cleaned up; the Result says 'aborted' */
  signal?: AbortSignal;
  /**
   * How the launcher process starts. 'zygote' (default): forked by a small helper process that this
   * process starts once and keeps (it exits with this process) — the fast path for a process that
   * runs many sandboxes. 'spawn': spawned from Node for this run only, as the CLI does.
   */
  launcher?: 'zygote' | 'spawn';
}

/**
 * Run a command in a sandbox: prepare (no side effects) → acquire (uid slot, cgroup) → supervise →
 * measure → release. Never throws for sandbox failures: they are a Result with status XX.
 */
export async function run(opts: RunOptions): Promise<Result> {
  let prepared: PreparedRun;
  try {
    prepared = await prepareRun(opts);
  } catch (e) {
    if (!isSandboxError(e)) throw e;
    return failureResult(e.code, e.message, opts.policy ?? 'default');
  }
  let stdio: Stdio | null = null;
  try {
    stdio = await openStdio(opts, prepared.limits.outputBytes, { stdout: process.stdout, stderr: process.stderr });
    await prepared.acquire();
    const io = stdio;
    prepared.watchdogs.push(io.limiter);
    // The run's statistics are read as soon as the workload has exited, while the launcher is still
    // tearing the namespaces down: that wait is free, and the teardown is not the workload's.
    let measured: Promise<Measurements> | null = null;
    const launcher = opts.launcher ?? 'zygote';
    const outcome = await supervise({
      plan: prepared.plan,
      stdio: io.slots,
      onSpawn: () => {
        io.attach();
        // a process that runs many sandboxes (the zygote's case) gets the next run's cgroup made now
        if (launcher === 'zygote') prepared.prepareNext();
      },
      launcher,
      onWorkloadExit: () => {
        measured = prepared.measure();
        measured.catch(() => { /* awaited below, where a failure is reported */ });
      },
      ...(prepared.wallTimeMs !== undefined ? { wallTimeMs: prepared.wallTimeMs } : {}),
      // the same array: a run in a systemd scope adds its CPU watchdog once the scope exists
      watchdogs: prepared.watchdogs,
      wrapper: prepared.wrapper,
      ...(prepared.beforePlan ? { beforePlan: prepared.beforePlan } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    await io.drained();
    const result = outcomeToResult(outcome, prepared, await (measured ?? prepared.measure()), io.limiter.exceeded);
    if (opts.stdout === 'buffer') result.stdout = Buffer.concat(io.stdout);
    if (opts.stderr === 'buffer') result.stderr = Buffer.concat(io.stderr);
    if (io.limiter.exceeded) result.outputTruncated = true;
    return result;
  } catch (e) {
    if (!isSandboxError(e)) throw e;
    return failureResult(e.code, e.message, prepared.policyName, { limits: prepared.enforcement.report });
  } finally {
    stdio?.close();
    await prepared.release();
  }
}

/** Build the LaunchPlan without running anything (what `sandbox exec --dry-run` prints). */
export async function plan(opts: RunSpec): Promise<PreparedRun['plan']> {
  return (await prepareRun(opts)).plan;
}
