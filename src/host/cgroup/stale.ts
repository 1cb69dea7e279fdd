/**
 * Leftovers of supervisors that died without cleaning up (SIGKILL, OOM, power cut of the process): run leaves under
 * our parent whose owner — encoded in the leaf name — is no longer alive. Their tasks (a daemon that double-forked
 * out of the run, say) are killed and the leaves removed. Leaves of live supervisors, and anything whose name is
 * not ours, are left alone.
 */
import { join } from 'node:path';
import { SandboxError } from '../../errors.js';
import { childGroups } from './fs.js';
import { hostCgroups } from './probe.js';
import { ownerAlive, parseLeafName } from './naming.js';
import { attachV1 } from './v1.js';
import { attachV2 } from './v2.js';
import type { RunCgroup } from './types.js';

/** Names of abandoned leaves directly under `parent`. */
async function staleLeaves(parent: string, runIdPrefix: string): Promise<string[]> {
  // A missing parent ([] from childGroups) means no run was ever created here.
  return (await childGroups(parent)).filter((name) => {
    const owner = parseLeafName(name);
    return owner !== null && owner.runId.startsWith(runIdPrefix) && !ownerAlive(owner);
  });
}

/**
 * Removes abandoned run groups; returns the directories removed. Throws (after trying all) if some could not be.
 * `runIdPrefix` limits the sweep to runs whose id starts with it (tests use it not to race with each other).
 */
export async function cleanStaleCgroups(opts: { runIdPrefix?: string } = {}): Promise<string[]> {
  const prefix = opts.runIdPrefix ?? '';
  const host = await hostCgroups();
  const groups: { paths: string[]; cg: RunCgroup }[] = [];
  if (host.v2) {
    for (const name of await staleLeaves(host.v2.parent, prefix)) {
      const dir = join(host.v2.parent, name);
      groups.push({ paths: [dir], cg: attachV2(dir) });
    }
  } else if (host.v1) {
    // A v1 run has one leaf per hierarchy, all with the same name: gather them so one kill covers every task.
    const byName = new Map<string, Map<string, string>>();
    for (const [ctrl, parent] of host.v1.parents) {
      for (const name of await staleLeaves(parent, prefix)) {
        if (!byName.has(name)) byName.set(name, new Map());
        byName.get(name)!.set(ctrl, join(parent, name));
      }
    }
    for (const leaves of byName.values()) groups.push({ paths: [...new Set(leaves.values())], cg: attachV1(leaves) });
  }
  const removed: string[] = [];
  const failed: { paths: string[]; error: string }[] = [];
  for (const g of groups) {
    try {
      await g.cg.remove();
      removed.push(...g.paths);
    } catch (e) {
      failed.push({ paths: g.paths, error: (e as Error).message });
    }
  }
  if (failed.length) {
    throw new SandboxError('CGROUP', `could not remove ${failed.length} stale cgroup(s): ${failed.map((f) => `${f.paths[0]}: ${f.error}`).join('; ')}`, {
      removed,
      failed,
    });
  }
  return removed;
}
