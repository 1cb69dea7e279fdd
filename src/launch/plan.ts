/**
 * plan(request) → LaunchPlan. Pure: no I/O, so it is unit-tested without privileges and printed by
 * `sandbox exec --dry-run`. Every mount decision of the sandbox is made here, with its reason.
 */
import { SandboxError } from '../errors.js';
import type { HostFacts } from '../host/facts.js';
import { parseSize } from '../policy/units.js';
import type { BindSpec, DeviceName, Policy, TmpfsSpec } from '../policy/types.js';
import type { LaunchPlan, MountAttr, MountOp, Rlimit, SeccompProgram } from './types.js';
import { checkPlanLimits, clip } from './wire.js';

export interface PlanImage {
  rootfs: string;
  digest: string;
  /** the image config's Env, applied before the policy's env */
  env: string[];
  workingDir: string;
  entrypoint?: string[];
  cmd?: string[];
  /** the image config's User (applied by prepare.ts under the policy's restrictions) */
  user?: string;
}

export interface PlanRequest {
  policy: Policy;
  argv: string[];
  /** policy binds then command-line binds; sources already resolved to canonical host paths */
  binds: BindSpec[];
  tmpfs: TmpfsSpec[];
  workdir: string;
  /** command-line --env, applied last */
  env: Record<string, string>;
  host: HostFacts;
  /** who the workload is on the host: the invoking user (rootless) or a uid slot (root) */
  hostIds: { uid: number; gid: number };
  cgroupProcs: string[];
  /** the run's cgroup CPU counter, read by init as it reaps the workload */
  cpuUsageFile?: string | null;
  seccomp: SeccompProgram | null;
  image: PlanImage | null;
  /** rlimits chosen by the limits layer (fallback mechanisms and backstops); they win over policy rlimits */
  extraRlimits: Rlimit[];
  /** as root: the range the launcher takes the run's host uid from */
  uidSlots?: LaunchPlan['uidSlots'];
}

/** Read-only, no setuid, no device nodes: what every host path we expose gets. */
const RO: MountAttr[] = ['ro', 'nosuid', 'nodev'];

/** /proc entries that leak host kernel state or allow host-wide actions; masked if present (as Docker). */
const PROC_MASKED_FILES = [
  '/proc/kcore', '/proc/keys', '/proc/key-users', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/kmsg', '/proc/kallsyms', '/proc/kpagecount',
  '/proc/kpageflags', '/proc/kpagecgroup', '/proc/config.gz', '/proc/sysrq-trigger',
];
const PROC_MASKED_DIRS = ['/proc/acpi', '/proc/scsi', '/proc/asound', '/proc/firmware', '/proc/driver'];
/** Kernel tunables stay readable (programs read limits there) but never writable. */
const PROC_READONLY = ['/proc/sys', '/proc/irq', '/proc/bus', '/proc/fs'];

/** Targets the sandbox builds itself; a user bind or tmpfs there would undo a mask or a read-only rule. */
const RESERVED_TARGETS = ['/proc', '/dev'];

function depth(path: string): number {
  return path === '/' ? 0 : path.split('/').length - 1;
}

function checkUserTarget(target: string, what: string): void {
  if (target === '/') throw new SandboxError('USAGE', `${what} target '/' is not allowed: the root is built by the sandbox`);
  for (const r of RESERVED_TARGETS) {
    if (target === r || target.startsWith(`${r}/`)) {
      throw new SandboxError('USAGE', `${what} target '${target}' is not allowed: ${r} is built by the sandbox (masks and read-only rules live there)`);
    }
  }
}

function hostDirMounts(policy: Policy, host: HostFacts): MountOp[] {
  const out: MountOp[] = [];
  for (const dir of policy.filesystem.hostDirs) {
    const e = host.entries[dir];
    // merged-/usr hosts have /bin -> usr/bin: recreate the symlink instead of binding through it
    if (e?.kind === 'symlink') out.push({ op: 'symlink', target: dir, linkTo: e.target });
    else if (e?.kind === 'dir') out.push({ op: 'bind', target: dir, source: dir, attrs: RO });
  }
  return out;
}

