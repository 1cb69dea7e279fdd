/**
 * The policy's seccomp section → a BPF program for the plan, through the vendored generator
 * (src/seccomp) and its cache. The workload keeps no capabilities, so moby `includes.caps` rules never
 * apply; the kernel context is this host's.
 *
 * Cache trust: a cached program is handed to the kernel, so the cache directory must belong to the
 * user running `sandbox` and be writable by nobody else (0700). If it is not, the program is compiled
 * afresh and the cache is not used.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
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

/**
 * Programs this process already has, by everything they are compiled from: the section, the context
 * and — for a `{file}` section — that file's bytes (a digest of them: file times can miss an edit made
 * within the same clock tick), so an edited profile is compiled again. A judge runs the same policy
 * thousands of times; canonicalising and hashing its profile on every run cost more than the rest of
 * the plan (bench/launch.ts). Bounded: cleared when it grows past 64.
 */
const programs = new Map<string, SeccompProgram>();

function programKey(section: Record<string, unknown>, baseDir: string, kernel: string, euid: number): string {
  let file = '';
  if (typeof section['file'] === 'string') {
    file = createHash('sha256').update(readFileSync(resolve(baseDir, section['file']))).digest('hex');
  }
  return JSON.stringify([section, baseDir, kernel, euid, file]);
}

export function compileForRun(section: Record<string, unknown>, baseDir: string, kernel: string, euid: number): SeccompProgram {
  const ctx = { arch: hostArch(), caps: [] as string[], kernel, baseDir };
  const source = typeof section['file'] === 'string' ? String(section['file']) : 'inline';
  try {
    let key: string | null = null;
    try {
      key = programKey(section, baseDir, kernel, euid);
    } catch { /* an unreadable file: the compiler below says what is wrong with it */ }
    const known = key ? programs.get(key) : undefined;
    if (known) return known;
    const dir = trustedCacheDir(euid);
    const r = dir ? compileSeccompCached(section, ctx, dir) : compileSeccomp(section, ctx);
    const program = { hash: r.hash, instructions: r.program.length / 8, program: r.program, source };
    if (key) {
      if (programs.size >= 64) programs.clear();
      programs.set(key, program);
    }
    return program;
  } catch (e) {
    if (isSeccompError(e)) {
      throw new SandboxError('SECCOMP', `seccomp profile ${source}: ${e.message}`, { code: e.code });
    }
    throw e;
  }
}
