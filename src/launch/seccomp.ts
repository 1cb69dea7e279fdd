/**
 * The policy's seccomp section → a BPF program for the plan, through the vendored generator
 * (src/seccomp) and its cache. The workload keeps no capabilities, so moby `includes.caps` rules never
 * apply; the kernel context is this host's.
 *
 * Cache trust: a cached program is handed to the kernel, so the cache directory must belong to the
 * user running `sandbox` and be writable by nobody else (0700). If it is not, the program is compiled
 * afresh and the cache is not used.
 */
import { mkdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { compileSeccomp, compileSeccompCached, hostArch, isSeccompError } from '../seccomp/index.js';
import { SandboxError } from '../errors.js';
import type { SeccompProgram } from './types.js';

function cacheDir(euid: number): string {
  if (euid === 0) return '/var/cache/sandbox/seccomp';
  const base = process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache');
  return join(base, 'sandbox', 'seccomp');
}

/** Checked once per process and directory: it is the same directory for every run. */
const trusted = new Map<string, string | null>();

function trustedCacheDir(euid: number): string | null {
  const dir = cacheDir(euid);
  if (!trusted.has(dir)) {
    let ok: string | null = null;
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const st = statSync(dir);
      ok = st.uid === euid && (st.mode & 0o022) === 0 ? dir : null;
    } catch {
      ok = null; // e.g. a read-only home: compile without the cache
    }
    trusted.set(dir, ok);
  }
  return trusted.get(dir)!;
}

export function compileForRun(section: Record<string, unknown>, baseDir: string, kernel: string, euid: number): SeccompProgram {
  const ctx = { arch: hostArch(), caps: [] as string[], kernel, baseDir };
  const source = typeof section['file'] === 'string' ? String(section['file']) : 'inline';
  try {
    const dir = trustedCacheDir(euid);
    const r = dir ? compileSeccompCached(section, ctx, dir) : compileSeccomp(section, ctx);
    return { hash: r.hash, instructions: r.program.length / 8, program: r.program, source };
  } catch (e) {
    if (isSeccompError(e)) {
      throw new SandboxError('SECCOMP', `seccomp profile ${source}: ${e.message}`, { code: e.code });
    }
    throw e;
  }
}
