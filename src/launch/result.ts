/**
 * The Result of a run: one object for the CLI (`--json`), the library (`run()`), and the isolate-style
 * meta file. Statuses: OK, RE (non-zero exit), SG (killed by a signal), TO (time limit), ML (memory
 * limit), OL (output limit), XX (the sandbox itself failed).
 */
import { constants } from 'node:os';
import { EXIT_SANDBOX_FAILURE, type SandboxErrorCode } from '../errors.js';

export type Status = 'OK' | 'RE' | 'SG' | 'TO' | 'ML' | 'OL' | 'XX';

/** How a limit was enforced: which kernel mechanism, or that it could not be. */
export type Mechanism =
  | 'cgroup-v2' | 'cgroup-v1' | 'rlimit' | 'supervisor' | 'tmpfs' | 'seccomp' | 'namespace' | 'none';

export interface LimitReport {
  /** the limit, in bytes, milliseconds, a count or cores */
  value: number;
  mechanism: Mechanism;
  /** set when the limit is enforced by a weaker mechanism than the best one (a reported downgrade) */
  note?: string;
}

export interface Result {
  status: Status;
  message: string;
  /** what `sandbox exec` exits with: the command's code, 128+N for signal N, 125/126/127 for failures */
  exitCode: number;
  /** the workload's own exit code, when it exited */
  workloadExitCode: number | null;
  /** the signal that killed the workload, when one did */
  signal: number | null;
  killed: boolean;
  /** what the sandbox killed it for */
  killReason: 'wall-time' | 'cpu-time' | 'output' | 'memory' | 'aborted' | null;
  error: { code: SandboxErrorCode; step?: string; errno?: string } | null;
  time: {
    /** CPU time of every process and thread of the sandbox, ms */
    cpuMs: number | null;
    wallMs: number;
    /** where cpuMs comes from */
    cpuSource: 'cgroup-v2' | 'cgroup-v1' | 'proc' | 'none';
  };
  memory: {
    /** peak memory, bytes */
    peakBytes: number | null;
    /** which figure peakBytes is */
    source: 'cgroup-v2 memory.peak' | 'cgroup-v1 memory.max_usage_in_bytes' | 'rusage max-rss' | 'none';
    oomKilled: boolean;
  };
  limits: Record<string, LimitReport>;
  policy: string;
  hostUid: number;
  /** when stdout/stderr were captured ('buffer') */
  stdout?: Buffer;
  stderr?: Buffer;
  outputTruncated?: boolean;
}

export function signalName(sig: number): string {
  const entry = Object.entries(constants.signals).find(([, v]) => v === sig);
  return entry ? entry[0] : `signal ${sig}`;
}

export function failureResult(code: SandboxErrorCode, message: string, policy: string, extra: Partial<Result> = {}): Result {
  return {
    status: 'XX',
    message,
    exitCode: EXIT_SANDBOX_FAILURE,
    workloadExitCode: null,
    signal: null,
    killed: false,
    killReason: null,
    error: { code },
    time: { cpuMs: null, wallMs: 0, cpuSource: 'none' },
    memory: { peakBytes: null, source: 'none', oomKilled: false },
    limits: {},
    policy,
    hostUid: -1,
    ...extra,
  };
}
