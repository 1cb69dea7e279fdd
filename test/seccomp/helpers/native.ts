/**
 * Builds the C helpers of the seccomp tests with `cc` (once per source version, cached under the
 * OS temp dir) and runs cases through seccomp-run.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs from dist/test/seccomp/helpers/). */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
export const HELPERS_SRC = join(REPO, 'test', 'seccomp', 'helpers');

/** Compiles `source` (relative to the repo) with cc and returns the binary's path. */
export function buildC(source: string, extraArgs: string[] = []): string {
  const src = join(REPO, source);
  const text = readFileSync(src);
  const hash = createHash('sha256').update(text).update(extraArgs.join(' ')).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), 'sandbox-seccomp-test-bin');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `${source.replace(/[^A-Za-z0-9]+/g, '_')}-${hash}`);
  if (!existsSync(out)) {
    const tmp = `${out}.${process.pid}.tmp`;
    execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', tmp, src, ...extraArgs], { stdio: ['ignore', 'inherit', 'inherit'] });
    renameSync(tmp, out);
  }
  return out;
}

export function seccompRunBinary(): string {
  return buildC('test/seccomp/helpers/seccomp-run.c');
}

/** A scratch directory for program files. */
export function scratchDir(): string {
  return mkdtempSync(join(tmpdir(), 'sandbox-seccomp-test-'));
}

export interface CaseResult {
  /** The syscall's return value and errno, when it returned. */
  ret?: number;
  errno?: number;
  loadErrno?: number;
  sigsys?: { nr: number; errno: number };
  exit?: number;
  signal?: number;
  lines: string[];
}

/** Runs cases `[id, programPath | '-', op, ...args]` in one seccomp-run process. */
export function runCases(cases: readonly (readonly string[])[], opts: { timeoutMs?: number } = {}): Map<string, CaseResult> {
  const input = cases.map((c) => c.join(' ')).join('\n') + '\n';
  const r = spawnSync(seccompRunBinary(), [], { input, encoding: 'utf8', timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`seccomp-run failed: status ${r.status} signal ${r.signal}\n${r.stderr}`);
  const results = new Map<string, CaseResult>();
  for (const c of cases) results.set(c[0]!, { lines: [] });
  for (const line of r.stdout.split('\n')) {
    const m = /^(\S+) (.*)$/.exec(line);
    if (!m || !results.has(m[1]!)) continue;
    const res = results.get(m[1]!)!;
    res.lines.push(m[2]!);
    let x: RegExpExecArray | null;
    if ((x = /^ret=(-?\d+) errno=(\d+)$/.exec(m[2]!))) { res.ret = Number(x[1]); res.errno = Number(x[2]); }
    else if ((x = /^load-errno=(\d+)$/.exec(m[2]!))) res.loadErrno = Number(x[1]);
    else if ((x = /^sigsys nr=(-?\d+) errno=(\d+)$/.exec(m[2]!))) res.sigsys = { nr: Number(x[1]), errno: Number(x[2]) };
    else if ((x = /^exit=(\d+)$/.exec(m[2]!))) res.exit = Number(x[1]);
    else if ((x = /^signal=(\d+)$/.exec(m[2]!))) res.signal = Number(x[1]);
  }
  return results;
}

/** Writes a program to a file in `dir` and returns the path. */
export function writeProgram(dir: string, name: string, program: Buffer): string {
  const p = join(dir, `${name}.bpf`);
  writeFileSync(p, program);
  return p;
}

export const SIGSYS = 31;
export const SIGSEGV = 11;
