/**
 * The seccomp cache directory (seccomp.ts: compiled programs, the generator's own entries, the setid
 * guard's answers) is written on misses only, and nothing else ever removes an entry: without this it
 * would keep one for every profile, kernel and generator version ever used. After each write, entries
 * not written for 30 days go, and beyond 1,000 entries the oldest. An entry still in use that goes is
 * compiled again once (tens of ms) and written anew.
 *
 * Only regular files named like ours (`*.json`, and `*.tmp` of writes that never finished) are
 * removed; anything else in the directory is left alone. Another process may remove an entry this
 * one is about to read: the read misses and compiles, as for any missing entry.
 */
import { lstatSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

export interface CacheLimits {
  maxAgeMs: number;
  maxEntries: number;
}

export const CACHE_LIMITS: CacheLimits = { maxAgeMs: 30 * 24 * 3600 * 1000, maxEntries: 1000 };

/** Removes what is past `limits` from `dir`; returns how many files went. Never throws. */
export function pruneCacheDir(dir: string, limits: CacheLimits = CACHE_LIMITS, now = Date.now()): number {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  const files: { name: string; mtimeMs: number }[] = [];
  for (const name of names) {
    if (!/\.(json|tmp)$/.test(name)) continue;
    try {
      const st = lstatSync(join(dir, name));
      if (st.isFile()) files.push({ name, mtimeMs: st.mtimeMs });
    } catch { /* removed meanwhile */ }
  }
  files.sort((a, b) => b.mtimeMs - a.mtimeMs); // newest first
  let removed = 0;
  files.forEach((f, i) => {
    if (i < limits.maxEntries && now - f.mtimeMs <= limits.maxAgeMs) return;
    try {
      unlinkSync(join(dir, f.name));
      removed++;
    } catch { /* removed meanwhile */ }
  });
  return removed;
}
