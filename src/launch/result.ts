/**
 * The Result of a run: one object for the CLI (`--json`), the library (`run()`), and the isolate-style
 * meta file. Statuses: OK, RE (non-zero exit), SG (killed by a signal), TO (time limit), ML (memory
 * limit), OL (output limit), AB (aborted on request: run()'s signal, a signal to `sandbox exec`),
 * XX (the sandbox itself failed).
 */
import { constants } from 'node:os';
import { EXIT_SANDBOX_FAILURE, type SandboxErrorCode } from '../errors.js';

// AB is not XX: nothing failed, and a judge that retries XX runs must not retry one it aborted itself.
export type Status = 'OK' | 'RE' | 'SG' | 'TO' | 'ML' | 'OL' | 'AB' | 'XX';

/** A Result's error code: a SandboxError's, or one that no function throws: ABORTED (the run ended as
 * its caller asked) and SETUP_TIMEOUT (the supervisor killed a setup that hung). */
export type ResultErrorCode = SandboxErrorCode | 'ABORTED' | 'SETUP_TIMEOUT';

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
  killReason: 'wall-time' | 'cpu-time' | 'output' | 'memory' | 'aborted' | 'setup-time' | null;
  error: { code: ResultErrorCode; step?: string; errno?: string } | null;
  time: {
    /** CPU time of every process and thread of the workload, ms (the launcher's setup excluded): up to
     * its exit, or for a killed run up to the kill */
    cpuMs: number | null;
    /** from the workload's start to its exit, ms: init's own clock at its fork of the workload and at
     * its reaping (CLOCK_MONOTONIC); a run the sandbox killed ends when the kill was decided */
    wallMs: number;
    /** where cpuMs comes from: the run's cgroup; getrusage of every process the sandbox's init reaped;
     * or (a killed run without cgroup) the last /proc reading of the CPU-time watchdog (10 ms ticks) */
    cpuSource: 'cgroup-v2' | 'cgroup-v1' | 'rusage' | 'proc' | 'none';
    /** CPU the launcher itself spent setting the sandbox up, ms (on the same cgroup clock, not in cpuMs) */
    setupCpuMs: number;
    /** context switches of every process and thread of the workload (getrusage of every process init
     * reaped; for a killed run, /proc at the kill, of the threads alive then) — isolate's csw-voluntary
     * and csw-forced; null when none could be read (a failure before the workload ran) */
    contextSwitches: { voluntary: number; involuntary: number } | null;
  };
  memory: {
    /** peak memory, bytes: the cgroup's high-water mark where there is one, else the largest max-RSS */
    peakBytes: number | null;
    /** which figure peakBytes is: a cgroup file (anonymous memory + page cache + tmpfs the run wrote,
     * as the limit counts it), 'rusage max-rss' (resident set of the largest single process), or for a
     * killed run without a cgroup 'proc VmHWM' (the same, of the processes alive at the kill) */
    source: 'memory.peak' | 'memory.memsw.max_usage_in_bytes' | 'memory.max_usage_in_bytes' | 'rusage max-rss' | 'proc VmHWM' | 'none';
    /** the largest resident set of any one process (getrusage; for a killed run, /proc at the kill),
     * bytes — isolate's max-rss */
    maxRssBytes: number | null;
    oomKilled: boolean;
  };
  limits: Record<string, LimitReport>;
  policy: string;
  hostUid: number;
  /** manifest digest of the image the run started from */
  image?: string;
  /** the run's cgroup leaves (already removed when the Result is returned) */
  cgroups?: string[];
  /** processes/threads: the high-water mark and how many forks the pids limit refused (cgroup only) */
  pids?: { peak: number | null; limitHits: number | null };
  /** when stdout/stderr were captured ('buffer'). In the CLI's JSON (src/cli/result-json.ts): a string
   * when valid UTF-8, else base64 with stdoutEncoding/stderrEncoding: 'base64' */
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
    time: { cpuMs: null, wallMs: 0, cpuSource: 'none', setupCpuMs: 0, contextSwitches: null },
    memory: { peakBytes: null, source: 'none', maxRssBytes: null, oomKilled: false },
    limits: {},
    policy,
    hostUid: -1,
    ...extra,
  };
}
