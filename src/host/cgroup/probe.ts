/**
 * Which cgroup driver this process can use, where, and with which controllers. A handful of stat/access/read calls,
 * no side effects (creating the parent groups and enabling controllers happens on the first createRunCgroup), and
 * cached per process.
 */
import { existsSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import type { CgroupMode, CgroupProbe } from './types.js';
import { type CgroupLayout, type CgroupMount, dirForCgroupPath, readLayout } from './mounts.js';
import { exists, writable } from './fs.js';
import { PARENT_NAME, SUPERVISOR_LEAF } from './naming.js';

/** v2 controllers we use. CPU *accounting* (cpu.stat usage_usec) needs none: the core provides it in every group. */
export const V2_WANTED = ['memory', 'pids', 'cpu'] as const;
/** v1 hierarchies we use: limits (memory, pids, cpu), accounting (cpuacct) and a race-free kill (freezer). */
export const V1_WANTED = ['memory', 'pids', 'cpu', 'cpuacct', 'freezer'] as const;

export interface V2Host {
  /** The delegated base D: the hierarchy root (root user) or this process's own delegated cgroup. */
  base: string;
  /** D/sandbox: the parent of every run leaf. */
  parent: string;
  /** D is the real root cgroup, which is exempt from the no-internal-processes rule (no evacuation needed). */
  realRoot: boolean;
  /** Wanted controllers that D's parent made available (D/cgroup.controllers). */
  available: string[];
}

export interface V1Host {
  /** Controller → parent directory of run leaves in its hierarchy (<mount>/sandbox). Co-mounted ones share it. */
  parents: Map<string, string>;
}

/**
 * Rootless on a systemd host whose cgroup for this process is not delegated: each run's launcher is
 * started under `systemd-run --user --scope -p Delegate=yes`, which puts it in a new scope owned by
 * the user (the way rootless podman gets one), and the run's groups are made inside that scope.
 */
export interface V2Scope {
  mount: CgroupMount;
  /** wanted controllers the user's manager hands to its children (from our own cgroup's parent) */
  available: string[];
  /** the systemd-run executable */
  systemdRun: string;
}

export interface HostCgroups {
  probe: CgroupProbe;
  v2: V2Host | null;
  v1: V1Host | null;
  v2Scope: V2Scope | null;
}

function modeOf(layout: CgroupLayout): CgroupMode {
  const v1 = layout.v1.size > 0;
  if (layout.v2 && v1) return 'hybrid';
  if (layout.v2) return 'v2';
  return v1 ? 'v1' : 'none';
}

function systemdUserAvailable(uid: number): boolean {
  // a relative XDG_RUNTIME_DIR is invalid (XDG base directory spec) and would be looked up from the cwd
  const xdg = process.env.XDG_RUNTIME_DIR;
  const rt = xdg && isAbsolute(xdg) ? xdg : `/run/user/${uid}`;
  return existsSync(join(rt, 'systemd', 'private'));
}

function userName(uid: number): string {
  return process.env.USER || process.env.LOGNAME || String(uid);
}

/** A small kernel file, read synchronously (cgroupfs and /proc answer at once; the thread pool that
 * fs/promises would start costs a cold `sandbox exec` milliseconds), or '' if it cannot be read. */
function readOr(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

async function canManage(dir: string): Promise<boolean> {
  // The three files systemd's Delegate=yes hands over (plus the directory itself, to mkdir leaves).
  return (
    (await writable(dir)) &&
    (await writable(join(dir, 'cgroup.procs'))) &&
    (await writable(join(dir, 'cgroup.subtree_control')))
  );
}

/** An executable on PATH, or null. */
function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

async function assessV2(layout: CgroupLayout, uid: number): Promise<{ host: V2Host | null; scope?: V2Scope; reason?: string }> {
  const m = layout.v2;
  if (!m) return { host: null, reason: 'no cgroup2 hierarchy is mounted' };
  // In a hybrid layout the controllers are bound to the v1 hierarchies and the unified one has none of ours.
  const rootCtrls = new Set(readOr(join(m.mountPoint, 'cgroup.controllers')).trim().split(/\s+/));
  if (!V2_WANTED.some((c) => rootCtrls.has(c))) {
    return {
      host: null,
      reason: `cgroup v2 at ${m.mountPoint} carries none of ${V2_WANTED.join(', ')} (they are bound to v1 hierarchies); ` +
        'boot with systemd.unified_cgroup_hierarchy=1 for a cgroup v2 host',
    };
  }
  let base: string | null = null;
  let realRoot = false;
  // The real root cgroup has no cgroup.type; a cgroup-namespace root (a container's "/") does, and then it is
  // an ordinary cgroup bound by the no-internal-processes rule.
  if (m.root === '/' && !(await exists(join(m.mountPoint, 'cgroup.type'))) && (await canManage(m.mountPoint))) {
    base = m.mountPoint;
    realRoot = true;
  } else if (layout.self.v2Path !== null) {
    const own = dirForCgroupPath(m, layout.self.v2Path);
    if (own) {
      // A process we evacuated earlier (or a child it spawned) sits in D/sandbox-supervisor: D is its parent.
      const cand = basename(own) === SUPERVISOR_LEAF ? dirname(own) : own;
      if (await canManage(cand)) base = cand;
    }
  }
  const systemdRun = uid !== 0 && systemdUserAvailable(uid) ? onPath('systemd-run') : null;
  if (!base && systemdRun) {
    // Our cgroup is not ours to manage, but the user's systemd can give each run a delegated scope.
    const own = layout.self.v2Path !== null ? dirForCgroupPath(m, layout.self.v2Path) : null;
    const ctrlText = own ? readOr(join(own, 'cgroup.controllers')) : '';
    const have = new Set(ctrlText.trim().split(/\s+/));
    return { host: null, scope: { mount: m, available: V2_WANTED.filter((c) => have.has(c)), systemdRun } };
  }
  if (!base) {
    const own = layout.self.v2Path ?? '(unknown)';
    const fix = systemdUserAvailable(uid)
      ? 'start it in a delegated scope: systemd-run --user --scope -p Delegate=yes -- sandbox …'
      : `no systemd --user instance runs for uid ${uid}, so ask an administrator to delegate a cgroup as systemd's ` +
        `Delegate=yes does: mkdir ${m.mountPoint}/sbx-${userName(uid)} && chown ${userName(uid)} ${m.mountPoint}/sbx-${userName(uid)}{,/cgroup.procs,/cgroup.subtree_control,/cgroup.threads}` +
        `, and move your shell into it (echo $$ > …/cgroup.procs, as root)`;
    return {
      host: null,
      reason: `cgroup v2: this process's cgroup ${own} is not delegated to uid ${uid} (its cgroup.procs and cgroup.subtree_control are not writable); ${fix}`,
    };
  }
  const ctrlText = readOr(join(base, 'cgroup.controllers'));
  const have = new Set(ctrlText.trim().split(/\s+/));
  const available = V2_WANTED.filter((c) => have.has(c));
  const missing = V2_WANTED.filter((c) => !have.has(c));
  const reason = missing.length
    ? `cgroup v2: controllers ${missing.join(', ')} are not available in ${base} (cgroup.controllers: ${ctrlText.trim() || 'none'}); ` +
      `the parent must enable them: echo "${missing.map((c) => '+' + c).join(' ')}" > ${dirname(base)}/cgroup.subtree_control` +
      ` (systemd: Delegate=yes or Delegate=${V2_WANTED.join(' ')})`
    : undefined;
  return { host: { base, parent: join(base, PARENT_NAME), realRoot, available }, ...(reason ? { reason } : {}) };
}

async function assessV1(layout: CgroupLayout, uid: number): Promise<{ host: V1Host | null; reason?: string }> {
  if (layout.v1.size === 0) return { host: null, reason: 'no cgroup v1 hierarchy is mounted' };
  const parents = new Map<string, string>();
  const absent: string[] = [];
  const denied: string[] = [];
  for (const ctrl of V1_WANTED) {
    const m = layout.v1.get(ctrl);
    if (!m) {
      absent.push(ctrl);
      continue;
    }
    const parent = join(m.mountPoint, PARENT_NAME);
    // Either the parent exists and was delegated to us (chown -R), or we may create it (root).
    const ok = (await exists(parent)) ? await canManageV1(parent) : await writable(m.mountPoint);
    if (ok) parents.set(ctrl, parent);
    else denied.push(ctrl);
  }
  const parts: string[] = [];
  if (absent.length) parts.push(`cgroup v1: hierarchies ${absent.join(', ')} are not mounted`);
  if (denied.length) {
    const user = userName(uid);
    parts.push(
      `cgroup v1: hierarchies ${denied.join(', ')} are owned by root and not delegated to uid ${uid}; run as root, ` +
        `or have root delegate a subtree: for c in ${V1_WANTED.join(' ')}; do mkdir -p /sys/fs/cgroup/$c/${PARENT_NAME} && ` +
        `chown -R ${user} /sys/fs/cgroup/$c/${PARENT_NAME}; done (or use a cgroup v2 host with a delegated subtree)`,
    );
  }
  // cpuacct is required: without it there is no CPU-time measurement for the supervisor's CPU limit.
  if (!parents.has('cpuacct')) return { host: null, reason: parts.join('; ') || 'cgroup v1: cpuacct is not usable' };
  return { host: { parents }, ...(parts.length ? { reason: parts.join('; ') } : {}) };
}

async function canManageV1(dir: string): Promise<boolean> {
  return (await writable(dir)) && (await writable(join(dir, 'cgroup.procs')));
}

async function probeHost(): Promise<HostCgroups> {
  const layout = await readLayout();
  const uid = process.getuid?.() ?? -1;
  const mode = modeOf(layout);
  const [v2, v1] = await Promise.all([assessV2(layout, uid), assessV1(layout, uid)]);

  // A v2 hierarchy with the memory controller is the better mechanism (cgroup.kill, memory.peak, oom.group).
  // In a hybrid layout the unified hierarchy usually has no controllers (only hugetlb here), so v1 wins there.
  let driver: 'v2' | 'v1' | 'none';
  if (v2.host && v2.host.available.includes('memory')) driver = 'v2';
  else if (v2.scope && v2.scope.available.includes('memory')) driver = 'v2';
  else if (v1.host) driver = 'v1';
  else if (v2.host || v2.scope) driver = 'v2';
  else driver = 'none';

  let probe: CgroupProbe;
  if (driver === 'v2' && !v2.host && v2.scope) {
    probe = { mode, driver, root: null, controllers: [...v2.scope.available], delegated: true, scope: true };
  } else if (driver === 'v2') {
    const h = v2.host!;
    probe = { mode, driver, root: h.parent, controllers: [...h.available], delegated: uid !== 0, ...(v2.reason ? { reason: v2.reason } : {}) };
  } else if (driver === 'v1') {
    const h = v1.host!;
    probe = {
      mode,
      driver,
      root: h.parents.get('memory') ?? [...h.parents.values()][0]!,
      controllers: [...h.parents.keys()],
      delegated: uid !== 0,
      ...(v1.reason ? { reason: v1.reason } : {}),
    };
  } else {
    const reasons = [v2.reason, v1.reason].filter((r): r is string => !!r);
    probe = {
      mode,
      driver,
      root: null,
      controllers: [],
      delegated: false,
      reason: (mode === 'none' ? 'no cgroup filesystem is mounted (mount cgroup2 on /sys/fs/cgroup)' : reasons.join('; ')) +
        '; limits fall back to rlimits',
    };
  }
  return {
    probe,
    v2: driver === 'v2' ? v2.host : null,
    v1: driver === 'v1' ? v1.host : null,
    v2Scope: driver === 'v2' && !v2.host ? v2.scope ?? null : null,
  };
}

let cached: Promise<HostCgroups> | null = null;

/** Internal: the probe plus what the drivers need. */
export function hostCgroups(refresh = false): Promise<HostCgroups> {
  if (refresh || !cached) {
    cached = probeHost();
    cached.catch(() => (cached = null));
  }
  return cached;
}

export async function probeCgroups(opts: { refresh?: boolean } = {}): Promise<CgroupProbe> {
  const h = await hostCgroups(opts.refresh ?? false);
  return { ...h.probe, controllers: [...h.probe.controllers] };
}
