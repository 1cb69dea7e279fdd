/**
 * LaunchOutcome + measurements → Result: the status, the message, the figures, and the exit status of
 * `sandbox`. The order of the checks is the order of precedence: an abort, a sandbox failure, a time
 * limit, the memory limit (OOM kill), the output limit, then what the workload itself did.
 */
import { constants } from 'node:os';
import { EXIT_SANDBOX_FAILURE } from '../errors.js';
import { failureExitCode, failureMessage, type LaunchFailure } from './launcher-errors.js';
import type { Measurements, PreparedRun } from './prepare.js';
import type { Result, Status } from './result.js';
import { signalName } from './result.js';
import { CAPTURE_LIMIT_BYTES } from './stdio.js';
import { SETUP_TIMEOUT_MS, type LaunchOutcome } from './supervisor.js';

const SIGKILL = constants.signals.SIGKILL;
const SIGXCPU = constants.signals.SIGXCPU;
const SIGXFSZ = constants.signals.SIGXFSZ;

type Figures = Pick<Result, 'time' | 'memory'>;

/**
 * The workload's CPU time (ns, the launcher's setup excluded). With a cgroup: its counter as init
 * reaped the workload, where init sent it; for a killed run (init sends nothing), as read at the kill.
 * Read afterwards, it would also hold some of the sandbox's teardown (the end of its namespaces), 1-4 ms
 * on the dev VM. Without a cgroup: init's rusage, or for a killed run the /proc reading at the kill.
 */
function workloadCpuNs(outcome: LaunchOutcome, m: Measurements): number | null {
  const setupNs = outcome.setupCpuUs * 1000;
  if (!m.cgroup) return outcome.rusage ? outcome.rusage.cpuUs * 1000 : m.cpuAtKillNs;
  if (outcome.cpuAtExitNs !== null) return outcome.cpuAtExitNs - setupNs;
  if (outcome.killed !== null && m.cpuAtKillNs !== null) return m.cpuAtKillNs;
  return m.cgroup.cpuNs - setupNs;
}

function figures(outcome: LaunchOutcome, m: Measurements): Figures {
  const cg = m.cgroup;
  // init's rusage; for a killed run (init reports none), the /proc reading at the kill
  const maxRssBytes = outcome.rusage ? outcome.rusage.maxRssKiB * 1024 : m.atKill.maxRssBytes;
  const cpuNs = workloadCpuNs(outcome, m);
  const cpuMs = cpuNs === null ? null : Math.max(0, cpuNs) / 1e6;
  const peak = cg?.memoryPeakBytes ?? null;
  return {
    time: {
      cpuMs: cpuMs === null ? null : Math.round(cpuMs * 1000) / 1000,
      wallMs: Math.round(Number(outcome.wallNs) / 1000) / 1000,
      cpuSource: cg ? (m.cgroupDriver === 'v2' ? 'cgroup-v2' : 'cgroup-v1') : outcome.rusage ? 'rusage' : m.cpuAtKillNs !== null ? 'proc' : 'none',
      setupCpuMs: outcome.setupCpuUs / 1000,
      contextSwitches: outcome.rusage ? outcome.contextSwitches : m.atKill.contextSwitches, // as maxRssBytes
    },
    memory: {
      peakBytes: peak ?? maxRssBytes,
      source: peak !== null ? (cg?.memoryPeakSource ?? 'memory.peak') : outcome.rusage ? 'rusage max-rss' : maxRssBytes !== null ? 'proc VmHWM' : 'none',
      maxRssBytes,
      oomKilled: cg?.oomKilled ?? false,
    },
  };
}

