/**
 * Cgroup limits and measurement behind one interface.
 *
 *   probeCgroups()        which driver (v2 | v1 | none), where, which controllers, and why not
 *   createRunCgroup()     one leaf group per run with memory/pids/cpu limits; the launcher joins it before clone()
 *   cleanStaleCgroups()   removes what a SIGKILLed supervisor left behind
 *
 * Drivers: v2.ts (root or a delegated subtree), v1.ts (root on v1/hybrid hosts). With driver 'none' the supervisor
 * uses rlimits and says so in the Result; createRunCgroup then throws.
 */
import { SandboxError } from '../../errors.js';
import type { CgroupLimits, RunCgroup } from './types.js';
import { hostCgroups } from './probe.js';
import { validateLimits } from './limits.js';
import { validateRunId } from './naming.js';
import { createV1 } from './v1.js';
import { createV2 } from './v2.js';

export type { CgroupMode, CgroupLimits, CgroupProbe, CgroupStats, RunCgroup, CgroupDriverName } from './types.js';
export { probeCgroups } from './probe.js';
export { cleanStaleCgroups } from './stale.js';

/**
 * Create and configure the run's group. Throws SandboxError('CGROUP') naming the file and errno. A limit the
 * kernel cannot enforce here does not throw: it is false in `enforced` (with a note), and the caller decides
 * (strict → error, or a reported downgrade).
 */
export async function createRunCgroup(runId: string, limits: CgroupLimits): Promise<RunCgroup> {
  validateRunId(runId);
  validateLimits(limits);
  const host = await hostCgroups();
  if (host.v2) return createV2(host.v2, runId, limits);
  if (host.v1) return createV1(host.v1, runId, limits);
  throw new SandboxError('CGROUP', `no usable cgroup driver: ${host.probe.reason ?? 'unknown reason'}`, {
    mode: host.probe.mode,
  });
}
