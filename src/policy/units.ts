/** Sizes (K/M/G, binary) and durations (ms/s), as written in policies and on the command line. */
import { SandboxError } from '../errors.js';

// A decimal fraction is allowed (1.5G, 1.5s, as judges write time limits) when the result is whole.
const SIZE = /^([0-9]+)(?:\.([0-9]+))?([KMG]?)$/;
const DURATION = /^([0-9]+)(?:\.([0-9]+))?(ms|s)$/;
const UNIT: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/**
 * whole.fraction × unit, exactly (BigInt: 0.1 is not a binary fraction), or null when the product is
 * not a whole number (1.1M bytes, 1.0005s in ms) or not a safe integer.
 */
function scaled(whole: string, fraction: string | undefined, unit: number): number | null {
  const digits = fraction ?? '';
  const scale = 10n ** BigInt(digits.length);
  const product = (BigInt(whole) * scale + BigInt(digits || '0')) * BigInt(unit);
  if (product % scale !== 0n) return null;
  const n = product / scale;
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : Number.POSITIVE_INFINITY;
}

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
    if (!m) throw new SandboxError('USAGE', `${what}: '${value}' is not a size; write bytes or a number with K, M or G (e.g. 64M, 1.5G)`);
    const scaledBytes = scaled(m[1]!, m[2], UNIT[m[3]!]!);
    if (scaledBytes === null) throw new SandboxError('USAGE', `${what}: '${value}' is not a whole number of bytes`);
    bytes = scaledBytes;
  }
  if (!Number.isSafeInteger(bytes)) throw new SandboxError('USAGE', `${what}: '${value}' is too large`);
  if (bytes === 0 && !opts.allowZero) throw new SandboxError('USAGE', `${what}: a size of 0 is not allowed (give at least 1 byte, e.g. 64M)`);
  return bytes;
}

/** Node's timers (and so the wall-time limit) hold at most 2^31-1 ms, about 24.8 days. */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/** "300ms" → 300, "2s" → 2000, "1.5s" → 1500. Numbers are milliseconds. */
export function parseDuration(value: string | number, what: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) {
    if (value > MAX_DURATION_MS) throw new SandboxError('USAGE', `${what}: ${value} ms is longer than the maximum of ${MAX_DURATION_MS} ms (about 24 days)`);
    return value;
  }
  const m = typeof value === 'string' ? DURATION.exec(value.trim()) : null;
  const ms = m ? scaled(m[1]!, m[2], m[3] === 's' ? 1000 : 1) : null;
  if (!m || ms === 0) {
    throw new SandboxError('USAGE', `${what}: '${value}' is not a duration; write a positive number with ms or s (e.g. 300ms, 1.5s)`);
  }
  if (ms === null) throw new SandboxError('USAGE', `${what}: '${value}' is not a whole number of milliseconds`);
  if (ms > MAX_DURATION_MS) throw new SandboxError('USAGE', `${what}: '${value}' is longer than the maximum of ${MAX_DURATION_MS} ms (about 24 days)`);
  return ms;
}
