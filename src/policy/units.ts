/** Sizes (K/M/G, binary) and durations (ms/s), as written in policies and on the command line. */
import { SandboxError } from '../errors.js';

const SIZE = /^([0-9]+)([KMG]?)$/;
const DURATION = /^([0-9]+)(ms|s)$/;
const UNIT: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** "64M" → 67108864. Numbers are bytes. */
export function parseSize(value: string | number, what: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  const m = typeof value === 'string' ? SIZE.exec(value.trim()) : null;
  if (!m) throw new SandboxError('USAGE', `${what}: '${value}' is not a size; write bytes or a number with K, M or G (e.g. 64M)`);
  const bytes = Number(m[1]) * UNIT[m[2]!]!;
  if (!Number.isSafeInteger(bytes)) throw new SandboxError('USAGE', `${what}: '${value}' is too large`);
  return bytes;
}

/** "300ms" → 300, "2s" → 2000. Numbers are milliseconds. */
export function parseDuration(value: string | number, what: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  const m = typeof value === 'string' ? DURATION.exec(value.trim()) : null;
  if (!m || Number(m[1]) === 0) {
    throw new SandboxError('USAGE', `${what}: '${value}' is not a duration; write a positive number with ms or s (e.g. 300ms, 2s)`);
  }
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}
