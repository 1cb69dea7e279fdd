/**
 * The few facts about the host that a LaunchPlan depends on, probed with lstat only (fast: this runs
 * on every `sandbox exec`). plan.ts turns them into mounts without doing I/O itself.
 */
import { lstatSync, readlinkSync } from 'node:fs';
import { release } from 'node:os';
import type { DeviceName } from '../policy/types.js';

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
  /** lstat of each probed path (the policy's hostDirs, /etc entries, /dev devices) */
  entries: Record<string, HostEntry>;
}

export function probeEntry(path: string): HostEntry {
  try {
    const st = lstatSync(path);
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
    entries,
  };
}
