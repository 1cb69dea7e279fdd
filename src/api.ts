/**
 * Library entry point: `run(options) → Promise<Result>`, the same options as `sandbox exec` in
 * camelCase. Safe to call many times and concurrently in one process: every run owns its plan, its
 * launcher process, its uid slot and cgroup, and releases them before the promise settles.
 *
 *   const r = await run({ policy: 'strict', command: ['/bin/echo', 'hi'], stdout: 'buffer' });
 */
import type { ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { isSandboxError, SandboxError } from './errors.js';
import { prepareRun, type PreparedRun, type RunSpec } from './launch/prepare.js';
import { supervise } from './launch/supervisor.js';
import { failureResult, type Result } from './launch/result.js';
import { outcomeToResult } from './launch/verdict.js';

export type { Result, Status } from './launch/result.js';
export type { LaunchPlan } from './launch/types.js';
export { SandboxError } from './errors.js';

export type StdinOption = 'inherit' | 'ignore' | string | Buffer | Readable;
export type OutputOption = 'inherit' | 'ignore' | 'buffer' | Writable;

export interface RunOptions extends RunSpec {
  stdin?: StdinOption;
  stdout?: OutputOption;
  stderr?: OutputOption;
  /** abort the run: the sandbox is killed and cleaned up, and the Result says 'aborted' */
  signal?: AbortSignal;
}

export { prepareRun, type PreparedRun, type RunSpec };

function stdinMode(s: StdinOption | undefined): 'inherit' | 'ignore' | 'pipe' {
  if (s === undefined || s === 'inherit') return 'inherit';
  if (s === 'ignore') return 'ignore';
  return 'pipe';
}

function outputMode(s: OutputOption | undefined): 'inherit' | 'ignore' | 'pipe' {
  if (s === undefined || s === 'inherit') return 'inherit';
  if (s === 'ignore') return 'ignore';
  return 'pipe';
}

interface Captured { stdout: Buffer[]; stderr: Buffer[] }

function connectStdio(child: ChildProcess, opts: RunOptions, captured: Captured): void {
  const input = opts.stdin;
  if (child.stdin) {
    child.stdin.on('error', () => { /* the workload may exit without reading its input */ });
    if (typeof input === 'string' || Buffer.isBuffer(input)) child.stdin.end(input);
    else if (input && typeof input === 'object') (input as Readable).pipe(child.stdin);
  }
  const route = (stream: Readable | null, opt: OutputOption | undefined, sink: Buffer[]) => {
    if (!stream) return;
    if (opt === 'buffer') stream.on('data', (c: Buffer) => sink.push(c));
    else if (opt && typeof opt === 'object') stream.pipe(opt, { end: false });
  };
  route(child.stdout, opts.stdout, captured.stdout);
  route(child.stderr, opts.stderr, captured.stderr);
}

/** Run a command in a sandbox. Never throws for sandbox failures: they are a Result with status XX. */
export async function run(opts: RunOptions): Promise<Result> {
  let prepared: PreparedRun;
  try {
    prepared = await prepareRun(opts);
  } catch (e) {
    if (!isSandboxError(e)) throw e;
    return failureResult(e.code, e.message, opts.policy ?? 'default');
  }
  const captured: Captured = { stdout: [], stderr: [] };
  try {
    await prepared.acquire();
    const outcome = await supervise({
      plan: prepared.plan,
      stdio: [stdinMode(opts.stdin), outputMode(opts.stdout), outputMode(opts.stderr)],
      onSpawn: (child) => connectStdio(child, opts, captured),
      wallTimeMs: prepared.wallTimeMs,
      watchdogs: prepared.watchdogs,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const result = await outcomeToResult(outcome, prepared);
    if (opts.stdout === 'buffer') result.stdout = Buffer.concat(captured.stdout);
    if (opts.stderr === 'buffer') result.stderr = Buffer.concat(captured.stderr);
    return result;
  } catch (e) {
    if (!isSandboxError(e)) throw e;
    return failureResult(e.code, e.message, prepared.policyName);
  } finally {
    await prepared.release();
  }
}

/** Build the LaunchPlan without running anything (what `sandbox exec --dry-run` prints). */
export async function plan(opts: RunSpec): Promise<PreparedRun['plan']> {
  const prepared = await prepareRun(opts);
  return prepared.plan;
}

export function assertSandboxError(e: unknown): asserts e is SandboxError {
  if (!isSandboxError(e)) throw e;
}
