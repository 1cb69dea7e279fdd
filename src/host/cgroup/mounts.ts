/**
 * Where the cgroup hierarchies are mounted and which cgroup this process is in. Pure parsers (unit-tested with
 * fixture text) plus one function that reads the two /proc files.
 */
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';

export interface CgroupMount {
  fstype: 'cgroup' | 'cgroup2';
  /** Where it is mounted, e.g. /sys/fs/cgroup/memory. */
  mountPoint: string;
  /** Which directory of the hierarchy is visible at the mount point ("/" unless bind-mounted or namespaced). */
  root: string;
  /** v1 only: the controllers bound to this hierarchy (a hierarchy may carry several, e.g. cpu,cpuacct). */
  controllers: string[];
}

/** The v1 controllers we know; other super options (rw, name=systemd, xattr, ...) are not controllers. */
const V1_CONTROLLERS = new Set([
  'cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'net_cls', 'blkio', 'perf_event', 'net_prio',
  'hugetlb', 'pids', 'rdma', 'misc',
]);

/** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountInfo(text: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const post = line.slice(dash + 3).split(' ');
    const fstype = post[0];
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue; // before the rest is split: most lines are not
    const pre = line.slice(0, dash).split(' ');
    const superOpts = (post[2] ?? '').split(',');
    out.push({
      fstype,
      root: unescapeMountField(pre[3] ?? '/'),
      mountPoint: unescapeMountField(pre[4] ?? ''),
      controllers: fstype === 'cgroup' ? superOpts.filter((o) => V1_CONTROLLERS.has(o)) : [],
    });
  }
  return out;
}

export interface ProcCgroup {
  /** The "0::/path" line: this process's cgroup in the unified hierarchy, if any. */
  v2Path: string | null;
  /** v1 controller name → this process's path in that hierarchy. */
  v1Paths: Map<string, string>;
}

export function parseProcCgroup(text: string): ProcCgroup {
  let v2Path: string | null = null;
  const v1Paths = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const id = line.slice(0, first);
    const ctrls = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (id === '0' && ctrls === '') v2Path = path;
    else for (const c of ctrls.split(',')) if (c) v1Paths.set(c, path);
  }
  return { v2Path, v1Paths };
}

/**
 * The directory of `cgPath` (a path inside the hierarchy, from /proc/self/cgroup) under a mount of that hierarchy,
 * or null when the mount does not show that part of the tree.
 */
export function dirForCgroupPath(mount: CgroupMount, cgPath: string): string | null {
  const root = mount.root === '/' ? '' : mount.root.replace(/\/+$/, '');
  if (root && cgPath !== root && !cgPath.startsWith(root + '/')) return null;
  const rel = cgPath.slice(root.length);
  return posix.normalize(posix.join(mount.mountPoint, rel || '/')).replace(/\/$/, '') || '/';
}

/** Prefer the conventional mount points, then any mount that shows the whole hierarchy. */
export function pickMount(candidates: CgroupMount[]): CgroupMount | null {
  const pref = ['/sys/fs/cgroup', '/sys/fs/cgroup/unified'];
  for (const p of pref) {
    const m = candidates.find((c) => c.mountPoint === p);
    if (m) return m;
  }
  return candidates.find((c) => c.root === '/') ?? candidates[0] ?? null;
}

export interface CgroupLayout {
  v2: CgroupMount | null;
  /** v1 controller → the mount of its hierarchy. */
  v1: Map<string, CgroupMount>;
  self: ProcCgroup;
}

export function layoutFrom(mountinfo: string, procCgroup: string): CgroupLayout {
  const mounts = parseMountInfo(mountinfo);
  const v2 = pickMount(mounts.filter((m) => m.fstype === 'cgroup2'));
  const v1 = new Map<string, CgroupMount>();
  for (const ctrl of V1_CONTROLLERS) {
    const m = pickMount(mounts.filter((x) => x.fstype === 'cgroup' && x.controllers.includes(ctrl)));
    if (m) v1.set(ctrl, m);
  }
  return { v2, v1, self: parseProcCgroup(procCgroup) };
}

/** Read synchronously: /proc answers at once, and a cold `sandbox exec` does not start the thread pool. */
export async function readLayout(): Promise<CgroupLayout> {
  let pc = '';
  try {
    pc = readFileSync('/proc/self/cgroup', 'utf8');
  } catch { /* no cgroup file: no membership known */ }
  return layoutFrom(readFileSync('/proc/self/mountinfo', 'utf8'), pc);
}
