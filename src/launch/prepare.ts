/**
 * Everything before the launch: resolve the policy, apply the caller's overrides, check bind sources,
 * probe the host, and build the LaunchPlan. No side effects until `acquire()` (uid slot, cgroup), which
 * `release()` undoes — also when the run fails or is aborted.
 */
import { SandboxError } from '../errors.js';
import { probeHostFacts } from '../host/facts.js';
import { loadPolicy } from '../policy/load.js';
import type { BindSpec, Policy, TmpfsSpec } from '../policy/types.js';
import { parseBind, parseTmpfs, resolveBinds } from './binds.js';
import { buildPlan } from './plan.js';
import { compileForRun } from './seccomp.js';
import type { Watchdog } from './supervisor.js';
import type { LaunchPlan } from './types.js';

export interface RunSpec {
  /** the command and its arguments */
  command: string[];
  /** a built-in policy name or a path to a policy file (default: 'default') */
  policy?: string;
  /** "SRC:DST[:ro|rw]" or objects; added after the policy's binds */
  bind?: (string | BindSpec)[];
  /** "DST[:SIZE]" or objects */
  tmpfs?: (string | TmpfsSpec)[];
  workdir?: string;
  /** extra environment, applied last: { K: V } or ["K=V"] */
  env?: Record<string, string> | string[];
  /** directory that relative bind sources and policy paths are resolved against (default: process.cwd()) */
  cwd?: string;
  /** host uid range for runs started by root, "START:COUNT" (default 1879048192:65536) */
  uidRange?: string;
}

export interface PreparedRun {
  policyName: string;
  policy: Policy;
  plan: LaunchPlan;
  wallTimeMs?: number;
  watchdogs: Watchdog[];
  acquire(): Promise<void>;
  release(): Promise<void>;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function parseEnv(env: RunSpec['env']): Record<string, string> {
  if (!env) return {};
  const pairs: [string, string][] = Array.isArray(env)
    ? env.map((kv) => {
      const i = kv.indexOf('=');
      if (i <= 0) throw new SandboxError('USAGE', `--env '${kv}': write NAME=VALUE`);
      return [kv.slice(0, i), kv.slice(i + 1)];
    })
    : Object.entries(env);
  for (const [k, v] of pairs) {
    if (!ENV_NAME.test(k)) throw new SandboxError('USAGE', `--env: '${k}' is not a valid variable name (letters, digits, _; not starting with a digit)`);
    if (v.includes('\0')) throw new SandboxError('USAGE', `--env ${k}: the value contains a NUL byte`);
  }
  return Object.fromEntries(pairs);
}

function checkWorkdir(dir: string): string {
  const canonical = dir === '/' || (dir.startsWith('/') && dir.slice(1).split('/').every((c) => c !== '' && c !== '.' && c !== '..'));
  if (!canonical) {
    throw new SandboxError('USAGE', `--workdir '${dir}' must be an absolute path without '.', '..' or empty components`);
  }
  return dir;
}

export async function prepareRun(spec: RunSpec): Promise<PreparedRun> {
  const cwd = spec.cwd ?? process.cwd();
  if (!Array.isArray(spec.command) || spec.command.length === 0) {
    throw new SandboxError('USAGE', 'no command given: put the command after --');
  }
  const { policy, seccompBaseDir } = loadPolicy(spec.policy ?? 'default', cwd);
  const cliBinds = (spec.bind ?? []).map((b) => (typeof b === 'string' ? parseBind(b) : b));
  const binds = resolveBinds([...policy.filesystem.binds.map((b) => ({ ...b, mode: b.mode ?? 'ro' })), ...cliBinds], cwd);
  const tmpfs = [...policy.filesystem.tmpfs, ...(spec.tmpfs ?? []).map((t) => (typeof t === 'string' ? parseTmpfs(t) : t))];
  const host = probeHostFacts(policy.filesystem);
  const asRoot = host.euid === 0;
  const uidRange = asRoot ? (await import('../host/uid-slots.js')).parseUidRange(spec.uidRange ?? process.env['SANDBOX_UID_RANGE']) : null;

  const request = {
    policy,
    argv: spec.command,
    binds,
    tmpfs,
    workdir: checkWorkdir(spec.workdir ?? policy.filesystem.workdir),
    env: parseEnv(spec.env),
    host,
    // Rootless: the invoking user is who the workload is on the host. As root, a uid slot is taken in
    // acquire(); until then the plan shows the first uid of the range.
    hostIds: uidRange ? { uid: uidRange.start, gid: uidRange.start } : { uid: host.euid, gid: host.egid },
    cgroupProcs: [] as string[],
    seccomp: policy.seccomp ? compileForRun(policy.seccomp, seccompBaseDir, host.kernel, host.euid) : null,
    image: null,
    extraRlimits: [],
  };
  let plan = buildPlan(request);
  let releaseSlot: (() => void) | null = null;

  return {
    policyName: policy.name,
    policy,
    get plan() { return plan; },
    watchdogs: [],
    async acquire() {
      if (uidRange) {
        const slot = (await import('../host/uid-slots.js')).acquireUidSlot(uidRange);
        releaseSlot = slot.release;
        plan = buildPlan({ ...request, hostIds: { uid: slot.uid, gid: slot.uid } });
      }
    },
    async release() {
      releaseSlot?.();
      releaseSlot = null;
    },
  };
}
