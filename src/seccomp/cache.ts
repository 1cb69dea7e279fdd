/**
 * A directory of compiled programs keyed by the compilation hash. Writes are atomic (temp file in
 * the same directory + rename), so a reader sees a whole entry or none; entries are validated on
 * read and recompiled when damaged.
 */
import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { decodeProgram, encodeProgram } from './bpf/insn.js';
import { validateProgram } from './bpf/validate.js';
import { compileSeccomp, type CompileResult, seccompHash } from './compile.js';
import { GENERATOR_VERSION } from './canonical.js';
import { SeccompError } from './errors.js';
import { type CompileContext } from './policy/context.js';

interface CacheEntry {
  generator: string;
  hash: string;
  arch: string;
  program: string; // base64 of the sock_filter bytes (host order)
  warnings: string[];
  flags: number;
}

/** compileSeccomp with a cache in `cacheDir` (created if missing). */
export function compileSeccompCached(profile: unknown, ctx: CompileContext, cacheDir: string): CompileResult & { cached: boolean } {
  const hash = seccompHash(profile, ctx);
  const path = join(cacheDir, `${hash}.json`);
  const hit = readEntry(path, hash, ctx.arch);
  if (hit) return { ...hit, cached: true };
  const result = compileSeccomp(profile, ctx);
  writeEntry(cacheDir, path, {
    generator: GENERATOR_VERSION,
    hash: result.hash,
    arch: ctx.arch,
    program: result.program.toString('base64'),
    warnings: result.warnings,
    flags: result.flags,
  });
  return { ...result, cached: false };
}

function readEntry(path: string, hash: string, arch: string): CompileResult | undefined {
  let e: CacheEntry;
  try {
    e = JSON.parse(readFileSync(path, 'utf8')) as CacheEntry;
  } catch {
    return undefined; // missing or unreadable: compile again
  }
  if (e?.generator !== GENERATOR_VERSION || e.hash !== hash || e.arch !== arch || typeof e.program !== 'string') return undefined;
  const program = Buffer.from(e.program, 'base64');
  try {
    // Never hand the launcher a program the kernel would refuse (a damaged or truncated entry).
    const insns = decodeProgram(program);
    if (validateProgram(insns).length) return undefined;
    if (!encodeProgram(insns).equals(program)) return undefined;
  } catch {
    return undefined;
  }
  return {
    program,
    warnings: Array.isArray(e.warnings) ? e.warnings.filter((w) => typeof w === 'string') : [],
    hash,
    flags: typeof e.flags === 'number' ? e.flags : 0,
  };
}

function writeEntry(dir: string, path: string, e: CacheEntry): void {
  const tmp = join(dir, `.${e.hash}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(tmp, JSON.stringify(e) + '\n', { mode: 0o600, flag: 'wx' });
    renameSync(tmp, path);
  } catch (err) {
    try { unlinkSync(tmp); } catch { /* not created */ }
    throw new SeccompError('CACHE', `cannot write the seccomp cache entry ${path}: ${(err as Error).message}`);
  }
}
