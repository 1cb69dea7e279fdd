/**
 * The LaunchPlan: everything the native launcher does, as plain data. Built by plan.ts (pure, no I/O),
 * printed by `sandbox exec --dry-run`, encoded by wire.ts, executed by native/.
 */

export type Namespace = 'user' | 'pid' | 'mount' | 'network' | 'ipc' | 'uts' | 'cgroup';

/**
 * Mount attributes. `ifExists`: skip when the target does not exist (masks of optional /proc files).
 * `idmap`: (root, writable binds) the source's owner and the run's host uid are the same on this mount.
 */
export type MountAttr = 'ro' | 'nosuid' | 'nodev' | 'noexec' | 'ifExists' | 'idmap';

export type MountOp =
  | { op: 'tmpfs'; target: string; options: string; attrs: MountAttr[] }
  | { op: 'bind'; target: string; source: string; attrs: MountAttr[] }
  | { op: 'proc'; target: string; attrs: MountAttr[] }
  | { op: 'dir'; target: string; mode: number }
  | { op: 'file'; target: string; mode: number; content: string }
  | { op: 'symlink'; target: string; linkTo: string }
  | { op: 'rebind'; target: string; attrs: MountAttr[] };

export type RlimitName =
  | 'cpu' | 'fsize' | 'data' | 'stack' | 'core' | 'rss' | 'nproc' | 'nofile' | 'memlock' | 'as'
  | 'locks' | 'sigpending' | 'msgqueue' | 'nice' | 'rtprio' | 'rttime';

export interface Rlimit {
  resource: RlimitName;
  /** bytes, seconds or a count, as the kernel reads that resource; 'unlimited' is RLIM_INFINITY */
  soft: number | 'unlimited';
  hard: number | 'unlimited';
}

export type PlanRoot =
  | { kind: 'tmpfs'; options: string }
  /** An image rootfs (a directory in the image store), always under an overlay with a tmpfs upper
   * layer; `writable: false` makes the sandbox's "/" read-only after setup. */
  | { kind: 'image'; source: string; writable: boolean; options: string; digest: string };

export interface IdentityMap {
  /** The workload's uid/gid inside the user namespace. */
  insideUid: number;
  insideGid: number;
  /** Who that is on the host: the invoking user's ids (rootless) or a dedicated uid slot (root). */
  hostUid: number;
  hostGid: number;
  user: string;
  group: string;
}

export interface SeccompProgram {
  /** sha256 of (profile, arch, context): the cache key */
  hash: string;
  instructions: number;
  /** sock_filter[] bytes in host byte order */
  program: Buffer;
  source: string;
}

export interface LaunchPlan {
  version: 1;
  namespaces: Namespace[];
  identity: IdentityMap;
  hostname: string;
  /** cgroup.procs (v2) / cgroup.procs of each v1 hierarchy the launcher joins before it clones */
  cgroupProcs: string[];
  root: PlanRoot;
  mounts: MountOp[];
  rlimits: Rlimit[];
  env: string[];
  cwd: string;
  argv: string[];
  seccomp: SeccompProgram | null;
  /** as root: the launcher takes the first free host uid of this range (flock in lockDir) for the run */
  uidSlots: { first: number; count: number; lockDir: string } | null;
  /** the workload's outputs that the launcher relays from real pipes to its own fds, both together up
   * to relayLimit bytes (set by the supervisor of a spawned launcher, see native/relay.c) */
  relay?: ('stdout' | 'stderr')[];
  relayLimit?: number;
  /** the run's cgroup CPU counter (v2 cpu.stat, v1 cpuacct.usage): init reads it as it reaps the
   * workload, so that the figure holds none of the sandbox's teardown */
  cpuUsageFile?: string;
}
