/**
 * Digests: the only way untrusted strings become file names in the store or a layout.
 * A digest is validated against `sha256:[a-f0-9]{64}` before it is ever joined to a path, so
 * `sha256:../../x`, upper-case hex, other algorithms and trailing garbage are all refused.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { SandboxError } from '../errors.js';

/** Anchored on both ends: a digest is exactly this and nothing more. */
export const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function isDigest(s: unknown): s is string {
  return typeof s === 'string' && DIGEST_RE.test(s);
}

/** Throws IMAGE `malformed digest` unless `s` is `sha256:<64 lower-case hex>`. Returns the hex part. */
export function digestHex(s: unknown, what = 'digest'): string {
  if (!isDigest(s)) {
    throw new SandboxError('IMAGE', `${what} ${JSON.stringify(String(s)).slice(0, 100)} is a malformed digest (expected sha256:<64 hex>)`, {
      reason: 'malformed-digest',
      digest: String(s).slice(0, 200),
    });
  }
  return s.slice('sha256:'.length);
}

/** `<dir>/blobs/sha256/<hex>`; the digest is validated first, so the result is always inside `dir`. */
export function blobPath(dir: string, digest: string): string {
  return path.join(dir, 'blobs', 'sha256', digestHex(digest));
}

export function sha256(data: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}
