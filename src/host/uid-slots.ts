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
