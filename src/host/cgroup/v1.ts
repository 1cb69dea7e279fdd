/**
 * cgroup v1 driver (root on a v1 or hybrid host, or a user to whom root chown'd <hierarchy>/sandbox).
 *
 * One leaf per run in each hierarchy: <mount>/sandbox/<runId>.<ownerPid>.<ownerStart>. Hierarchies are
 * independent in v1, so the launcher writes its pid into every leaf's cgroup.procs (procsFiles); co-mounted
 * hierarchies (e.g. cpu,cpuacct) share one directory and get one write.
 *
 * Semantics worth knowing (kernel Documentation/admin-guide/cgroup-v1/memory.rst):
 * - memory.limit_in_bytes caps RAM; memory.memsw.limit_in_bytes caps RAM+swap and must always be >= the former, so
 *   on a fresh group (both unlimited) the RAM limit is written first, then memsw. memsw = limit + swapBytes
 *   (default 0), so swap cannot extend the limit.
 * - memory.max_usage_in_bytes / memsw.max_usage_in_bytes are high-water marks of everything charged: anonymous
 *   memory, page cache the group first touched (files it read or wrote, tmpfs included) and kernel memory. That is
 *   what the limit is compared against, so it is what we report — not the max RSS of one process.
 * - The v1 OOM killer kills one task (no memory.oom.group); memory.oom_control counts it in "oom_kill" (4.13+).
 *   The supervisor should killAll() when it sees oomKilled, as it does at the end of every run.
 * - Tasks that joined keep their old charges (move_charge_at_immigrate=0): only memory allocated inside counts,
 *   so the launcher joining before clone() does not bill the run for the launcher's own pages.
 */
import { rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { SandboxError } from '../../errors.js';
import type { CgroupLimits, CgroupStats, RunCgroup } from './types.js';
import type { V1Host } from './probe.js';
import {
  OpenCounter, errnoOf, exists, mkdirCg, mkdirShared, parseIntStrict, parseKeyed, readCg, readCgOptional,
  readPidsTree, rmdirTree, swapActive, tryWriteCg, waitFor, writeCg,
} from './fs.js';
import { leafName, selfOwner } from './naming.js';
import { CPU_PERIOD_US, KILL_TIMEOUT_MS, cpuQuotaUs, killPids, memswBytes } from './limits.js';

/** USER_HZ: the unit of cpuacct.stat, fixed at 100 in the kernel ABI on every architecture Linux ships. */
const USER_HZ = 100;

export async function createV1(host: V1Host, runId: string, limits: CgroupLimits): Promise<RunCgroup> {
  const owner = selfOwner();
  const name = leafName(runId, owner.pid, owner.startTime);
  // The cpu hierarchy is joined only for a bandwidth limit: accounting comes from cpuacct, and one hierarchy less
  // is one mkdir/rmdir less per run. All the others are joined always (statistics and the freezer-based kill).
  const ctrls = [...host.parents.keys()].filter((c) => c !== 'cpu' || limits.cpuCores !== undefined);
  const leaves = new Map<string, string>();
  const created: string[] = [];
  try {
    for (const ctrl of ctrls) {
      const parent = host.parents.get(ctrl)!;
      const dir = join(parent, name);
      leaves.set(ctrl, dir);
      if (created.includes(dir)) continue; // co-mounted hierarchy: same directory
      await mkdirShared(parent);
      await mkdirCg(dir);
      created.push(dir);
    }
    const notes: string[] = [];
    const enforced = await configure(leaves, limits, notes);
    return new V1RunCgroup(leaves, created, enforced, notes, true);
  } catch (e) {
    for (const dir of created.reverse()) await rmdirTree(dir).catch(() => undefined); // best effort; rethrow the cause
    throw e;
  }
}

async function configure(leaves: Map<string, string>, l: CgroupLimits, notes: string[]): Promise<RunCgroup['enforced']> {
  const enforced = { memory: false, pids: false, cpuCores: false };
  const mem = leaves.get('memory');
  if (l.memoryBytes !== undefined) {
    if (!mem) notes.push('memory limit NOT enforced: the memory hierarchy is not usable');
    else {
      await writeCg(join(mem, 'memory.limit_in_bytes'), String(l.memoryBytes));
      const memsw = join(mem, 'memory.memsw.limit_in_bytes');
      if (await exists(memsw)) {
        await writeCg(memsw, String(memswBytes(l)));
        enforced.memory = true;
      } else if (await swapActive()) {
        notes.push('memory limit NOT enforced as memory+swap: no memory.memsw.* (boot with swapaccount=1) while swap is active');
      } else {
        enforced.memory = true;
        notes.push('no memory.memsw.* (swap accounting off), but no swap is active: the RAM limit caps memory+swap');
      }
      // memory.oom_control stays at oom_kill_disable 0: with the OOM killer disabled a task at the limit would
      // hang in the kernel instead of dying, and a judge wants ML, not TLE.
      // With memsw == limit swapping cannot help the group; swappiness 0 avoids pointless swap-out churn before
      // the OOM kill. An optimisation, so a refusal is a note.
      const err = await tryWriteCg(join(mem, 'memory.swappiness'), '0');
      if (err) notes.push(`memory.swappiness not set: ${err.message}`);
    }
  }
  if (l.pids !== undefined) {
    const dir = leaves.get('pids');
    if (!dir) notes.push('pids limit NOT enforced: the pids hierarchy is not usable');
    else {
      await writeCg(join(dir, 'pids.max'), String(l.pids));
      enforced.pids = true;
    }
  }
  if (l.cpuCores !== undefined) {
    const dir = leaves.get('cpu');
    if (!dir) notes.push('CPU bandwidth limit NOT enforced: the cpu hierarchy is not usable');
    else {
      // Period first: the quota is validated against it (and against the parent's bandwidth).
      await writeCg(join(dir, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
      await writeCg(join(dir, 'cpu.cfs_quota_us'), String(cpuQuotaUs(l.cpuCores)));
      enforced.cpuCores = true;
    }
  }
  return enforced;
}

class V1RunCgroup implements RunCgroup {
  readonly driver = 'v1' as const;
  readonly path: string;
  readonly procsFiles: string[];
  readonly cpuUsageFile: string | null;
  private counter: OpenCounter | null = null;
  private lastCpuNs = 0;
  private removing: Promise<void> | null = null;

  constructor(
    private readonly leaves: Map<string, string>,
    readonly paths: string[],
    readonly enforced: RunCgroup['enforced'],
    readonly notes: readonly string[],
    openCounter: boolean,
  ) {
    this.path = leaves.get('memory') ?? paths[0]!;
    this.procsFiles = paths.map((d) => join(d, 'cgroup.procs'));
    const acct = leaves.get('cpuacct');
    this.cpuUsageFile = acct ? join(acct, 'cpuacct.usage') : null;
    if (openCounter && this.cpuUsageFile) this.counter = new OpenCounter(this.cpuUsageFile);
  }

  cpuUsageNs(): number {
    const text = this.counter?.read() ?? null;
    if (text !== null) this.lastCpuNs = parseIntStrict(text, this.counter!.file);
    return this.lastCpuNs;
  }

  async stats(): Promise<CgroupStats> {
    const acct = this.leaves.get('cpuacct');
    const mem = this.leaves.get('memory');
    const pids = this.leaves.get('pids');
    const cpu = this.leaves.get('cpu');
    const opt = (dir: string | undefined, f: string) => (dir ? readCgOptional(join(dir, f)) : Promise.resolve(null));
    const [usage, user, sys, stat, memswPeak, memPeak, oomCtl, pidsPeak, pidsEvents, cpuStat] = await Promise.all([
      acct ? readCg(join(acct, 'cpuacct.usage')) : Promise.resolve('0'),
      opt(acct, 'cpuacct.usage_user'),
      opt(acct, 'cpuacct.usage_sys'),
      opt(acct, 'cpuacct.stat'),
      opt(mem, 'memory.memsw.max_usage_in_bytes'),
      opt(mem, 'memory.max_usage_in_bytes'),
      opt(mem, 'memory.oom_control'),
      opt(pids, 'pids.peak'),
      opt(pids, 'pids.events'),
      opt(cpu, 'cpu.stat'),
    ]);
    let userNs: number | undefined;
    let systemNs: number | undefined;
    if (user !== null && sys !== null) {
      userNs = Number(user.trim());
      systemNs = Number(sys.trim());
    } else if (stat !== null) {
      const s = parseKeyed(stat);
      userNs = ((s.get('user') ?? 0) * 1e9) / USER_HZ;
      systemNs = ((s.get('system') ?? 0) * 1e9) / USER_HZ;
    }
    const oomKillCount = oomCtl !== null ? (parseKeyed(oomCtl).get('oom_kill') ?? 0) : 0;
    const peak = memswPeak ?? memPeak; // memory+swap when accounted: that is what the limit caps
    return {
      cpuNs: Number(usage.trim()),
      ...(userNs !== undefined ? { userNs, systemNs: systemNs! } : {}),
      memoryPeakBytes: peak !== null ? Number(peak.trim()) : null,
      memoryPeakSource: memswPeak !== null ? 'memory.memsw.max_usage_in_bytes' : memPeak !== null ? 'memory.max_usage_in_bytes' : null,
      oomKilled: oomKillCount > 0,
      oomKillCount,
      pidsPeak: pidsPeak !== null ? Number(pidsPeak.trim()) : null,
      pidsLimitHits: pidsEvents !== null ? (parseKeyed(pidsEvents).get('max') ?? 0) : null,
      cpuThrottledPeriods: cpuStat !== null ? (parseKeyed(cpuStat).get('nr_throttled') ?? 0) : null,
    };
  }

  private async allPids(): Promise<number[]> {
    const lists = await Promise.all(this.paths.map((d) => readPidsTree(d)));
    return [...new Set(lists.flat())];
  }

  /**
   * Kill every task and wait until the group is empty: freeze, SIGKILL every task, thaw. Frozen, the group
   * cannot fork, so the list read is complete; the SIGKILLs stay pending until the thaw, after which each task
   * dies before it runs another user instruction. An empty group (the usual case at the end of a run, when the
   * sandbox's init has taken everything down) costs nothing. Without a freezer hierarchy we keep killing new
   * pids until the group is empty; pids.max bounds that race. (When a CPU budget runs out, the supervisor
   * signals the tasks directly first, src/limits/stop-now.ts, and then comes here.)
   */
  async killAll(): Promise<void> {
    if (!(await Promise.all(this.paths.map((d) => exists(d)))).some(Boolean)) return; // removed already
    const killed = new Set<number>();
    let failed: { pid: number; errno: string }[] = [];
    const killNew = (pids: number[]): boolean => {
      const fresh = pids.filter((p) => !killed.has(p));
      failed = killPids(fresh);
      fresh.forEach((p) => killed.add(p));
      return fresh.length > 0;
    };
    if ((await this.allPids()).length === 0) return;
    const state = this.leaves.get('freezer') ? join(this.leaves.get('freezer')!, 'freezer.state') : null;
    if (state) {
      // Freeze first: a frozen group cannot fork, so the list of tasks read next is complete; the
      // SIGKILLs stay pending until the thaw, after which each task dies before running again.
      await writeCg(state, 'FROZEN');
      // FREEZING can persist while a task sits in uninterruptible sleep; after 2 s go on: SIGKILL still reaches
      // the tasks that are not frozen, and the loop below catches stragglers.
      await waitFor(async () => (await readCg(state)).trim() === 'FROZEN', 2000);
      try {
        killNew(await this.allPids());
      } finally {
        await writeCg(state, 'THAWED');
      }
    } else {
      killNew(await this.allPids());
    }
    const empty = await waitFor(async () => {
      const left = await this.allPids();
      killNew(left); // stragglers that raced in (no freezer) or were not frozen yet
      return left.length === 0;
    }, KILL_TIMEOUT_MS);
    if (!empty) {
      const left = await this.allPids();
      throw new SandboxError('CGROUP', `tasks ${left.join(' ')} of ${this.path} survived SIGKILL for ${KILL_TIMEOUT_MS} ms` +
        (failed.length ? ` (kill failed: ${failed.map((f) => `${f.pid} ${f.errno}`).join(', ')})` : ' (uninterruptible sleep?)'), {
        paths: this.paths,
        pids: left,
      });
    }
  }

  /**
   * The usual end of a run: the launcher has reaped everything and no child group was made, so each
   * leaf is just rmdir'd (4 system calls instead of ~40 — half a millisecond of every run here). rmdir
   * succeeds only on a group with no task and no child group, the kernel checks that, so this is safe
   * to try first; the freezer's leaf goes last, so that if a leaf is busy the full path below can still
   * freeze and kill what is left. False when a leaf is busy (what was removed stays removed).
   */
  private removeIfEmpty(): boolean {
    try {
      this.cpuUsageNs(); // keep the final value for callers that ask after remove()
    } catch {
      /* the counter is only a convenience here */
    }
    const freezer = this.leaves.get('freezer');
    for (const dir of [...this.paths.filter((d) => d !== freezer), ...(freezer ? [freezer] : [])]) {
      try {
        rmdirSync(dir);
      } catch (e) {
        if (errnoOf(e) !== 'ENOENT') return false;
      }
    }
    return true;
  }

  remove(): Promise<void> {
    if (!this.removing) {
      this.removing = (async () => {
        if (this.removeIfEmpty()) {
          this.counter?.close();
          this.counter = null;
          return;
        }
        const present = (await Promise.all(this.paths.map((d) => exists(d)))).some(Boolean);
        if (present) {
          if ((await this.allPids()).length > 0) await this.killAll();
          try {
            this.cpuUsageNs(); // keep the final value for callers that ask after remove()
          } catch {
            /* the counter is only a convenience here */
          }
        }
        this.counter?.close();
        this.counter = null;
        for (const dir of this.paths) await rmdirTree(dir);
      })();
      this.removing.catch(() => (this.removing = null)); // allow a retry after a failure
    }
    return this.removing;
  }
}

/** A RunCgroup for existing leaves (stale cleanup): controller → leaf directory. */
export function attachV1(leaves: Map<string, string>): RunCgroup {
  const paths = [...new Set(leaves.values())];
  return new V1RunCgroup(leaves, paths, { memory: false, pids: false, cpuCores: false }, [], false);
}
