/**
 * Command-line mounts: `--bind SRC:DST[:ro|rw]` and `--tmpfs DST[:SIZE]`, parsed and checked.
 *
 * Bind sources must be real paths: every component is lstat'ed and a symlink anywhere is refused,
 * naming the real path to use instead. A workload with a writable bind can plant symlinks there; if a
 * later run followed them, it could be handed any file the invoking user can reach. The launcher
 * enforces the same rule again when it opens the source (openat2 RESOLVE_NO_SYMLINKS), so a symlink
 * swapped in after this check is refused too.
 */
import { lstatSync, realpathSync } from 'node:fs';
import { isAbsolute, posix, resolve } from 'node:path';
import { SandboxError } from '../errors.js';
import type { BindSpec, TmpfsSpec } from '../policy/types.js';
import { checkPathString, kindOf } from './run-spec.js';
import { clip } from './wire.js';

export function canonicalTarget(target: string, what: string): string {
  if (typeof target !== 'string') throw new SandboxError('USAGE', `${what}: the target must be a string, not ${kindOf(target)}`);
  checkPathString(target, `${what}: the target`);
  if (!isAbsolute(target) || posix.normalize(target) !== target || (target.length > 1 && target.endsWith('/'))) {
    throw new SandboxError('USAGE', `${what}: target '${target}' must be an absolute path without '.', '..', '//' or a trailing '/'`);
  }
  return target;
}

export function parseBind(spec: string): BindSpec {
  const parts = spec.split(':');
  let mode: 'ro' | 'rw' = 'ro';
  if (parts.length === 3 && (parts[2] === 'ro' || parts[2] === 'rw')) mode = parts.pop() as 'ro' | 'rw';
  if (parts.length !== 2 || !parts[0] || !parts[1]) {
    throw new SandboxError('USAGE', `--bind '${clip(spec)}': write SRC:DST, SRC:DST:ro or SRC:DST:rw`);
  }
  return { source: parts[0], target: canonicalTarget(parts[1], `--bind '${clip(spec)}'`), mode };
}

export function parseTmpfs(spec: string): TmpfsSpec {
  const [target, size, extra] = spec.split(':');
  const what = `--tmpfs '${clip(spec)}'`;
  if (!target || extra !== undefined || size === '') throw new SandboxError('USAGE', `${what}: write DST or DST:SIZE`);
  return size ? { target: canonicalTarget(target, what), size } : { target: canonicalTarget(target, what) };
}

/** Absolute source with no symlink in any component; throws BIND_SOURCE naming the fix. */
export function resolveBindSource(source: string, cwd: string): string {
  const abs = resolve(cwd, source);
  let prefix = '';
  for (const comp of abs.split('/').filter(Boolean)) {
    prefix += `/${comp}`;
    let st;
    try {
      st = lstatSync(prefix);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new SandboxError('BIND_SOURCE', code === 'ENOENT'
        ? `bind source ${abs} does not exist (${prefix} is missing)`
        : `bind source ${abs}: cannot inspect ${prefix} (${code})`, { source: abs });
    }
    if (st.isSymbolicLink()) {
      let real = '?';
      try { real = realpathSync(abs); } catch { /* dangling */ }
      throw new SandboxError('BIND_SOURCE',
        `bind source ${abs}: ${prefix} is a symlink, and bind sources are never followed through symlinks; give the real path (${real})`,
        { source: abs, symlink: prefix });
    }
  }
  return abs;
}

export function resolveBinds(binds: BindSpec[], cwd: string): BindSpec[] {
  return binds.map((b) => {
    if (typeof b !== 'object' || b === null) throw new SandboxError('USAGE', `bind: each entry must be "SRC:DST[:ro|rw]" or { source, target, mode }, not ${kindOf(b)}`);
    const what = `bind ${clip(String(b.source))}:${clip(String(b.target))}`;
    if (typeof b.source !== 'string') throw new SandboxError('USAGE', `${what}: the source must be a string, not ${kindOf(b.source)}`);
    if (b.mode !== 'ro' && b.mode !== 'rw') throw new SandboxError('USAGE', `${what}: mode must be 'ro' or 'rw'`);
    const target = canonicalTarget(b.target, what);
    // a source past PATH_MAX would fail lstat with ENAMETOOLONG; a NUL would be refused by Node's fs
    checkPathString(resolve(cwd, b.source), `${what}: the source`);
    return { ...b, target, source: resolveBindSource(b.source, cwd) };
  });
}

/** tmpfs given as objects (library callers) get the same target checks as `--tmpfs` strings. */
export function checkTmpfs(t: TmpfsSpec): TmpfsSpec {
  if (typeof t !== 'object' || t === null) throw new SandboxError('USAGE', `tmpfs: each entry must be "DST[:SIZE]" or { target, size }, not ${kindOf(t)}`);
  return { ...t, target: canonicalTarget(t.target, `tmpfs ${clip(String(t.target))}`) };
}
