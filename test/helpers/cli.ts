/**
 * Test helpers: run the real CLI (dist/bin/sandbox.cjs, the package's bin), as root and as the unprivileged user, and
 * collect its output. Integration tests need both: CI runs as root and creates the user `sbxtest`
 * (.ci/run). A missing prerequisite fails the test with the fix — it is never skipped.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const CLI = join(ROOT, 'dist/bin/sandbox.cjs');
export const LAUNCHER = join(ROOT, 'native/build/sandbox-launcher');
export const TEST_USER = process.env['SANDBOX_TEST_USER'] ?? 'sbxtest';

export interface Mode {
  name: 'root' | 'rootless';
  /** the user the CLI runs as; null = this process's user (root) */
  user: string | null;
}

export function userIds(user: string): { uid: number; gid: number } {
  const r = spawnSync('id', ['-u', user], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', user], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(`test user '${user}' does not exist: create it (useradd -m ${user}) or run .ci/run, which does`);
  }
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

/** Both modes. Throws (failing the calling test) when the prerequisites are missing. */
export function modes(): Mode[] {
  if (process.geteuid!() !== 0) {
    throw new Error('integration tests run the sandbox both as root and as an unprivileged user: run them as root (CI does)');
  }
  userIds(TEST_USER);
  return [{ name: 'root', user: null }, { name: 'rootless', user: TEST_USER }];
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  user?: string | null;
  input?: string;
  cwd?: string;
  timeoutMs?: number;
  env?: Record<string, string>;
}

export function commandFor(args: string[], user: string | null | undefined): [string, string[]] {
  return user ? ['runuser', ['-u', user, '--', process.execPath, CLI, ...args]] : [process.execPath, [CLI, ...args]];
}

/** Run `sandbox ARGS` to completion. */
export function cli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  const [cmd, argv] = commandFor(args, opts.user);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, argv, {
      cwd: opts.cwd ?? tmpdir(),
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...opts.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => { stdout += c; });
    child.stderr.on('data', (c) => { stderr += c; });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** `sandbox exec [execArgs] -- command...` */
export function sandboxExec(command: string[], execArgs: string[] = [], opts: CliOptions = {}): Promise<CliResult> {
  return cli(['exec', ...execArgs, '--', ...command], opts);
}

/** A temp directory owned by `user` (or root), removed by the returned cleanup. */
export function tempDirFor(user: string | null, prefix = 'sbx-test-'): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(path, 0o755);
  if (user) {
    const { uid, gid } = userIds(user);
    chownSync(path, uid, gid);
  }
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** Host pids whose uid is `uid` (to prove nothing of a sandbox is left running). */
export function processesOfUid(uid: number): number[] {
  const r = spawnSync('ps', ['-e', '-o', 'pid=,uid='], { encoding: 'utf8' });
  return r.stdout.split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f.length === 2 && Number(f[1]) === uid).map((f) => Number(f[0]));
}

/** Host pids whose command line contains `needle`. */
export function processesMatching(needle: string): string[] {
  const r = spawnSync('ps', ['-e', '-o', 'pid=,args='], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((l) => l.includes(needle) && !l.includes('ps -e'));
}

export function mountTable(): string {
  return spawnSync('cat', ['/proc/self/mountinfo'], { encoding: 'utf8' }).stdout;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * `M=<marker>` for a sandboxed shell script, written so that the marker itself never appears on any
 * command line but those of the processes that use "$M": `ps` then finds only those.
 */
export function markerAssignment(marker: string): string {
  const half = Math.floor(marker.length / 2);
  return `M=${marker.slice(0, half)}""${marker.slice(half)}`;
}
