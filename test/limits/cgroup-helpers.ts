/**
 * Shared by the cgroup driver tests (on the host and inside the VM). No tests here.
 *
 * Which driver a test run expects: on these machines root gets v1 (hybrid host) and an unprivileged user gets
 * none. The VM harness sets SANDBOX_TEST_CGROUP_DRIVER=v2 (and SANDBOX_TEST_CGROUP_DELEGATED=1 for the user run).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { RunCgroup } from '../../src/host/cgroup/index.js';

export type Expected = 'v1' | 'v2' | 'none';

export function expectedDriver(): Expected {
  const env = process.env.SANDBOX_TEST_CGROUP_DRIVER;
  if (env === 'v1' || env === 'v2' || env === 'none') return env;
  return process.getuid?.() === 0 ? 'v1' : 'none';
}

export const expectDelegated = (): boolean => process.env.SANDBOX_TEST_CGROUP_DELEGATED === '1';

/** A unique run id per test so that concurrent test files never collide. */
export function runId(tag: string): string {
  return `t-${tag}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

export interface Joined {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
  stdout(): string;
}

/**
 * Start `argv` inside the group the way the launcher will: the process writes its own pid into every procs file,
 * then execs the workload, so every descendant starts inside. Exit code 97 means joining failed.
 */
export function spawnJoined(cg: RunCgroup, argv: string[], env: Record<string, string> = {}): Joined {
  const script = 'for f in $SBX_PROCS; do echo $$ > "$f" || exit 97; done; exec "$@"';
  const child = spawn('/bin/sh', ['-c', script, 'sh', ...argv], {
    env: { ...process.env, ...env, SBX_PROCS: cg.procsFiles.join(' ') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return { child, exited, stderr: () => err, stdout: () => out };
}

/** Pids listed in a group's cgroup.procs (first leaf; all v1 leaves hold the same processes). */
export function groupPids(cg: RunCgroup): number[] {
  return readFileSync(cg.procsFiles[0]!, 'utf8').split('\n').filter(Boolean).map(Number);
}

/** Alive = /proc/<pid> exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Poll `cond` every 10 ms until true; a generous deadline (the VM runs under TCG emulation) is only a hang guard. */
export async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const readText = (file: string): string => readFileSync(file, 'utf8').trim();
