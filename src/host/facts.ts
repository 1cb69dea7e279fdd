/**
 * The few facts about the host that a LaunchPlan depends on, probed with lstat only (fast: this runs
 * on every `sandbox exec`). plan.ts turns them into mounts without doing I/O itself.
 */
import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { release } from 'node:os';
import type { RlimitName } from '../launch/types.js';
import type { DeviceName } from '../policy/types.js';

const LIMIT_NAMES: Record<string, RlimitName> = {
  'Max cpu time': 'cpu', 'Max file size': 'fsize', 'Max data size': 'data', 'Max stack size': 'stack',
  'Max core file size': 'core', 'Max resident set': 'rss', 'Max processes': 'nproc', 'Max open files': 'nofile',
  'Max locked memory': 'memlock', 'Max address space': 'as', 'Max file locks': 'locks',
  'Max pending signals': 'sigpending', 'Max msgqueue size': 'msgqueue', 'Max nice priority': 'nice',
  'Max realtime priority': 'rtprio', 'Max realtime timeout': 'rttime',
};

/** Hard limits from /proc/self/limits (Node has no getrlimit). */
export function readHardLimits(text: string): Partial<Record<RlimitName, number | 'unlimited'>> {
  const out: Partial<Record<RlimitName, number | 'unlimited'>> = {};
  for (const line of text.split('\n').slice(1)) {
    const m = /^(.+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    const name = m ? LIMIT_NAMES[m[1]!.trim()] : undefined;
    if (!m || !name) continue;
    out[name] = m[3] === 'unlimited' ? 'unlimited' : Number(m[3]);
  }
  return out;
}

export type HostEntry =
  | { kind: 'dir' }
  | { kind: 'file' }
  | { kind: 'symlink'; target: string }
  | { kind: 'missing' }
  | { kind: 'other' };

export interface HostFacts {
  euid: number;
  egid: number;
  kernel: string;
  /** this process's hard rlimits (the launcher inherits them; a sandbox can only lower limits) */
  hardLimits: Partial<Record<RlimitName, number | 'unlimited'>>;
  /** lstat of each probed path (the policy's hostDirs, /etc entries, /dev devices) */
  entries: Record<string, HostEntry>;
}

export function probeEntry(path: string): HostEntry {
  try {
    // a missing entry is common (/lib32, /dev/tty…): no exception for it, which costs more than the lstat
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (!st) return { kind: 'missing' };
    if (st.isSymbolicLink()) return { kind: 'symlink', target: readlinkSync(path) };
    if (st.isDirectory()) return { kind: 'dir' };
    if (st.isFile()) return { kind: 'file' };
    return { kind: 'other' };
  } catch {
    return { kind: 'missing' };
  }
}

export function probeHostFacts(paths: { hostDirs: string[]; etcFromHost: string[]; devices: DeviceName[] }): HostFacts {
  const entries: Record<string, HostEntry> = {};
  for (const p of paths.hostDirs) entries[p] = probeEntry(p);
  for (const name of paths.etcFromHost) entries[`/etc/${name}`] = probeEntry(`/etc/${name}`);
  for (const d of paths.devices) entries[`/dev/${d}`] = probeEntry(`/dev/${d}`);
  return {
    euid: process.geteuid!(),
    egid: process.getegid!(),
    kernel: release(),
    hardLimits: readHardLimits(readFileSync('/proc/self/limits', 'utf8')),
    entries,
  };
}
