/**
 * Everything before the launch: resolve the policy, apply the caller's overrides, check bind sources,
 * decide how each limit is enforced, compile seccomp, probe the host, and build the LaunchPlan. No
 * side effects until `acquire()` (uid slot, cgroup), which `release()` undoes — also when the run
 * fails or is aborted.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { SandboxError } from '../errors.js';
import { probeCgroups, scopeCommand, type CgroupStats, type RunCgroup } from '../host/cgroup/index.js';
import { probeHostFacts } from '../host/facts.js';
import { CpuTimeWatchdog } from '../limits/cpu-watchdog.js';
import { chooseMechanisms, type Enforcement } from '../limits/mechanisms.js';
import { processTreeCpuNs } from '../limits/proc-cpu.js';
import { stopCgroupNow } from '../limits/stop-now.js';
import { resolveLimits, type LimitOverrides, type LimitSpec } from '../limits/spec.js';
import { loadPolicy } from '../policy/load.js';
import type { BindSpec, Policy, TmpfsSpec } from '../policy/types.js';
import { checkTmpfs, parseBind, parseTmpfs, resolveBinds } from './binds.js';
import { buildPlan, type PlanImage, type PlanRequest } from './plan.js';
import { hostArch } from '../seccomp/index.js';
import { compileForRun } from './seccomp.js';
import { filterRefusesSetidBits } from './setid-guard.js';
import type { Watchdog } from './supervisor.js';
import type { LaunchPlan } from './types.js';

export interface RunSpec extends LimitOverrides {
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
  /** run from this image reference in the image store */
  image?: string;
  /** trust policy file for images (default /etc/sandbox/trust.json or $XDG_CONFIG_HOME/sandbox/trust.json) */
  trustPolicy?: string;
  /** image store root (default /var/lib/sandbox or $XDG_DATA_HOME/sandbox) */
  store?: string;
}

export interface Measurements {
  cgroup: CgroupStats | null;
  cgroupDriver: 'v2' | 'v1' | null;
  /** every leaf directory of the run's cgroup (removed by release()) */
  cgroupPaths: string[];
  /** the CPU-time watchdog's last reading (ns) when it used /proc (no cgroup), for killed runs */
  procCpuNs: number | null;
}

export interface PreparedRun {
  policyName: string;
  policy: Policy;
  plan: LaunchPlan;
  limits: LimitSpec;
  enforcement: Enforcement;
  wallTimeMs?: number;
  watchdogs: Watchdog[];
  imageDigest: string | null;
  /** run the launcher under this prefix (a systemd scope for a rootless run on a systemd v2 host) */
  wrapper: string[] | null;
  /** with a wrapper: makes the run's cgroups for the launcher's pid, returns the plan to send */
  beforePlan?: (launcherPid: number) => Promise<LaunchPlan>;
  acquire(): Promise<void>;
  /** statistics of the finished run (read before release) */
  measure(): Promise<Measurements>;
  release(): Promise<void>;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** The kernel's MAX_ARG_STRLEN (less the NUL) and a conservative ARG_MAX (8 MiB stack / 4). */
const MAX_ARG_BYTES = 131071;
const MAX_ARGS_TOTAL = 2 * 1024 * 1024;

/** What execve would refuse, refused here with a clear message instead of deep in the launcher. */
function checkCommand(argv: string[], env: Record<string, string>): void {
  if (argv.length === 0 || argv[0] === '') throw new SandboxError('USAGE', 'no command given: put the command after --');
  let total = 0;
  for (const s of [...argv, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)]) {
    const n = Buffer.byteLength(s);
    if (s.includes('\0')) throw new SandboxError('USAGE', 'an argument or environment value contains a NUL byte');
    if (n > MAX_ARG_BYTES) throw new SandboxError('USAGE', `an argument or environment entry is ${n} bytes; the kernel accepts at most ${MAX_ARG_BYTES} (pass large data through a file or stdin)`);
    total += n + 1;
  }
  if (total > MAX_ARGS_TOTAL) throw new SandboxError('USAGE', `the arguments and environment are ${total} bytes; at most ${MAX_ARGS_TOTAL} are allowed (argument list too long)`);
}

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

let staleSwept = false;

/** After a SIGKILLed supervisor, the next run removes what it left (once per process). */
async function sweepStaleOnce(): Promise<void> {
  if (staleSwept) return;
  staleSwept = true;
  const { cleanStaleCgroups } = await import('../host/cgroup/index.js');
  await cleanStaleCgroups().catch(() => { /* reported by `sandbox doctor --clean`; never blocks a run */ });
}

