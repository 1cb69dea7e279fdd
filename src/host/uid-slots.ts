/**
 * Host uid slots for sandboxes started by root. The workload never runs as host uid 0: each run takes
 * a free uid from a dedicated range and holds it (flock on a lock file) for as long as it runs, so
 * concurrent sandboxes always get distinct host uids. The lock is released by the kernel when the
 * process dies, so a SIGKILLed supervisor leaves no stale slot.
 *
 * Default range: 1879048192 (0x70000000) + 65536 — above the ranges useradd gives to /etc/subuid and
 * to systemd-nspawn/homed, below 2^31 (where some tools mishandle uids). Override with
 * SANDBOX_UID_RANGE=START:COUNT or the `uidRange` option / `--uid-range`.
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { SandboxError } from '../errors.js';
import { flock, LOCK_EX, LOCK_NB, LOCK_UN } from './libc.js';

export const DEFAULT_UID_RANGE = { start: 0x70000000, count: 65536 };
const LOCK_DIR = '/run/sandbox/uid-slots';

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

export interface UidSlot {
  uid: number;
  release(): void;
}

export function acquireUidSlot(range: UidRange): UidSlot {
  mkdirSync(LOCK_DIR, { recursive: true, mode: 0o700 });
  // Start at a random slot so concurrent supervisors rarely contend for the same lock.
  const first = Math.floor(Math.random() * range.count);
  for (let i = 0; i < range.count; i++) {
    const uid = range.start + ((first + i) % range.count);
    const fd = openSync(`${LOCK_DIR}/${uid}`, 'w', 0o600);
    if (flock(fd, LOCK_EX | LOCK_NB) === 0) {
      let held = true;
      return {
        uid,
        release() {
          if (!held) return;
          held = false;
          flock(fd, LOCK_UN);
          closeSync(fd);
        },
      };
    }
    closeSync(fd);
  }
  throw new SandboxError('HOST_UNSUPPORTED', `all ${range.count} host uids of the sandbox range ${range.start}:${range.count} are in use; widen it with --uid-range`);
}