function passwd(policy: Policy): string {
  const id = policy.identity;
  return `root:x:0:0:root:/root:/usr/sbin/nologin\n${id.user}:x:${id.uid}:${id.gid}:${id.user}:/tmp:/bin/sh\n` +
    'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n';
}

function group(policy: Policy): string {
  const id = policy.identity;
  return `root:x:0:\n${id.group}:x:${id.gid}:\nnogroup:x:65534:\n`;
}

/** A generated /etc: the inside identity and localhost, not the host's /etc wholesale. */
function etcMounts(policy: Policy, host: HostFacts): MountOp[] {
  const out: MountOp[] = [
    { op: 'dir', target: '/etc', mode: 0o755 },
    { op: 'file', target: '/etc/passwd', mode: 0o644, content: passwd(policy) },
    { op: 'file', target: '/etc/group', mode: 0o644, content: group(policy) },
    { op: 'file', target: '/etc/hosts', mode: 0o644, content: `127.0.0.1\tlocalhost ${policy.hostname}\n::1\tlocalhost ip6-localhost\n` },
    { op: 'file', target: '/etc/hostname', mode: 0o644, content: `${policy.hostname}\n` },
    { op: 'file', target: '/etc/nsswitch.conf', mode: 0o644, content: 'passwd: files\ngroup: files\nhosts: files\n' },
  ];
  for (const name of policy.filesystem.etcFromHost) {
    const path = `/etc/${name}`;
    const e = host.entries[path];
    // Only real files and directories: a symlink in /etc could point anywhere on the host.
    if (e?.kind === 'file' || e?.kind === 'dir') out.push({ op: 'bind', target: path, source: path, attrs: RO });
  }
  return out;
}

function procMounts(): MountOp[] {
  const out: MountOp[] = [{ op: 'proc', target: '/proc', attrs: ['nosuid', 'nodev', 'noexec'] }];
  for (const f of PROC_MASKED_FILES) {
    out.push({ op: 'bind', target: f, source: '/dev/null', attrs: ['ro', 'nosuid', 'nodev', 'noexec', 'ifExists'] });
  }
  for (const d of PROC_MASKED_DIRS) {
    out.push({ op: 'tmpfs', target: d, options: 'size=0,nr_inodes=1,mode=0555', attrs: ['ro', 'nosuid', 'nodev', 'noexec', 'ifExists'] });
  }
  for (const d of PROC_READONLY) out.push({ op: 'rebind', target: d, attrs: ['ro', 'nosuid', 'nodev', 'noexec', 'ifExists'] });
  return out;
}

/** A minimal /dev: a few harmless character devices bound from the host, nothing else. */
function devMounts(policy: Policy, host: HostFacts): MountOp[] {
  const out: MountOp[] = [
    { op: 'tmpfs', target: '/dev', options: 'mode=0755,size=64k,nr_inodes=64', attrs: ['nosuid', 'nodev', 'noexec'] },
  ];
  for (const d of policy.filesystem.devices as DeviceName[]) {
    const path = `/dev/${d}`;
    if (host.entries[path]?.kind !== 'other') continue; // not a device node on this host
    // The one place without nodev: these binds exist to be opened as devices.
    out.push({ op: 'bind', target: path, source: path, attrs: ['nosuid', 'noexec'] });
  }
  out.push(
    { op: 'symlink', target: '/dev/fd', linkTo: '/proc/self/fd' },
    { op: 'symlink', target: '/dev/stdin', linkTo: '/proc/self/fd/0' },
    { op: 'symlink', target: '/dev/stdout', linkTo: '/proc/self/fd/1' },
    { op: 'symlink', target: '/dev/stderr', linkTo: '/proc/self/fd/2' },
    {
      op: 'tmpfs', target: '/dev/shm', attrs: ['nosuid', 'nodev', 'noexec'],
      options: `mode=1777,size=${parseSize(policy.filesystem.devShm.size, 'filesystem.devShm.size')}`,
    },
  );
  return out;
}

