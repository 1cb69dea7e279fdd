/**
 * The cgroup interface the supervisor codes against. Two drivers implement `RunCgroup` (v2.ts, v1.ts);
 * where neither is usable the probe says so (driver 'none' + reason) and the supervisor falls back to rlimits.
 */

/** What the host mounts: a unified v2 hierarchy, only v1 hierarchies, both (hybrid), or nothing. */
export type CgroupMode = 'v2' | 'v1' | 'hybrid' | 'none';
export type CgroupDriverName = 'v2' | 'v1';

export interface CgroupLimits {
  /** Hard memory limit in bytes (RAM; swap is added on top only if `swapBytes` says so). */
  memoryBytes?: number;
  /** Swap the run may use on top of `memoryBytes`. Default 0: swap counts as memory. Only used with memoryBytes. */
  swapBytes?: number;
  /** Maximum number of tasks (the kernel counts threads as well as processes). */
  pids?: number;
  /** CPU bandwidth in cores: a quota of cores × 100 ms per 100 ms period (cpu.max / cfs_quota_us). */
  cpuCores?: number;
}

export interface CgroupProbe {
  mode: CgroupMode;
  driver: CgroupDriverName | 'none';
  /** Directory under which this process creates its run groups (v1: the one in the memory hierarchy). */
  root: string | null;
  /** Controllers the chosen driver can use, from: memory, pids, cpu, cpuacct, freezer. */
  controllers: string[];
  /** True when the groups live in a subtree delegated to a non-root user (v2 Delegate=yes, or a chown'd v1 subtree). */
  delegated: boolean;
  /** Why no driver (or not every controller) is usable, and the command that fixes it. */
  reason?: string;
  /** Each run gets its own delegated scope from systemd --user (createScopedRunCgroup). */
  scope?: boolean;
}

export interface CgroupStats {
  /** CPU time of every task that ever ran in the group (v2 cpu.stat usage_usec; v1 cpuacct.usage). */
  cpuNs: number;
  userNs?: number;
  systemNs?: number;
  /**
   * High-water mark of memory charged to the group, in bytes: anonymous memory, page cache first touched by the
   * group (including tmpfs files it wrote) and kernel memory — v2 memory.peak; v1 memory.memsw.max_usage_in_bytes
   * (memory+swap, which is what the limit caps) or memory.max_usage_in_bytes without swap accounting.
   * null when the kernel has no peak counter (v2 before 5.19) or the memory controller is not in use.
   */
  memoryPeakBytes: number | null;
  /** The kernel file memoryPeakBytes came from (for the Result's "how was this measured"), null with it. */
  memoryPeakSource?: 'memory.peak' | 'memory.memsw.max_usage_in_bytes' | 'memory.max_usage_in_bytes' | null;
  /** True when the kernel's OOM killer killed at least one task of the group. */
  oomKilled: boolean;
  oomKillCount: number;
  /** High-water mark of tasks (pids.peak), null when the kernel lacks it. */
  pidsPeak?: number | null;
  /** Number of times a fork/clone failed because of pids.max (pids.events "max"), null when unknown. */
  pidsLimitHits?: number | null;
  /** CPU bandwidth periods in which the group was throttled (cpu.stat nr_throttled), null without the cpu controller. */
  cpuThrottledPeriods?: number | null;
}

export interface RunCgroup {
  readonly driver: CgroupDriverName;
  /** v2: the leaf directory; v1: the leaf in the memory hierarchy (the other hierarchies' leaves are in `paths`). */
  readonly path: string;
  /** Every leaf directory created (one per v1 hierarchy). */
  readonly paths: string[];
  /** Files the launcher writes its own pid into BEFORE it clones, so that every descendant starts inside. */
  readonly procsFiles: string[];
  /** The group's CPU counter (v2 cpu.stat, v1 cpuacct.usage; null without cpuacct): the sandbox's init
   * reads it as it reaps the workload (TAG_CPU_USAGE), before the teardown adds to it. */
  readonly cpuUsageFile: string | null;
  /** Which limits this cgroup really enforces (false when not requested, or when the kernel cannot enforce it). */
  readonly enforced: { memory: boolean; pids: boolean; cpuCores: boolean };
  /** Decisions and downgrades worth reporting (e.g. "no swap accounting; no swap is active"). */
  readonly notes: readonly string[];
  /** Synchronous, cheap (one pread of an open file): total CPU time in ns. After remove(), the last value read. */
  cpuUsageNs(): number;
  /** Statistics; read them before remove(). */
  stats(): Promise<CgroupStats>;
  /** Kill every task in the group and wait until it is empty. */
  killAll(): Promise<void>;
  /** Kill if needed, wait until empty, rmdir every leaf. Idempotent; ENOENT is not an error. */
  remove(): Promise<void>;
}
