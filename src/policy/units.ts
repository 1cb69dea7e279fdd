/** Sizes (K/M/G, binary) and durations (ms/s), as written in policies and on the command line. */
import { SandboxError } from '../errors.js';

const SIZE = /^([0-9]+)([KMG]?)$/;
const DURATION = /^([0-9]+)(ms|s)$/;
const UNIT: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/**
 * "64M" → 67108864. Numbers are bytes. Zero is refused unless `allowZero` (e.g. swap): for a tmpfs,
 * size=0 means *unlimited*, so a zero must never reach a mount option by accident.
 */
export function parseSize(value: string | number, what: string, opts: { allowZero?: boolean } = {}): number {
  let bytes: number;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) {
    bytes = value;
  } else {
    const m = typeof value === 'string' ? SIZE.exec(value.trim()) : null;
    if (!m) throw new SandboxError('USAGE', `${what}: '${value}' is not a size; write bytes or a number with K, M or G (e.g. 64M)`);
    bytes = Number(m[1]) * UNIT[m[2]!]!;
  }
  if (!Number.isSafeInteger(bytes)) throw new SandboxError('USAGE', `${what}: '${value}' is too large`);
  if (bytes === 0 && !opts.allowZero) throw new SandboxError('USAGE', `${what}: a size of 0 is not allowed (give at least 1 byte, e.g. 64M)`);
  return bytes;
}

/** Node's timers (and so the wall-time limit) hold at most 2^31-1 ms, about 24.8 days. */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/** "300ms" → 300, "2s" → 2000. Numbers are milliseconds. */
export function parseDuration(value: string | number, what: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) {
    if (value > MAX_DURATION_MS) throw new SandboxError('USAGE', `${what}: ${value} ms is longer than the maximum of ${MAX_DURATION_MS} ms (about 24 days)`);
    return value;
  }
  const m = typeof value === 'string' ? DURATION.exec(value.trim()) : null;
  if (!m || Number(m[1]) === 0) {
    throw new SandboxError('USAGE', `${what}: '${value}' is not a duration; write a positive number with ms or s (e.g. 300ms, 2s)`);
  }
  const ms = Number(m[1]) * (m[2] === 's' ? 1000 : 1);
  if (ms > MAX_DURATION_MS) throw new SandboxError('USAGE', `${what}: '${value}' is longer than the maximum of ${MAX_DURATION_MS} ms (about 24 days)`);
  return ms;
}