function tmpMount(policy: Policy): MountOp {
  const tmp = policy.filesystem.tmp;
  // /tmp allows exec: judges and CI compile into it and run the result.
  return {
    op: 'tmpfs', target: '/tmp', attrs: ['nosuid', 'nodev'],
    options: `mode=1777,size=${parseSize(tmp.size, 'filesystem.tmp.size')},nr_inodes=${tmp.inodes}`,
  };
}

/**
 * One mount per target among the policy's and the caller's binds and tmpfs: a second one at the same
 * place hides the first (the last bind silently wins) or fails deep in the launcher (a file bound
 * where a tmpfs directory was made). The sandbox's own mounts (host directories, /etc files, /tmp) are
 * not counted: a caller's mount there replaces them on purpose, and always did.
 */
function checkDistinctTargets(mounts: MountOp[]): void {
  const seen = new Map<string, MountOp>();
  const name = (m: MountOp) => (m.op === 'bind' ? `a bind of ${clip(m.source)}` : 'a tmpfs');
  for (const m of mounts) {
    const first = seen.get(m.target);
    if (first) {
      throw new SandboxError('USAGE', `two mounts at ${clip(m.target)}: ${name(first)} and ${name(m)}; give each bind and tmpfs (the policy's and yours) its own target`);
    }
    seen.set(m.target, m);
  }
}

/**
 * The caller's tmpfs and binds, in one list ordered parents-first (stable), so that whichever is
 * nested inside the other is mounted on top of it: a tmpfs under a bind, or a bind under a tmpfs.
 */
function userMounts(policy: Policy, userTmpfs: TmpfsSpec[], binds: BindSpec[]): MountOp[] {
  const tmp = policy.filesystem.tmp;
  const ops: MountOp[] = [
    ...userTmpfs.map((t): MountOp => {
      checkUserTarget(t.target, 'tmpfs');
      const size = parseSize(t.size ?? tmp.size, `tmpfs ${t.target} size`);
      return { op: 'tmpfs', target: t.target, attrs: ['nosuid', 'nodev'], options: `mode=0755,size=${size},nr_inodes=${tmp.inodes}` };
    }),
    ...binds.map((b): MountOp => {
      checkUserTarget(b.target, 'bind');
      const rw: MountAttr[] = b.idmap ? ['nosuid', 'nodev', 'idmap'] : ['nosuid', 'nodev'];
      return { op: 'bind', target: b.target, source: b.source, attrs: b.mode === 'rw' ? rw : RO };
    }),
  ];
  checkDistinctTargets(ops);
  return ops.sort((a, b) => depth(a.target) - depth(b.target));
}

/** A sandbox can only lower limits: each value is capped at the invoking process's hard limit. */
function clampToHost(l: Rlimit, host: HostFacts): Rlimit {
  const hard = host.hardLimits[l.resource];
  if (hard === undefined || hard === 'unlimited') return l;
  const cap = (v: number | 'unlimited') => (v === 'unlimited' || v > hard ? hard : v);
  return { resource: l.resource, soft: cap(l.soft), hard: cap(l.hard) };
}

function rlimits(policy: Policy, extra: Rlimit[], host: HostFacts): Rlimit[] {
  const r = policy.rlimits;
  const byName = new Map<string, Rlimit>();
  const set = (l: Rlimit) => byName.set(l.resource, l);
  // No core dumps, ever: a dump is a write outside every output limit and may hold secrets.
  set({ resource: 'core', soft: 0, hard: 0 });
  if (r.nofile !== undefined) set({ resource: 'nofile', soft: r.nofile, hard: r.nofile });
  if (r.nproc !== undefined) set({ resource: 'nproc', soft: r.nproc, hard: r.nproc });
  for (const k of ['fsize', 'stack', 'as', 'memlock'] as const) {
    const v = r[k];
    if (v !== undefined) {
      const bytes = parseSize(v, `rlimits.${k}`);
      set({ resource: k, soft: bytes, hard: bytes });
    }
  }
  for (const l of extra) if (l.resource !== 'core') set(l);
  return [...byName.values()].map((l) => clampToHost(l, host));
}

