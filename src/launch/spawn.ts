/**
 * Starting one launcher for one run, from a process that runs one (the CLI, run({launcher:'spawn'}),
 * a run in a systemd scope): posix_spawn through native/spawn.c, not child_process.spawn, whose fork
 * of Node's address space cost ~10 ms of every `sandbox exec` on the dev VM (see native/spawn.c).
 *
 * The launcher gets fds 0-2 (the workload's stdio, or pipes it relays), 3 (the plan) and 4 (reports),
 * and no other fd. A plan known at the spawn is written first, into a memfd that becomes fd 3: the
 * launcher reads it whole as soon as it starts, instead of waiting for Node to encode and write it
 * after the spawn (in a traced `sandbox exec`, it had waited ~2 ms; too little for bench/compare.ts to
 * tell from noise). A plan that comes later (a systemd scope's run, whose plan needs the scope) goes
 * through a pipe. Nothing but the launcher holds the memfd once it runs: ours is closed at the spawn.
 *
 * The launcher is reaped when its report pipe reaches end of stream: fd 4 is close-on-exec in the
 * launcher's processes, so the pipe ends only when the launcher and its init have exited (or the
 * launcher's exec failed) — the wait then returns at once.
 */
import { closeSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { SandboxError } from '../errors.js';
import { packageRoot } from '../policy/paths.js';
import { launcherExit, stdioFd, type LauncherHandle } from './launcher-process.js';
import { pipeSocket } from './pipe-socket.js';
import { NativePipeReader } from './native-pipe-reader.js';
import type { StdioSlot } from './supervisor.js';

export interface SpawnModule {
  pipe(): [number, number];
  memfd(): number;
  spawn(file: string, argv: string[], envp: string[], fds: number[]): number;
  wait(pid: number): number;
  readPipe(fd: number, onChunk: (chunk: Buffer | null) => void): void;
  /** _exit(code) */
  exit(code: number): never;
  /** the file as a latin1 string V8 reads where the file is mapped (the CLI loader's bundle) */
  mapText(path: string): string;
  /** a Buffer over the file mapped private (the CLI loader's code cache) */
  mapBytes(path: string): Buffer;
}

/** native/spawn.c, loaded on first use (exported for its tests) */
let loaded: SpawnModule | null = null;

/** Where the CLI's loader (scripts/cli-loader.cjs) leaves the same module, which it loads first thing. */
const LOADED_BY_THE_LOADER = Symbol.for('sandbox.spawn-module');

export function spawnModule(): SpawnModule {
  if (loaded) return loaded;
  const preloaded = (globalThis as { [LOADED_BY_THE_LOADER]?: SpawnModule })[LOADED_BY_THE_LOADER];
  if (preloaded) return (loaded = preloaded);
  const path = resolve(packageRoot(), 'native/build/sandbox-spawn.node');
  const m = { exports: {} as SpawnModule };
  try {
    process.dlopen(m, path);
  } catch (e) {
    throw new SandboxError('LAUNCHER_MISSING', `cannot load ${path} (${(e as Error).message}); run \`npm run build:native\` (needs a C compiler: apt-get install gcc make)`);
  }
  return (loaded = m.exports);
}

/**
 * process.exit() for a process whose work is all done and written (`sandbox exec` once its handler
 * has returned), without Node's own teardown: the 'exit' listeners run as process.exit() runs them,
 * then _exit. Node's exit path (its platform's threads joined, OpenSSL's and the static destructors)
 * was ~4 ms of every `sandbox exec` on the dev VM (bench/README.md, session 9). Only where this module
 * is already loaded (loading it to exit would cost more than it saves), and only in a plain `node`:
 * Node options (`--cpu-prof`, a coverage directory…) may have work of their own to do at the exit.
 */
export function exitNow(): never {
  const plainNode = process.execArgv.length === 0 && !process.env['NODE_OPTIONS'] && !process.env['NODE_V8_COVERAGE'];
  if (loaded === null || !plainNode) process.exit();
  const code = Number(process.exitCode ?? 0);
  process.emit('exit', code);
  return loaded.exit(code);
}

/** A real pipe (pipe2): [read end, write end], both close-on-exec. */
export function pipe(): [number, number] {
  return spawnModule().pipe();
}

/**
 * posix_spawn `argv` (argv[0]: an absolute path) with exactly `env` and `fds` (fds[i] becomes its fd
 * i, and it has no other). A failure (the file is missing, not executable…) is LAUNCH_FAILED.
 */
export function startProcess(argv: string[], env: string[], fds: number[]): number {
  const native = spawnModule();
  try {
    return native.spawn(argv[0]!, argv, env, fds);
  } catch (e) {
    throw new SandboxError('LAUNCH_FAILED', `cannot start the launcher: ${(e as Error).message}`);
  }
}

/** Reap a child started by startProcess: its raw wait status (blocks until it has exited). */
export function reap(pid: number): number {
  return spawnModule().wait(pid);
}

export interface SpawnedLauncher extends LauncherHandle {
  pid: number;
  /** for a launcher spawned without its plan: write the encoded plan to its fd 3 and close it (a
   * launcher that died early is found by its exit) */
  sendPlan(plan: Buffer): void;
}

/** A memfd holding `plan`, its offset still 0 (pwrite), so the launcher's read() starts at the plan's start. */
function planFile(plan: Buffer): number {
  const fd = spawnModule().memfd();
  try {
    for (let off = 0; off < plan.length;) off += writeSync(fd, plan, off, plan.length - off, off);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return fd;
}

/**
 * Spawn `argv` (argv[0]: an absolute path) with exactly `env`, the workload's stdio slots as fds 0-2
 * ('pipe': a pipe whose read end comes back in `stdio`), the plan as fd 3 (`plan`, in a memfd; or, if
 * null, a pipe that sendPlan writes to), the report pipe as 4.
 */
export function spawnLauncherProcess(argv: string[], env: string[], slots: [StdioSlot, StdioSlot, StdioSlot], plan: Buffer | null): SpawnedLauncher {
  const theirs: number[] = [];
  const ours: number[] = [];
  /** a pipe: the child's end goes to `theirs`, ours to `ours`; returns [child's, ours] */
  const pipeFor = (childReads: boolean): [number, number] => {
    const [r, w] = pipe();
    const [child, mine] = childReads ? [r, w] : [w, r];
    theirs.push(child);
    ours.push(mine);
    return [child, mine];
  };
  let pid: number;
  const outputs: (Readable | null)[] = [null, null, null];
  let planFd = -1;
  let reportFd: number;
  try {
    const fds: number[] = [];
    const relayed: [number, number][] = [];
    slots.forEach((slot, i) => {
      if (slot !== 'pipe') return fds.push(stdioFd(slot, i));
      const [child, mine] = pipeFor(false);
      relayed.push([i, mine]);
      return fds.push(child);
    });
    let child: number;
    if (plan) {
      child = planFile(plan);
      theirs.push(child);
    } else {
      [child, planFd] = pipeFor(true);
    }
    fds.push(child);
    [child, reportFd] = pipeFor(false);
    fds.push(child);
    pid = startProcess(argv, env, fds);
    for (const [i, fd] of relayed) outputs[i] = pipeSocket(fd, 'read');
  } catch (e) {
    for (const fd of ours) closeSync(fd);
    throw e instanceof SandboxError ? e : new SandboxError('LAUNCH_FAILED', `cannot start the launcher: ${(e as Error).message}`);
  } finally {
    // The child holds its own copies now (or never started): ours must go, or EOF never comes.
    for (const fd of theirs) closeSync(fd);
  }

  const reports = new NativePipeReader(reportFd, spawnModule().readPipe);
  let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const waiting: ((code: number | null, signal: NodeJS.Signals | null) => void)[] = [];
  reports.on('close', () => {
    exit = launcherExit(reap(pid));
    for (const cb of waiting.splice(0)) cb(exit.code, exit.signal);
  });
  return {
    pid,
    stdio: outputs,
    reports,
    sendPlan(plan) {
      if (planFd < 0) throw new Error('internal: the launcher was given its plan at the spawn');
      try {
        // A blocking pipe: the launcher reads its whole plan before anything else.
        for (let off = 0; off < plan.length;) off += writeSync(planFd, plan, off);
      } catch { /* EPIPE: the launcher died before reading; its exit and reports tell why */ }
      closeSync(planFd);
    },
    kill(signal) {
      // Only until it is reaped: after that the pid may be another process's.
      if (exit === null) process.kill(pid, signal);
    },
    onExit(cb) {
      if (exit) cb(exit.code, exit.signal);
      else waiting.push(cb);
    },
  };
}
