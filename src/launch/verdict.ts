/**
 * LaunchOutcome (+ measurements) → Result: the status, the message and the exit status of `sandbox`.
 */
import { EXIT_SANDBOX_FAILURE } from '../errors.js';
import { failureExitCode, failureMessage } from './launcher-errors.js';
import type { PreparedRun } from './prepare.js';
import type { Result } from './result.js';
import { signalName } from './result.js';
import type { LaunchOutcome } from './supervisor.js';

export async function outcomeToResult(outcome: LaunchOutcome, prepared: PreparedRun): Promise<Result> {
  const plan = prepared.plan;
  const base = {
    workloadExitCode: outcome.exit?.code ?? null,
    signal: outcome.exit?.signal ?? null,
    killed: outcome.killed !== null,
    killReason: outcome.killed,
    error: null,
    time: { cpuMs: null, wallMs: Number(outcome.wallNs / 1_000_000n), cpuSource: 'none' as const },
    memory: { peakBytes: null, source: 'none' as const, oomKilled: false },
    limits: {},
    policy: prepared.policyName,
    hostUid: plan.identity.hostUid,
  };

  if (outcome.failure) {
    const f = outcome.failure;
    return {
      ...base,
      status: 'XX',
      message: failureMessage(f, plan),
      exitCode: failureExitCode(f),
      error: { code: 'LAUNCH_FAILED', step: f.step, errno: String(f.errno) },
    };
  }
  if (outcome.killed === 'wall-time' || outcome.killed === 'cpu-time') {
    return { ...base, status: 'TO', message: `${outcome.killed === 'wall-time' ? 'wall' : 'CPU'} time limit exceeded`, exitCode: 128 + 9, signal: 9 };
  }
  if (outcome.killed === 'aborted') {
    return { ...base, status: 'XX', message: 'aborted: the sandbox was killed on request', exitCode: 128 + 15, signal: 9 };
  }
  if (outcome.exit) {
    const { code, signal } = outcome.exit;
    if (signal !== null) {
      return { ...base, status: 'SG', message: `killed by signal ${signal} (${signalName(signal)})`, exitCode: 128 + signal };
    }
    return { ...base, status: code === 0 ? 'OK' : 'RE', message: code === 0 ? 'exited normally' : `exited with code ${code}`, exitCode: code ?? 0 };
  }
  const how = outcome.launcherSignal ? `was killed by ${outcome.launcherSignal}` : `exited with code ${outcome.launcherExitCode}`;
  return {
    ...base,
    status: 'XX',
    message: `the launcher ${how} without reporting the workload's status`,
    exitCode: EXIT_SANDBOX_FAILURE,
    error: { code: 'LAUNCH_FAILED' },
  };
}
