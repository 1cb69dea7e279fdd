/**
 * The policy's seccomp section → a BPF program for the plan, through the vendored generator
 * (src/seccomp). The workload keeps no capabilities, so moby `includes.caps` rules never apply; the
 * kernel context is this host's.
 *
 * A run almost always compiles what an earlier run compiled, so programs are kept by their exact
 * inputs — the generator's version, the arch, the kernel, the section and, for a `{file}` section,
 * that file's text:
 *   - in memory, for the rest of the process (a judge runs one policy thousands of times);
 *   - on disk, for the next process (every `sandbox exec` is one). An entry holds its inputs and is
 *     used only when they match byte for byte, so finding one needs no parsing or hashing of the
 *     profile — and not the compiler either, which is loaded on a miss only. The program it holds was
 *     validated by the compiler when it was made (src/seccomp/compile.ts refuses to emit one the
 *     kernel would refuse), and the entry holds a digest of it: a program whose bytes are not the ones
 *     written (a damaged entry) is compiled over. That checks more than decoding and validating it
 *     again, which only caught damage that broke the program's structure, and cost ~100 KB of
 *     allocation at every CLI start — the bulk of what made V8 scavenge before the spawn.
 * Cache trust: a cached program is handed to the kernel, so the cache directory must belong to the
 * user running `sandbox` and be writable by nobody else (0700). If it is not, the program is compiled
 * afresh and no cache file is read or written.
 */
import { mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { SandboxError } from '../errors.js';
import { hostArch } from '../seccomp/arch.js';
import { isSeccompError } from '../seccomp/errors.js';
import { GENERATOR_VERSION } from '../seccomp/version.js';
import { readConfigFile } from '../policy/read-config-file.js';
import { pruneCacheDir } from './cache-prune.js';
import type { SeccompProgram } from './types.js';

export function cacheDir(euid: number): string {
  if (euid === 0) return '/var/cache/sandbox/seccomp';
  // The XDG base directory spec: a relative value is invalid and ignored (it made the cache in whatever
  // directory `sandbox` was started from), as the image store does (src/image/store.ts).
  const xdg = process.env['XDG_CACHE_HOME'];
  const base = xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.cache');
  return join(base, 'sandbox', 'seccomp');
}

/** Checked once per process and directory: it is the same directory for every run. */
const trusted = new Map<string, string | null>();

export function trustedCacheDir(euid: number): string | null {
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
 * Everything the program is compiled from, as one string (`inputs`), and the name of its disk entry;
 * null if the profile file cannot be read (then the compiler runs, and says what is wrong with it).
 * The name is a hash of the inputs with the profile file's text replaced by its length: hashing some
 * 10 KB of text in not yet optimised code costs ~2 ms of a CLI start, and a name is only a spread —
 * an entry is used only if its stored inputs equal ours, so a profile edited to the same length finds
 * the old entry, compiles afresh and replaces it.
 */
function inputsOf(section: Record<string, unknown>, baseDir: string, kernel: string): { inputs: string; name: string } | null {
  let text: string | null = null;
  if (typeof section['file'] === 'string') {
    try {
      text = readConfigFile(resolve(baseDir, section['file']), (why) => { throw new Error(why); }).toString('utf8');
    } catch {
      return null; // not a regular file of at most 4 MiB, or unreadable: the compiler says which
    }
  }
  const fixed = [GENERATOR_VERSION, hostArch(), kernel, baseDir, section];
  return { inputs: JSON.stringify([...fixed, text]), name: entryName(JSON.stringify([...fixed, text?.length ?? null])) };
}

/**
 * A program's digest: spreadName over its 32-bit words, not over its base64 text (hashing that string
 * in not yet optimised code was ~1.7 ms of a CLI start). Damage detection and naming only: whoever can
 * write the cache directory is the user who runs the programs.
 */
export function programDigest(program: Buffer): string {
  const words = new DataView(program.buffer, program.byteOffset, program.length - (program.length % 4));
  return spreadName(words.byteLength / 4, (i) => words.getUint32(i * 4, true));
}

/**
 * 16 hex digits: two 32-bit FNV-1a-style lanes over `n` values. A name that only spreads the cache's
 * entries (each entry is used only for exactly what it holds), not a security boundary (see inputsOf).
 */
export function spreadName(n: number, valueAt: (i: number) => number): string {
  let a = 0x811c9dc5;
  let b = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    const v = valueAt(i);
    a = Math.imul(a ^ v, 0x01000193);
    b = Math.imul(b ^ v, 0x01000193) ^ (b >>> 15);
  }
  return `${(a >>> 0).toString(16).padStart(8, '0')}${(b >>> 0).toString(16).padStart(8, '0')}`;
}

function entryName(key: string): string {
  return `in-${spreadName(key.length, (i) => key.charCodeAt(i))}.json`;
}

interface DiskEntry { inputs: string; hash: string; program: string; digest: string }

function readEntry(path: string, inputs: string, source: string): SeccompProgram | null {
  let e: DiskEntry;
  try {
    e = JSON.parse(readFileSync(path, 'utf8')) as DiskEntry;
  } catch {
    return null; // missing or damaged: compile
  }
  if (e?.inputs !== inputs || typeof e.hash !== 'string' || typeof e.program !== 'string') return null;
  const program = Buffer.from(e.program, 'base64');
  // Never hand the launcher other bytes than the compiler made (a damaged entry, or one from before digests).
  if (program.length === 0 || program.length % 8 !== 0 || e.digest !== programDigest(program)) return null;
  return { hash: e.hash, instructions: program.length / 8, program, source };
}

/** A file of the trusted cache directory, written whole or not at all; a failure is not fatal (the
 * next process computes it again). Also setid-guard.ts's answers. Each write prunes the directory
 * (cache-prune.ts): writes happen on misses only. */
export function writeCacheFile(dir: string, path: string, text: string): void {
  const tmp = join(dir, `.${process.pid}.${Date.now()}.${Math.random().toString(16).slice(2)}.tmp`);
  try {
    writeFileSync(tmp, text, { mode: 0o600, flag: 'wx' });
    renameSync(tmp, path); // atomic: a reader sees a whole entry or none
  } catch {
    try { unlinkSync(tmp); } catch { /* not created */ }
  }
  pruneCacheDir(dir);
}

/** Programs this process already has, by inputs. Bounded: cleared when it grows past 64. */
const programs = new Map<string, SeccompProgram>();

async function compile(section: Record<string, unknown>, baseDir: string, kernel: string, dir: string | null, source: string): Promise<SeccompProgram> {
  const { compileSeccomp, compileSeccompCached } = await import('../seccomp/index.js');
  const ctx = { arch: hostArch(), caps: [] as string[], kernel, baseDir };
  const r = dir ? compileSeccompCached(section, ctx, dir) : compileSeccomp(section, ctx);
  return { hash: r.hash, instructions: r.program.length / 8, program: r.program, source };
}

export async function compileForRun(section: Record<string, unknown>, baseDir: string, kernel: string, euid: number): Promise<SeccompProgram> {
  const source = typeof section['file'] === 'string' ? String(section['file']) : 'inline';
  const key = inputsOf(section, baseDir, kernel);
  const inputs = key?.inputs ?? null;
  const known = inputs !== null ? programs.get(inputs) : undefined;
  if (known) return known;
  try {
    const dir = trustedCacheDir(euid);
    const path = dir && key !== null ? join(dir, key.name) : null;
    let program = path ? readEntry(path, inputs!, source) : null;
    if (!program) {
      program = await compile(section, baseDir, kernel, dir, source);
      if (path) {
        const entry: DiskEntry = { inputs: inputs!, hash: program.hash, program: program.program.toString('base64'), digest: programDigest(program.program) };
        writeCacheFile(dir!, path, JSON.stringify(entry));
      }
    }
    if (inputs !== null) {
      if (programs.size >= 64) programs.clear();
      programs.set(inputs, program);
    }
    return program;
  } catch (e) {
    if (isSeccompError(e)) {
      throw new SandboxError('SECCOMP', `seccomp profile ${source}: ${e.message}`, { code: e.code });
    }
    throw e;
  }
}