function decide(outcome: LaunchOutcome, f: Figures, prepared: PreparedRun, outputExceeded: boolean): { status: Status; message: string; exitCode: number } {
  const sig = outcome.exit?.signal ?? null;
  const killedExit = sig !== null ? 128 + sig : 128 + SIGKILL;
  // Before a failure: a launcher killed mid-setup reports the step it was at as failed (e.g. `sync:
  // EPIPE`), which is the abort's doing. The exit status is the kill's; a caller that aborts on a
  // signal of its own reports 128+N for that one (the CLI does).
  if (outcome.killed === 'aborted') return { status: 'AB', message: 'aborted: the sandbox was killed on request', exitCode: killedExit };
  // Likewise for a setup that hung: the step it was killed at is not the cause.
  if (outcome.killed === 'setup-time') {
    return { status: 'XX', message: `the sandbox's setup did not finish within ${SETUP_TIMEOUT_MS / 1000} s and was killed (a bind source on a filesystem that does not answer?)`, exitCode: EXIT_SANDBOX_FAILURE };
  }
  if (outcome.failure) {
    return { status: 'XX', message: failureMessage(outcome.failure, prepared.plan), exitCode: failureExitCode(outcome.failure) };
  }
  const limits = prepared.limits;
  if (outcome.killed === 'wall-time') return { status: 'TO', message: `wall time limit exceeded (${limits.wallTimeMs} ms)`, exitCode: killedExit };
  const cpuOver = limits.cpuTimeMs !== undefined && f.time.cpuMs !== null && f.time.cpuMs >= limits.cpuTimeMs;
  if (outcome.killed === 'cpu-time' || sig === SIGXCPU || (sig === SIGKILL && cpuOver)) {
    return { status: 'TO', message: `CPU time limit exceeded (${limits.cpuTimeMs} ms)`, exitCode: killedExit };
  }
  if (f.memory.oomKilled) return { status: 'ML', message: `memory limit exceeded (${limits.memoryBytes} bytes): killed by the OOM killer`, exitCode: sig !== null ? killedExit : (outcome.exit?.code ?? killedExit) };
  if (outputExceeded || outcome.killed === 'output') {
    const message = limits.outputBytes !== undefined
      ? `output limit exceeded (${limits.outputBytes} bytes)`
      : `captured output past ${CAPTURE_LIMIT_BYTES} bytes, the most a run without an output limit may capture; set one (--output-limit, outputLimit)`;
    return { status: 'OL', message, exitCode: killedExit };
  }
  if (outcome.exit) {
    const { code } = outcome.exit;
    if (sig !== null) {
      const why = sig === SIGXFSZ ? `: file size limit exceeded (${limits.fsizeBytes} bytes)` : '';
      return { status: 'SG', message: `killed by signal ${sig} (${signalName(sig)})${why}`, exitCode: 128 + sig };
    }
    return code === 0
      ? { status: 'OK', message: 'exited normally', exitCode: 0 }
      : { status: 'RE', message: `exited with code ${code}`, exitCode: code ?? EXIT_SANDBOX_FAILURE };
  }
  const how = outcome.launcherSignal ? `was killed by ${outcome.launcherSignal}` : `exited with code ${outcome.launcherExitCode}`;
  return { status: 'XX', message: `the launcher ${how} without reporting the workload's status`, exitCode: EXIT_SANDBOX_FAILURE };
}

/** The error of an AB or XX verdict: ABORTED, SETUP_TIMEOUT, the launcher's failed step, or a launch that never reported. */
function errorOf(status: Status, failure: LaunchFailure | null, killed: LaunchOutcome['killed']): Result['error'] {
  // not the failure an abort or a setup timeout may have caused (see decide)
  if (status === 'AB') return { code: 'ABORTED' };
  if (status !== 'XX') return null;
  if (killed === 'setup-time') return { code: 'SETUP_TIMEOUT' };
  if (!failure) return { code: 'LAUNCH_FAILED' };
  return { code: failure.step === 'UID_SLOT' ? 'HOST_UNSUPPORTED' : 'LAUNCH_FAILED', step: failure.step, errno: String(failure.errno) };
}

export function outcomeToResult(outcome: LaunchOutcome, prepared: PreparedRun, m: Measurements, outputExceeded: boolean): Result {
  const f = figures(outcome, m);
  const d = decide(outcome, f, prepared, outputExceeded);
  return {
    status: d.status,
    message: d.message,
    exitCode: d.exitCode,
    // A failed launch never ran the command: the launcher's own exit status is not the workload's.
    workloadExitCode: outcome.failure ? null : outcome.exit?.code ?? null,
    signal: outcome.failure ? null : outcome.exit?.signal ?? null,
    killed: outcome.killed !== null || (d.status !== 'OK' && d.status !== 'RE' && d.status !== 'SG' && d.status !== 'XX'),
    killReason: outcome.killed ?? (d.status === 'ML' ? 'memory' : null),
    error: errorOf(d.status, outcome.failure, outcome.killed),
    ...f,
    limits: prepared.enforcement.report,
    policy: prepared.policyName,
    hostUid: outcome.hostUid ?? prepared.plan.identity.hostUid,
    ...(prepared.imageDigest ? { image: prepared.imageDigest } : {}),
    ...(m.cgroup ? { cgroups: m.cgroupPaths, pids: { peak: m.cgroup.pidsPeak ?? null, limitHits: m.cgroup.pidsLimitHits ?? null } } : {}),
  };
}
