/**
 * The limits of one run, resolved to numbers: the policy's `limits` and `rlimits` sections with the
 * command line's flags applied last. Pure.
 */
import { availableParallelism } from 'node:os';
import { SandboxError } from '../errors.js';
import type { Duration, Policy, Size } from '../policy/types.js';
import { parseDuration, parseSize } from '../policy/units.js';

/** `run()` options / CLI flags that override the policy (sizes K/M/G binary, durations ms/s). */
export interface LimitOverrides {
  memory?: Size;
  pids?: number;
  cpuTime?: Duration;
  wallTime?: Duration;
  cpus?: number;
  fsize?: Size;
  nofile?: number;
  stack?: Size;
  outputLimit?: Size;
  tmpfsSize?: Size;
}

export interface LimitSpec {
  memoryBytes?: number;
  /** swap allowed on top of memory (0: swap counts as memory) */
  swapBytes: number;
  pids?: number;
  cpuTimeMs?: number;
  wallTimeMs?: number;
  cpus?: number;
  fsizeBytes?: number;
  nofile?: number;
  stackBytes?: number;
  outputBytes?: number;
  tmpfsBytes: number;
  onUnenforceable: 'error' | 'report';
}

function positiveInt(v: number | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isSafeInteger(v) || v < 1) throw new SandboxError('USAGE', `${what}: '${v}' must be a positive integer`);
  return v;
}

/**
 * A CPU bandwidth is a share of the CPUs this process may use, as docker and podman take `--cpus`: from
 * 0.01 (the kernel's smallest quota, 1 ms per 100 ms period) to their number. More is not a limit (and
 * past some 10^8 cores the kernel refuses the quota).
 */
function checkCpus(cpus: number, what: string, hostCpus: number): number {
  if (typeof cpus !== 'number' || !(cpus >= 0.01 && cpus <= hostCpus)) {
    throw new SandboxError('USAGE', `${what}: '${cpus}' is out of range: give 0.01 to ${hostCpus} cores (this host has ${hostCpus} CPU${hostCpus === 1 ? '' : 's'} for us), e.g. 1.5`);
  }
  return cpus;
}

/** `hostCpus`: the CPUs this process may run on (a parameter, so that the function stays pure). */
export function resolveLimits(policy: Policy, o: LimitOverrides, hostCpus: number = availableParallelism()): LimitSpec {
  const l = policy.limits;
  const r = policy.rlimits;
  const size = (v: Size | undefined, what: string) => (v === undefined ? undefined : parseSize(v, what));
  const duration = (v: Duration | undefined, what: string) => (v === undefined ? undefined : parseDuration(v, what));
  const spec: LimitSpec = {
    swapBytes: l.swap === undefined ? 0 : parseSize(l.swap, 'limits.swap', { allowZero: true }),
    tmpfsBytes: parseSize(o.tmpfsSize ?? policy.filesystem.tmp.size, o.tmpfsSize !== undefined ? '--tmpfs-size' : 'filesystem.tmp.size'),
    onUnenforceable: l.onUnenforceable ?? 'report',
  };
  const set = <K extends keyof LimitSpec>(k: K, v: LimitSpec[K] | undefined) => { if (v !== undefined) spec[k] = v; };
  set('memoryBytes', size(o.memory ?? l.memory, o.memory !== undefined ? '--memory' : 'limits.memory'));
  set('pids', positiveInt(o.pids ?? l.pids, o.pids !== undefined ? '--pids' : 'limits.pids'));
  set('cpuTimeMs', duration(o.cpuTime ?? l.cpuTime, o.cpuTime !== undefined ? '--cpu-time' : 'limits.cpuTime'));
  set('wallTimeMs', duration(o.wallTime ?? l.wallTime, o.wallTime !== undefined ? '--wall-time' : 'limits.wallTime'));
  const cpus = o.cpus ?? l.cpus;
  set('cpus', cpus === undefined ? undefined : checkCpus(cpus, o.cpus !== undefined ? '--cpus' : 'limits.cpus', hostCpus));
  set('fsizeBytes', size(o.fsize ?? r.fsize, o.fsize !== undefined ? '--fsize' : 'rlimits.fsize'));
  set('nofile', positiveInt(o.nofile ?? r.nofile, o.nofile !== undefined ? '--nofile' : 'rlimits.nofile'));
  set('stackBytes', size(o.stack ?? r.stack, o.stack !== undefined ? '--stack' : 'rlimits.stack'));
  set('outputBytes', size(o.outputLimit ?? l.output, o.outputLimit !== undefined ? '--output-limit' : 'limits.output'));
  return spec;
}
