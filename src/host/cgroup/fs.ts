/**
 * Small, careful file helpers for cgroupfs. Every failure becomes a SandboxError('CGROUP') that names the file,
 * the operation and the errno, plus a hint that says what to do.
 *
 * The syscalls are made synchronously behind async signatures: cgroupfs operations are in-kernel and take
 * microseconds (mkdir+write+rmdir of a v1 run in 5 hierarchies: ~0.3 ms), while a libuv thread-pool round trip
 * per call costs more than the call itself and queues behind the supervisor's other file I/O. Waiting (for tasks
 * to exit, for EBUSY to clear) stays asynchronous.
 */
import {
  constants as C, readSync, openSync, closeSync, writeSync, readFileSync, readdirSync, rmdirSync, mkdirSync, accessSync,
} from 'node:fs';
import { join } from 'node:path';
import { SandboxError } from '../../errors.js';

export function errnoOf(e: unknown): string {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : 'EUNKNOWN';
}

const HINTS: Record<string, string> = {
  EACCES: 'permission denied: run as root, or inside a cgroup delegated to you (see `sandbox doctor`)',
  EPERM: 'not permitted: run as root, or inside a cgroup delegated to you (see `sandbox doctor`)',
  EBUSY: 'the cgroup is busy (it has processes or child groups)',
  EINVAL: 'the kernel rejected the value',
  ENOENT: 'the file does not exist (controller not enabled, or the kernel is too old)',
  ENOSPC: 'the kernel refused: cgroup depth/descendant limit or empty cpuset',
  EOPNOTSUPP: 'not supported on this cgroup (threaded cgroup?)',
};

export function cgroupError(op: string, file: string, e: unknown, extra = ''): SandboxError {
  const errno = errnoOf(e);
  const hint = HINTS[errno] ?? (e instanceof Error ? e.message : String(e));
  return new SandboxError('CGROUP', `cannot ${op} ${file}: ${errno} (${hint})${extra ? '; ' + extra : ''}`, {
    file,
    op,
    errno,
  });
}

/**
 * Write one value with a single write(2) on an O_WRONLY descriptor. Not fs.writeFile: its O_CREAT|O_TRUNC would
 * turn a missing control file into a confusing EPERM/EACCES, and cgroupfs parses each write(2) separately.
 */
export async function writeCg(file: string, value: string): Promise<void> {
  writeCgSync(file, value);
}

export function writeCgSync(file: string, value: string): void {
  let fd: number;
  try {
    fd = openSync(file, C.O_WRONLY);
  } catch (e) {
    throw cgroupError('open', file, e);
  }
  try {
    const buf = Buffer.from(value);
    const n = writeSync(fd, buf, 0, buf.length, null);
    if (n !== buf.length) throw Object.assign(new Error('short write'), { code: 'EIO' });
  } catch (e) {
    throw cgroupError(`write ${JSON.stringify(value)} to`, file, e);
  } finally {
    closeSync(fd);
  }
}

/** Like writeCg, but returns the error instead of throwing (for optional knobs that become notes). */
export async function tryWriteCg(file: string, value: string): Promise<SandboxError | null> {
  try {
    await writeCg(file, value);
    return null;
  } catch (e) {
    return e as SandboxError;
  }
}

export async function readCg(file: string): Promise<string> {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw cgroupError('read', file, e);
  }
}

/** Read, or null when the file does not exist (a feature the kernel lacks). Other errors throw. */
export async function readCgOptional(file: string): Promise<string | null> {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return null;
    throw cgroupError('read', file, e);
  }
}

/** Parse "key value" lines (cpu.stat, memory.events, memory.oom_control, pids.events). */
export function parseKeyed(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    const sp = line.trim().split(/\s+/);
    if (sp.length === 2 && /^\d+$/.test(sp[1]!)) m.set(sp[0]!, Number(sp[1]));
  }
  return m;
}

export function parseIntStrict(text: string, file: string): number {
  const t = text.trim();
  if (!/^\d+$/.test(t)) throw new SandboxError('CGROUP', `unexpected content in ${file}: ${JSON.stringify(t.slice(0, 80))}`, { file });
  return Number(t);
}

export async function readPids(dir: string): Promise<number[]> {
  const text = await readCgOptional(join(dir, 'cgroup.procs'));
  if (text === null) return [];
  return text.split('\n').filter((l) => l.trim() !== '').map(Number);
}