function environment(req: PlanRequest): string[] {
  const env = new Map<string, string>();
  for (const kv of req.image?.env ?? []) {
    const i = kv.indexOf('=');
    if (i > 0) env.set(kv.slice(0, i), kv.slice(i + 1));
  }
  for (const [k, v] of Object.entries(req.policy.env)) env.set(k, v);
  for (const [k, v] of Object.entries(req.env)) env.set(k, v);
  return [...env].map(([k, v]) => `${k}=${v}`);
}

export function buildPlan(req: PlanRequest): LaunchPlan {
  const { policy, host } = req;
  if (req.argv.length === 0) throw new SandboxError('USAGE', 'no command given: put it after --');
  const hostMode = req.image === null;
  const mounts: MountOp[] = [
    ...(hostMode ? hostDirMounts(policy, host) : []),
    ...(hostMode ? etcMounts(policy, host) : []),
    ...procMounts(),
    ...devMounts(policy, host),
    tmpMount(policy),
    ...userMounts(policy, req.tmpfs, req.binds),
  ];
  const tmpSize = parseSize(policy.filesystem.tmp.size, 'filesystem.tmp.size');
  const plan: LaunchPlan = {
    version: 1,
    namespaces: ['user', 'pid', 'mount', 'network', 'ipc', 'uts', 'cgroup'],
    identity: {
      insideUid: policy.identity.uid,
      insideGid: policy.identity.gid,
      hostUid: req.hostIds.uid,
      hostGid: req.hostIds.gid,
      user: policy.identity.user,
      group: policy.identity.group,
    },
    hostname: policy.hostname,
    cgroupProcs: req.cgroupProcs,
    root: req.image
      // The overlay's upper layer lives in this tmpfs, so its size bounds what a run can write to "/".
      ? { kind: 'image', source: req.image.rootfs, writable: policy.image.writable, digest: req.image.digest, options: `mode=0755,size=${tmpSize}` }
      : { kind: 'tmpfs', options: 'mode=0755,size=1m,nr_inodes=4096' },
    mounts,
    rlimits: rlimits(policy, req.extraRlimits, host),
    env: environment(req),
    cwd: req.workdir,
    argv: req.argv,
    seccomp: req.seccomp,
    uidSlots: req.uidSlots ?? null,
    ...(req.cpuUsageFile ? { cpuUsageFile: req.cpuUsageFile } : {}),
  };
  // Here, before anything is created: the launcher would refuse it as a malformed plan.
  checkPlanLimits(plan);
  return plan;
}

/**
 * The plan once the run's cgroup exists (acquire()): the files the launcher joins and init's CPU
 * counter, which buildPlan copies from the request and nothing else depends on. Set on a copy rather
 * than by building the plan again (a second buildPlan was ~0.7 ms and ~40 KB of young-generation
 * garbage of every `sandbox exec`); the plan's limits are checked again, for the paths.
 */
export function withCgroupFiles(plan: LaunchPlan, procs: string[], cpuUsageFile: string | null): LaunchPlan {
  const { cpuUsageFile: _old, ...rest } = plan;
  const next: LaunchPlan = { ...rest, cgroupProcs: procs, ...(cpuUsageFile ? { cpuUsageFile } : {}) };
  checkPlanLimits(next);
  return next;
}

/** The plan as JSON for --dry-run: the seccomp program is summarized, not dumped. */
export function planToJson(plan: LaunchPlan): unknown {
  return {
    ...plan,
    seccomp: plan.seccomp
      ? { source: plan.seccomp.source, hash: plan.seccomp.hash, instructions: plan.seccomp.instructions }
      : null,
  };
}