async function resolveImage(spec: RunSpec, policy: Policy): Promise<PlanImage | null> {
  if (!spec.image) return null;
  const { prepareRunImage } = await import('../image/index.js');
  const img = await prepareRunImage(spec.image, {
    requireSignature: policy.image.requireSignature,
    ...(spec.trustPolicy ? { trustPolicyPath: spec.trustPolicy } : {}),
    ...(spec.store ? { storeRoot: spec.store } : {}),
  });
  return {
    rootfs: img.rootfs, digest: img.digest, env: img.config.env, workingDir: img.config.workingDir,
    entrypoint: img.config.entrypoint, cmd: img.config.cmd, user: img.config.user,
  };
}

/**
 * The image config's User, under the policy's restrictions: a numeric uid[:gid] other than root
 * becomes the inside identity. Root (0) never does — the policy's identity stays. User *names* are
 * not resolved: that would mean reading the image's /etc/passwd from the host side, where a symlink
 * planted in the image could point at a host file; the policy's identity is used instead.
 */
function applyImageUser(policy: Policy, user: string): void {
  const m = /^(\d+)(?::(\d+))?$/.exec(user.trim());
  if (!m) return;
  const uid = Number(m[1]);
  const gid = m[2] !== undefined ? Number(m[2]) : uid;
  if (uid >= 1 && uid <= 65533 && gid >= 1 && gid <= 65533) policy.identity = { ...policy.identity, uid, gid };
}

export async function prepareRun(spec: RunSpec): Promise<PreparedRun> {
  const cwd = spec.cwd ?? process.cwd();
  if (!Array.isArray(spec.command)) throw new SandboxError('USAGE', 'no command given: put the command after --');
  const { policy, seccompBaseDir } = loadPolicy(spec.policy ?? 'default', cwd);
  const limits = resolveLimits(policy, spec);
  policy.filesystem.tmp.size = limits.tmpfsBytes;
  const cgroupProbe = await probeCgroups();
  const enforcement = chooseMechanisms(limits, cgroupProbe);
  if (enforcement.unenforceable.length > 0 && limits.onUnenforceable === 'error') {
    throw new SandboxError('LIMIT_UNENFORCEABLE',
      `policy ${policy.name} requires every declared limit to be enforced, but here: ${enforcement.unenforceable.join('; ')}. Drop the limit, fix the host (sandbox doctor), or use a policy with "onUnenforceable": "report"`,
      { unenforceable: enforcement.unenforceable });
  }
  const image = await resolveImage(spec, policy);
  if (image?.user) applyImageUser(policy, image.user);
  const command = image ? imageCommand(spec.command, image) : spec.command;
  const env = parseEnv(spec.env);
  checkCommand(command, env);

  const cliBinds = (spec.bind ?? []).map((b) => (typeof b === 'string' ? parseBind(b) : b));
  const resolved = resolveBinds([...policy.filesystem.binds.map((b) => ({ ...b, mode: b.mode ?? 'ro' })), ...cliBinds], cwd);
  const tmpfs = [...policy.filesystem.tmpfs, ...(spec.tmpfs ?? []).map((t) => (typeof t === 'string' ? parseTmpfs(t) : t))].map(checkTmpfs);
  const host = probeHostFacts(policy.filesystem);
  const asRoot = host.euid === 0;
  const seccomp = policy.seccomp ? compileForRun(policy.seccomp, seccompBaseDir, host.kernel, host.euid) : null;
  // As root the workload is a slot uid, which a root-owned workspace would not let write. Writable
  // directory binds are therefore idmapped (the directory's owner = the slot uid on that mount) —
  // but only when the run's filter refuses setuid/setgid bits, checked on the compiled program.
  const idmapRw = asRoot && seccomp !== null && filterRefusesSetidBits(seccomp.program, hostArch());
  const binds = resolved.map((b) => ({ ...b, idmap: idmapRw && b.mode === 'rw' && statSync(b.source).isDirectory() }));
  const uidRange = asRoot ? (await import('../host/uid-slots.js')).parseUidRange(spec.uidRange ?? process.env['SANDBOX_UID_RANGE']) : null;

  let request: PlanRequest = {
    policy,
    argv: command,
    binds,
    tmpfs,
    workdir: checkWorkdir(spec.workdir ?? (image?.workingDir || policy.filesystem.workdir)),
    env,
    host,
    // Rootless: the invoking user is who the workload is on the host. As root, the launcher takes a
    // free uid of the range (uidSlots); the id map shows the range's first uid until then.
    hostIds: uidRange ? { uid: uidRange.start, gid: uidRange.start } : { uid: host.euid, gid: host.egid },
    uidSlots: uidRange ? { first: uidRange.start, count: uidRange.count, lockDir: (await import('../host/uid-slots.js')).LOCK_DIR } : null,
    cgroupProcs: [],
    seccomp,
    image,
    extraRlimits: enforcement.rlimits,
  };
  let plan = buildPlan(request);
  let cgroup: RunCgroup | null = null;
  let cpuWatchdog: CpuTimeWatchdog | null = null;
  const watchdogs: Watchdog[] = [];
  const runId = `r${randomBytes(6).toString('hex')}`;

  /** The run's cgroup exists: check what it enforces, let the launcher join it, arm the CPU clock. */
  const joinCgroup = (cg: RunCgroup | null) => {
    if (cg) {
      checkEnforced(cg, enforcement, limits);
      request = { ...request, cgroupProcs: [...cg.procsFiles] };
    }
    if (limits.cpuTimeMs !== undefined) {
      const clock = enforcement.cpuClock === 'cgroup' && cg
        ? { usedNs: () => cg.cpuUsageNs() }
        : { usedNs: (initPid: number) => processTreeCpuNs(initPid) };
      const parallelism = Math.min(limits.cpus ?? Infinity, availableParallelism());
      // When the budget is gone, stop the whole group through the cgroup first: that is immediate,
      // while the launcher's teardown takes a few context switches.
      cpuWatchdog = new CpuTimeWatchdog(limits.cpuTimeMs * 1e6, clock, parallelism, () => { if (cg) stopCgroupNow(cg); });
      watchdogs.push(cpuWatchdog);
    }
  };
  // Rootless on a systemd v2 host without a delegated cgroup: the launcher starts in a scope of its own.
  const wrapper = enforcement.cgroup && cgroupProbe.scope ? await scopeCommand() : null;
  if (!enforcement.cgroup) joinCgroup(null);

  const prepared: PreparedRun = {
    policyName: policy.name,
    policy,
    get plan() { return plan; },
    limits,
    enforcement,
    ...(limits.wallTimeMs !== undefined ? { wallTimeMs: limits.wallTimeMs } : {}),
    watchdogs,
    imageDigest: image?.digest ?? null,
    wrapper,
    ...(wrapper ? {
      async beforePlan(launcherPid: number) {
        const { createScopedRunCgroup } = await import('../host/cgroup/index.js');
        cgroup = await createScopedRunCgroup(runId, enforcement.cgroup!, launcherPid);
        joinCgroup(cgroup);
        plan = buildPlan(request);
        return plan;
      },
    } : {}),
    async acquire() {
      if (uidRange) {
        const { LOCK_DIR } = await import('../host/uid-slots.js');
        mkdirSync(LOCK_DIR, { recursive: true, mode: 0o700 });
      }
      if (enforcement.cgroup && !cgroupProbe.scope) {
        await sweepStaleOnce();
        const { createRunCgroup } = await import('../host/cgroup/index.js');
        cgroup = await createRunCgroup(runId, enforcement.cgroup);
        joinCgroup(cgroup);
      }
      plan = buildPlan(request);
    },
    async measure() {
      return {
        cgroup: cgroup ? await cgroup.stats() : null,
        cgroupDriver: cgroup?.driver ?? null,
        cgroupPaths: cgroup ? [...cgroup.paths] : [],
        procCpuNs: enforcement.cpuClock === 'proc' ? (cpuWatchdog?.lastUsedNs ?? null) : null,
      };
    },
    async release() {
      try {
        await cgroup?.remove();
      } finally {
        cgroup = null;
      }
    },
  };
  return prepared;
}