/** Pids in a group and in any child groups below it (a workload that can see cgroupfs may have made some). */
export async function readPidsTree(dir: string): Promise<number[]> {
  const nested = await Promise.all((await childGroups(dir)).map((name) => readPidsTree(join(dir, name))));
  return [...(await readPids(dir)), ...nested.flat()];
}

function accessible(path: string, mode: number): boolean {
  try {
    accessSync(path, mode);
    return true;
  } catch {
    return false;
  }
}

export async function exists(path: string): Promise<boolean> {
  return accessible(path, C.F_OK);
}

/** access(2) W_OK: uses the real uid, which is what the kernel checks for a non-setuid process like ours. */
export async function writable(path: string): Promise<boolean> {
  return accessible(path, C.W_OK);
}

/** mkdir that tolerates EEXIST (parents shared by concurrent supervisors). */
export async function mkdirShared(dir: string): Promise<void> {
  try {
    mkdirSync(dir);
  } catch (e) {
    if (errnoOf(e) !== 'EEXIST') throw cgroupError('create directory', dir, e);
  }
}

/** mkdir of a run leaf: EEXIST is an error here (two runs must never share a group). */
export async function mkdirCg(dir: string): Promise<void> {
  try {
    mkdirSync(dir);
  } catch (e) {
    throw cgroupError('create', dir, e, errnoOf(e) === 'EEXIST' ? 'a run with this id is already active' : '');
  }
}

/** Subdirectories (child cgroups) of a cgroup directory; [] when it is gone. */
export async function childGroups(dir: string): Promise<string[]> {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return [];
    throw cgroupError('list', dir, e);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Poll until `done()` is true: every millisecond for the first ~20 ms (a killed task usually exits within a few),
 * then backing off to 20 ms so a slow exit does not burn CPU. Returns false on timeout.
 */
export async function waitFor(done: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const start = Date.now();
  for (;;) {
    if (await done()) return true;
    const elapsed = Date.now() - start;
    if (elapsed >= timeoutMs) return false;
    await sleep(Math.min(1 + Math.floor(elapsed / 20), 20));
  }
}

/**
 * Remove a cgroup directory and any child groups below it (a workload that could see cgroupfs may have created
 * some), deepest first. Only directories are removed: cgroupfs control files vanish with their directory.
 * EBUSY right after the last task exited is retried briefly (the kernel finishes the exit asynchronously).
 */
export async function rmdirTree(dir: string): Promise<void> {
  for (const name of await childGroups(dir)) await rmdirTree(join(dir, name));
  let last: unknown;
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      rmdirSync(dir);
      return;
    } catch (e) {
      const code = errnoOf(e);
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY') throw cgroupError('remove', dir, e);
      last = e;
      await sleep(Math.min(1 + attempt * 2, 20));
    }
  }
  throw cgroupError('remove', dir, last, 'it still has tasks or child groups');
}

/**
 * A control file kept open for cheap synchronous re-reads: pread at offset 0 makes kernfs regenerate the content,
 * so each call costs one syscall (the supervisor calls this when a CPU-time timer fires).
 */
export class OpenCounter {
  private fd: number | null;
  private readonly buf = Buffer.alloc(4096);
  constructor(readonly file: string) {
    try {
      this.fd = openSync(file, C.O_RDONLY);
    } catch (e) {
      throw cgroupError('open', file, e);
    }
  }
  /** The file's current text, or null after close(). */
  read(): string | null {
    if (this.fd === null) return null;
    try {
      const n = readSync(this.fd, this.buf, 0, this.buf.length, 0);
      return this.buf.toString('utf8', 0, n);
    } catch (e) {
      // ENODEV: the cgroup was removed under us; report it rather than a stale number.
      throw cgroupError('read', this.file, e);
    }
  }
  close(): void {
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
  }
}

/** Swap devices currently active (from /proc/swaps); decides whether a missing swap limit matters. */
export async function swapActive(): Promise<boolean> {
  // Unreadable /proc/swaps: assume swap is active, so that a missing swap limit is never reported as enforced.
  let text: string;
  try {
    text = readFileSync('/proc/swaps', 'utf8');
  } catch {
    return true;
  }
  return text.split('\n').slice(1).some((l) => l.trim() !== '');
}
