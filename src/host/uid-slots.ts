/**
 * Host uid slots for sandboxes started by root. The workload never runs as host uid 0: the launcher
 * takes a free uid from a dedicated range and holds it (flock on LOCK_DIR/<uid>, native/uid_slot.c)
 * for as long as the sandbox lives, so concurrent sandboxes always get distinct host uids and a killed
 * supervisor leaves no stale slot.
 *
 * Default range: 1879048192 (0x70000000) + 65536 — above the ranges useradd gives to /etc/subuid and
 * to systemd-nspawn/homed, below 2^31 (where some tools mishandle uids). Override with
 * SANDBOX_UID_RANGE=START:COUNT or the `uidRange` option / `--uid-range`.
 */
import { readFileSync } from 'node:fs';
import { SandboxError } from '../errors.js';

export const DEFAULT_UID_RANGE = { start: 0x70000000, count: 65536 };
export const LOCK_DIR = '/run/sandbox/uid-slots';

export interface UidRange { start: number; count: number }

export function parseUidRange(text: string | undefined): UidRange {
  if (!text) return DEFAULT_UID_RANGE;
  const m = /^([0-9]+):([0-9]+)$/.exec(text);
  const start = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || start < 1000 || count < 1 || start + count > 0xfffffffe) {
    throw new SandboxError('USAGE', `uid range '${text}' is invalid: write START:COUNT with START >= 1000 and START+COUNT below 4294967294`);
  }
  return { start, count };
}

/** The id files a range must stay clear of, as text (null: the file is absent). */
export interface IdFiles { passwd: string | null; group: string | null; subuid: string | null; subgid: string | null }

/**
 * The first id of `range` that this host already gives to someone, and to whom: an account
 * (/etc/passwd), a group (/etc/group — a sandbox's gid is its uid) or a user's subordinate range
 * (/etc/subuid, /etc/subgid: rootless podman's containers run there). A sandbox with such an id would
 * be that user, group or container on the host. Null when the range is free. Pure.
 */
export function rangeConflict(range: UidRange, files: IdFiles): string | null {
  const end = range.start + range.count; // exclusive
  const overlaps = (a: number, n: number) => a < end && a + n > range.start;
  const ids = (text: string | null, file: string, what: string): string | null => {
    for (const line of (text ?? '').split('\n')) {
      const f = line.split(':', 3); // name, password, id: the rest is not needed
      const id = Number(f[2]);
      if (f.length >= 3 && f[2] !== '' && Number.isSafeInteger(id) && overlaps(id, 1)) return `${id} is the ${what} '${f[0]}' in ${file}`;
    }
    return null;
  };
  const ranges = (text: string | null, file: string): string | null => {
    for (const line of (text ?? '').split('\n')) {
      const [owner, first, n] = line.split(':', 3);
      const a = Number(first);
      const c = Number(n);
      if (n !== undefined && Number.isSafeInteger(a) && Number.isSafeInteger(c) && c > 0 && overlaps(a, c)) {
        return `${Math.max(a, range.start)} is in ${owner}'s subordinate range ${a}:${c} in ${file}`;
      }
    }
    return null;
  };
  return ids(files.passwd, '/etc/passwd', 'account') ?? ids(files.group, '/etc/group', 'group')
    ?? ranges(files.subuid, '/etc/subuid') ?? ranges(files.subgid, '/etc/subgid');
}

const checkedRanges = new Set<string>();

/** Refuses a range that overlaps ids this host gives out (rangeConflict); checked once per process. */
export function checkRangeIsFree(range: UidRange): void {
  const key = `${range.start}:${range.count}`;
  if (checkedRanges.has(key)) return;
  const read = (f: string) => { try { return readFileSync(f, 'utf8'); } catch { return null; } };
  const conflict = rangeConflict(range, { passwd: read('/etc/passwd'), group: read('/etc/group'), subuid: read('/etc/subuid'), subgid: read('/etc/subgid') });
  if (conflict) {
    throw new SandboxError('USAGE', `uid range ${key} cannot be used: ${conflict}, and a sandbox with that id would be them on the host; choose a range that no account, group or /etc/subuid range uses (--uid-range or SANDBOX_UID_RANGE)`);
  }
  checkedRanges.add(key);
}
