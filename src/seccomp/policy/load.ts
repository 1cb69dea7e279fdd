/**
 * Detects the profile format and resolves `{ "file": "relative/path.json" }` references.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { isAbsolute, resolve, dirname } from 'node:path';
import { SeccompError } from '../errors.js';
import { parseJsonLossless } from '../json.js';
import { type ResolvedContext } from './context.js';
import { isOciProfile, parseOciProfile } from './oci.js';
import { parseNativeProfile } from './native.js';
import { type ParsedProfile } from './parsed.js';

export type ProfileFormat = 'sandbox' | 'oci';

export function detectFormat(p: unknown): ProfileFormat {
  return isOciProfile(p) ? 'oci' : 'sandbox';
}

/** True for `{ "file": "..." }` (and nothing else). */
export function isFileReference(p: unknown): p is { file: string } {
  return typeof p === 'object' && p !== null && !Array.isArray(p) && Object.keys(p).length === 1 && typeof (p as { file?: unknown }).file === 'string';
}

/** Profiles are small JSON files: anything else named by mistake (a FIFO would block, /dev/zero grow
 * a string until V8 aborts) is refused before it is read. The generator is self-contained (README.md),
 * so this is its own form of the project's src/policy/read-config-file.ts. */
const MAX_PROFILE_BYTES = 4 << 20;

function readProfileText(path: string): string {
  const refuse = (why: string): never => {
    throw new SeccompError('FILE', `cannot read seccomp profile ${path}: ${why}`, '/file');
  };
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    return refuse((e as Error).message);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) refuse('not a regular file');
    if (st.size > MAX_PROFILE_BYTES) refuse(`${st.size} bytes; a profile may have at most ${MAX_PROFILE_BYTES}`);
    return readFileSync(fd, 'utf8');
  } catch (e) {
    if (e instanceof SeccompError) throw e;
    return refuse((e as Error).message);
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces a `{file}` reference with the profile it names (read with exact integers), relative to
 * baseDir. Returns the profile and the directory of the file it came from.
 */
export function resolveFileReference(p: unknown, baseDir: string | undefined): { profile: unknown; dir: string | undefined } {
  if (!isFileReference(p)) return { profile: p, dir: baseDir };
  const rel = p.file;
  if (!isAbsolute(rel) && baseDir === undefined) {
    throw new SeccompError('FILE', `${JSON.stringify(rel)} is relative; pass baseDir (the policy file's directory)`, '/file');
  }
  const path = isAbsolute(rel) ? rel : resolve(baseDir!, rel);
  const text = readProfileText(path);
  const profile = parseJsonLossless(text, path);
  if (isFileReference(profile)) throw new SeccompError('FILE', `${path} is itself a {file} reference; point at the profile directly`, '/file');
  return { profile, dir: dirname(path) };
}

export function parseProfile(p: unknown, ctx: ResolvedContext): ParsedProfile {
  return detectFormat(p) === 'oci' ? parseOciProfile(p, ctx) : parseNativeProfile(p, ctx);
}