/** A cgroup that cannot enforce a requested limit: an error under "onUnenforceable": "error", else reported as not enforced. */
function checkEnforced(cg: RunCgroup, e: Enforcement, limits: LimitSpec): void {
  const missing: string[] = [];
  if (e.cgroup?.memoryBytes !== undefined && !cg.enforced.memory) missing.push('memory');
  if (e.cgroup?.pids !== undefined && !cg.enforced.pids) missing.push('pids');
  if (e.cgroup?.cpuCores !== undefined && !cg.enforced.cpuCores) missing.push('cpus');
  if (missing.length === 0) return;
  const why = cg.notes.join('; ');
  if (limits.onUnenforceable === 'error') {
    void cg.remove();
    throw new SandboxError('LIMIT_UNENFORCEABLE', `the run's cgroup cannot enforce ${missing.join(', ')}${why ? ` (${why})` : ''}`);
  }
  for (const m of missing) {
    const r = e.report[m];
    if (r) e.report[m] = { ...r, mechanism: 'none', note: `not enforced: the cgroup cannot${why ? ` (${why})` : ''}` };
  }
}

/** The image's Entrypoint + (the command given, or the image's Cmd). */
function imageCommand(given: string[], image: PlanImage): string[] {
  return [...(image.entrypoint ?? []), ...(given.length > 0 ? given : image.cmd ?? [])];
}
