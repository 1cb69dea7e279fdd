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
import { dirForCgroupPath, parseProcCgroup } from './mounts.js';
import { PARENT_NAME } from './naming.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The command prefix that starts the launcher in its own delegated scope, or null when not needed. */
export async function scopeCommand(): Promise<string[] | null> {
  const host = await hostCgroups();
  if (!host.v2Scope) return null;
  // --scope: systemd-run registers a transient scope for its own pid and then execs the command in
  // place (same pid, fds and environment); Delegate=yes hands the scope's cgroup to the user.
  // OOMPolicy=continue: an OOM kill inside the run's cgroup is the workload's verdict (ML), not a
  // reason for systemd to stop the scope, the launcher and the run's cgroups with it, before the run
  // is measured. Scopes honour it from systemd 253 (which defaults to it with Delegate=yes); 252
  // accepts and ignores it. What keeps the scope there is the launcher's leaving the run's cgroup,
  // whose OOM group kill would take it (native/main.c, --hold).
  return [host.v2Scope.systemdRun, '--user', '--scope', '--quiet', '--collect', '-p', 'Delegate=yes', '-p', 'OOMPolicy=continue', '--'];
}

const SCOPE_WAIT_MS = 5000;

/**
 * The run's groups inside the scope systemd made for the launcher `pid` (started by scopeCommand()):
 * wait until the launcher is in a *.scope cgroup, then lay the run out there exactly as in any
 * delegated subtree (v2.ts: the launcher is evacuated into sandbox-supervisor, controllers are
 * enabled, one leaf per run; the launcher joins the leaf before it clones).
 */
export async function createScopedRunCgroup(runId: string, limits: CgroupLimits, pid: number): Promise<RunCgroup> {
  validateRunId(runId);
  validateLimits(limits);
  const host = await hostCgroups();
  const scope = host.v2Scope;
  if (!scope) throw new SandboxError('CGROUP', 'internal: no systemd scope mode on this host');
  const deadline = Date.now() + SCOPE_WAIT_MS;
  // The launcher starts in our own cgroup (often a session's *.scope too); the new scope is the change.
  const ours = parseProcCgroup(readFileSync('/proc/self/cgroup', 'utf8')).v2Path;
  let base: string | null = null;
  while (!base) {
    let path: string | null = null;
    try {
      path = parseProcCgroup(readFileSync(`/proc/${pid}/cgroup`, 'utf8')).v2Path;
    } catch (e) {
      throw new SandboxError('CGROUP', `the launcher (pid ${pid}) ended before systemd put it in a scope: ${(e as Error).message}`);
    }
    if (path !== null && path !== ours && path.endsWith('.scope')) base = dirForCgroupPath(scope.mount, path);
    else if (Date.now() > deadline) {
      throw new SandboxError('CGROUP', `systemd did not put the launcher in a scope within ${SCOPE_WAIT_MS} ms (its cgroup: ${path}); check \`systemctl --user status\``);
    } else await new Promise((r) => setTimeout(r, 2));
  }
  return createV2({ base, parent: join(base, PARENT_NAME), realRoot: false, available: [...scope.available] }, runId, limits);
}

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
  if (host.v2Scope) {
    throw new SandboxError('CGROUP', 'this host gives each run a systemd scope: use createScopedRunCgroup with the launcher started by scopeCommand()');
  }
  if (host.v2) return createV2(host.v2, runId, limits);
  if (host.v1) return createV1(host.v1, runId, limits);
  throw new SandboxError('CGROUP', `no usable cgroup driver: ${host.probe.reason ?? 'unknown reason'}`, {
    mode: host.probe.mode,
  });
}
