/**
 * Everything before the launch, in order: resolve the policy and the caller's overrides, decide how
 * each limit is enforced here, verify the image, check the command and the binds, compile seccomp,
 * probe the host, and build the LaunchPlan. No side effects until `acquire()` (cgroup, lock directory),
 * which `release()` undoes — also when the run fails or is aborted (run-resources.ts).
 */
import { SandboxError } from '../errors.js';
import { probeCgroups, scopeCommand } from '../host/cgroup/index.js';
import { probeHostFacts } from '../host/facts.js';
import { chooseMechanisms, type Enforcement } from '../limits/mechanisms.js';
import { resolveLimits, type LimitSpec } from '../limits/spec.js';
import { loadPolicy } from '../policy/load.js';
import type { BindSpec, Policy } from '../policy/types.js';
import { hostArch } from '../seccomp/arch.js';
import { checkTmpfs, parseBind, parseTmpfs, resolveBinds } from './binds.js';
import { applyImageUser, imageCommand, imageWorkdir, resolveImage } from './image-run.js';
import { buildPlan, withCgroupFiles, type PlanRequest } from './plan.js';
import { RunResources, type CgroupJoin, type Measurements } from './run-resources.js';
import { checkCommand, checkSpecTypes, checkWorkdir, parseEnv, type RunSpec } from './run-spec.js';
import { compileForRun, trustedCacheDir } from './seccomp.js';
import type { Watchdog } from './supervisor.js';
import type { LaunchPlan, SeccompProgram } from './types.js';

export type { RunSpec } from './run-spec.js';
export type { Measurements } from './run-resources.js';

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
  /** the launcher has its plan: use the wait to prepare the next run's cgroup (run-resources.ts) */
  prepareNext(): void;
  /** statistics of the finished run (read before release) */
  measure(): Promise<Measurements>;
  release(): Promise<void>;
}

/**
 * As root the workload is a slot uid, which a root-owned workspace would not let write: writable binds,
 * directories and single files alike, are idmapped (the source's owner = the slot uid on that mount) —
 * but only when the run's filter refuses setuid/setgid bits, checked on the compiled program
 * (setid-guard.ts). A caller cannot ask for it: `idmap` is always decided here.
 */
async function decideIdmap(binds: BindSpec[], asRoot: boolean, seccomp: SeccompProgram | null): Promise<BindSpec[]> {
  const rw = binds.some((b) => b.mode === 'rw');
  // the interpreter is loaded only when there is something to decide
  const allowed = rw && asRoot && seccomp !== null
    && await (await import('./setid-guard.js')).filterRefusesSetidBits(seccomp.program, hostArch(), trustedCacheDir(0));
  return binds.map((b) => ({ ...b, idmap: allowed && b.mode === 'rw' }));
}

export async function prepareRun(spec: RunSpec): Promise<PreparedRun> {
  // the option types, which TypeScript checks for TypeScript callers only (run(), plan() and the CLI come here)
  checkSpecTypes(spec);
  const cwd = spec.cwd ?? process.cwd();

  // 1. The policy, with the caller's limits applied, and how each limit is enforced on this host.
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

  // 2. The image (verified against the trust policy by digest), the command and its environment.
  const image = await resolveImage(spec, policy);
  if (image?.user) applyImageUser(policy, image.user);
  const command = image ? imageCommand(spec.command, image) : spec.command;
  const env = parseEnv(spec.env);
  checkCommand(command, env);

  // 3. Mounts, host facts, identity and the seccomp program.
  const cliBinds = (spec.bind ?? []).map((b) => (typeof b === 'string' ? parseBind(b) : b));
  const binds = resolveBinds([...policy.filesystem.binds.map((b) => ({ ...b, mode: b.mode ?? 'ro' })), ...cliBinds], cwd);
  const tmpfs = [...policy.filesystem.tmpfs, ...(spec.tmpfs ?? []).map((t) => (typeof t === 'string' ? parseTmpfs(t) : t))].map(checkTmpfs);
  const host = probeHostFacts(policy.filesystem);
  const asRoot = host.euid === 0;
  const slots = asRoot ? await import('../host/uid-slots.js') : null;
  const uidRange = slots ? slots.parseUidRange(spec.uidRange ?? process.env['SANDBOX_UID_RANGE']) : null;
  if (slots && uidRange) slots.checkRangeIsFree(uidRange);
  const seccomp = policy.seccomp ? await compileForRun(policy.seccomp, seccompBaseDir, host.kernel, host.euid) : null;

  // 4. The plan (pure). The launcher joins the run's cgroup: its files are known after acquire().
  const request: PlanRequest = {
    policy,
    argv: command,
    binds: await decideIdmap(binds, asRoot, seccomp),
    tmpfs,
    workdir: checkWorkdir(spec.workdir ?? ((image && imageWorkdir(image)) || policy.filesystem.workdir)),
    env,
    host,
    // Rootless: the invoking user is who the workload is on the host. As root, the launcher takes a
    // free uid of the range (uidSlots); the id map shows the range's first uid until then.
    hostIds: uidRange ? { uid: uidRange.start, gid: uidRange.start } : { uid: host.euid, gid: host.egid },
    uidSlots: uidRange && slots ? { first: uidRange.start, count: uidRange.count, lockDir: slots.LOCK_DIR } : null,
    cgroupProcs: [],
    seccomp,
    image,
    extraRlimits: enforcement.rlimits,
  };
  let plan = buildPlan(request);
  const resources = new RunResources(limits, enforcement, cgroupProbe, slots?.LOCK_DIR ?? null);
  const withCgroup = (join: CgroupJoin) => (plan = withCgroupFiles(plan, join.procs, join.cpuUsage));
  // Rootless on a systemd v2 host without a delegated cgroup: the launcher starts in a scope of its own.
  const wrapper = resources.inScope ? await scopeCommand() : null;

  return {
    policyName: policy.name,
    policy,
    get plan() { return plan; },
    limits,
    enforcement,
    ...(limits.wallTimeMs !== undefined ? { wallTimeMs: limits.wallTimeMs } : {}),
    watchdogs: resources.watchdogs,
    imageDigest: image?.digest ?? null,
    wrapper,
    ...(wrapper ? { beforePlan: async (pid: number) => withCgroup(await resources.acquireInScope(pid)) } : {}),
    acquire: async () => { withCgroup(await resources.acquire()); },
    prepareNext: () => resources.prepareNext(),
    measure: () => resources.measure(),
    release: () => resources.release(),
  };
}
