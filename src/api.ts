/**
 * Library entry point: `run(options) → Promise<Result>`, the same options as `sandbox exec` in
 * camelCase. Safe to call many times and concurrently in one process: every run owns its plan, its
 * launcher process, its pipes, its uid slot and cgroup, and releases them before the promise settles.
 *
 *   const r = await run({ policy: 'judge', command: ['./a.out'], stdin: input, stdout: 'buffer', cpuTime: '1s' });
 */
import { EXIT_SANDBOX_FAILURE, isSandboxError, SandboxError } from './errors.js';
import { prepareRun, type Measurements, type PreparedRun, type RunSpec } from './launch/prepare.js';
import { failureResult, type Result } from './launch/result.js';
import { kindOf } from './launch/run-spec.js';
import { checkStdioOptions, openStdio, type OutputOption, type StdinOption, type Stdio } from './launch/stdio.js';
import { supervise, type LaunchOutcome } from './launch/supervisor.js';
import { outcomeToResult } from './launch/verdict.js';
import { clip } from './launch/wire.js';

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
    prepared = await prepareRun(opts); // checks the RunSpec's option types first
    checkRunOptions(opts);
  } catch (e) {
    if (!isSandboxError(e)) throw e;
    return failureResult(e.code, e.message, typeof opts?.policy === 'string' ? opts.policy : 'default');
  }
  let stdio: Stdio | null = null;
  try {
    // getters: Node makes process.stdout on first use (~5 ms), which a relayed or inherited output never needs
    const own = { get stdout() { return process.stdout; }, get stderr() { return process.stderr; } };
    stdio = openStdio(opts, prepared.limits.outputBytes, own, opts.launcher === 'spawn');
    await prepared.acquire();
    const { outcome, measurements } = await superviseRun(prepared, stdio, opts);
    await stdio.drained();
    // past the output limit: counted here, or by the launcher for the outputs it relays
    const outputExceeded = stdio.limiter.exceeded || outcome.killed === 'output';
    const result = outcomeToResult(outcome, prepared, measurements, outputExceeded);
    if (stdio.input?.failure && !outcome.failure) inputFailed(result, stdio.input.failure);
    if (opts.stdout === 'buffer') result.stdout = Buffer.concat(stdio.stdout);
    if (opts.stderr === 'buffer') result.stderr = Buffer.concat(stdio.stderr);
    if (outputExceeded) result.outputTruncated = true;
    return result;
  } catch (e) {
    if (!isSandboxError(e)) throw e;
    return failureResult(e.code, e.message, prepared.policyName, { limits: prepared.enforcement.report });
  } finally {
    stdio?.close();
    await prepared.release();
  }
}

/**
 * The types of run()'s own options (prepareRun checks the RunSpec's), which TypeScript checks for
 * TypeScript callers only: from JavaScript a wrong type threw a TypeError from deep inside (or was
 * silently taken for a default) instead of a Result.
 */
function checkRunOptions(opts: RunOptions): void {
  checkStdioOptions(opts);
  const o = opts as unknown as Record<string, unknown>;
  if (o['launcher'] !== undefined && o['launcher'] !== 'zygote' && o['launcher'] !== 'spawn') {
    throw new SandboxError('USAGE', `launcher must be 'zygote' or 'spawn', not ${typeof o['launcher'] === 'string' ? `'${clip(o['launcher'])}'` : kindOf(o['launcher'])}`);
  }
  if (o['signal'] !== undefined && !(o['signal'] instanceof AbortSignal)) throw new SandboxError('USAGE', `signal must be an AbortSignal, not ${kindOf(o['signal'])}`);
}

/**
 * The caller's stdin stream failed (stdio.ts, InputFeed): the workload got EOF and was stopped. No
 * verdict on a truncated input: status XX. The figures stay (what the run used until then). USAGE: the
 * stream is the caller's option, and it failing is on the caller's side, not the sandbox's.
 */
function inputFailed(result: Result, e: Error): void {
  Object.assign(result, {
    status: 'XX',
    message: `stdin: the input stream failed (${clip(e.message)}); the workload got EOF and was stopped, the run has no verdict`,
    exitCode: EXIT_SANDBOX_FAILURE,
    error: { code: 'USAGE' },
  } satisfies Partial<Result>);
}

/**
 * The launch, watched to its end, and the run's statistics. Two waits are put to use: while the
 * launcher works, the next run's cgroup is made (a process that runs many sandboxes, the zygote's
 * case); once the workload has exited, its statistics are read while the launcher still tears the
 * namespaces down (that teardown is not the workload's).
 */
async function superviseRun(prepared: PreparedRun, io: Stdio, opts: RunOptions): Promise<{ outcome: LaunchOutcome; measurements: Measurements }> {
  const launcher = opts.launcher ?? 'zygote';
  let measured: Promise<Measurements> | null = null;
  const measure = () => {
    if (!measured) {
      measured = prepared.measure();
      measured.catch(() => { /* awaited below, where a failure is reported */ });
    }
    return measured;
  };
  prepared.watchdogs.push(io.limiter);
  const outcome = await supervise({
    plan: prepared.plan,
    stdio: io.slots,
    relay: io.relay,
    // the output limit, or the cap on captured output (stdio.ts)
    ...(io.limiter.limit !== undefined ? { relayLimit: io.limiter.limit } : {}),
    launcher,
    onSpawn: (childStdio) => {
      io.attach(childStdio);
      if (launcher === 'zygote') prepared.prepareNext();
    },
    onWorkloadExit: measure,
    // in a systemd scope, the run's cgroups go with the launcher: it waits until they are read
    ...(prepared.wrapper ? { hold: measure } : {}),
    ...(prepared.wallTimeMs !== undefined ? { wallTimeMs: prepared.wallTimeMs } : {}),
    // the same array: a run in a systemd scope adds its CPU watchdog once the scope exists
    watchdogs: prepared.watchdogs,
    wrapper: prepared.wrapper,
    ...(prepared.beforePlan ? { beforePlan: prepared.beforePlan } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return { outcome, measurements: await measure() };
}

/** Build the LaunchPlan without running anything (what `sandbox exec --dry-run` prints). */
export async function plan(opts: RunSpec): Promise<PreparedRun['plan']> {
  return (await prepareRun(opts)).plan;
}
