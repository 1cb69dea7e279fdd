/**
 * Canonical JSON (sorted keys, exact integers) and the content hash of a compilation.
 */
import { createHash } from 'node:crypto';
import { type ResolvedContext } from './policy/context.js';

// Bump GENERATOR_VERSION (version.ts) when the generated program for the same input changes, so
// that cached programs are not reused.
import { GENERATOR_VERSION } from './version.js';

export { GENERATOR_VERSION };

export function canonicalJson(v: unknown): string {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new TypeError('non-finite number in a profile');
    return JSON.stringify(v);
  }
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return '[' + v.map(canonicalJson).join(',') + ']';
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
    return '{' + keys.map((k) => JSON.stringify(k) + ':' + canonicalJson(o[k])).join(',') + '}';
  }
  throw new TypeError(`cannot hash a ${typeof v} in a profile`);
}

/** sha256 of (generator version, profile, arch, caps, kernel, strict). */
export function compilationHash(profile: unknown, ctx: ResolvedContext): string {
  const input = canonicalJson({
    generator: GENERATOR_VERSION,
    profile,
    arch: ctx.arch,
    caps: ctx.caps,
    kernel: ctx.kernelText,
    strict: ctx.strict,
  });
  return createHash('sha256').update(input).digest('hex');
}
