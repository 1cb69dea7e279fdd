/**
 * Where `sandbox exec` writes its reports: the `--result`/`--meta` files and its own stdout/stderr.
 * A write that fails is described in one line (what, and the errno) for the caller to report; nothing
 * here throws a raw Node error, whose stack trace would be all the user saw.
 */
import { closeSync, constants, fstatSync, ftruncateSync, lstatSync, openSync, writeFileSync, type Stats } from 'node:fs';
import { resolve } from 'node:path';
import { SandboxError } from '../errors.js';
import { kindOf } from '../policy/read-config-file.js';

/** A path as typed, quoted when it holds a control character: the message must stay one line. */
export function shownPath(path: string): string {
  return /[\x00-\x1f\x7f]/.test(path) ? JSON.stringify(path) : path;
}

function errnoOf(e: unknown): string {
  return (e as NodeJS.ErrnoException | null)?.code ?? String((e as Error | null)?.message ?? e);
}

/** A report's destination: a file we opened (`fd`), or our own stdout or stderr (`stream`). */
export type ReportFile = { flag: '--result' | '--meta'; path: string } & ({ fd: number } | { stream: OwnStream });

type OwnStream = 'stdout' | 'stderr';

/**
 * The names of our own stdout and stderr (isolate's users write `--meta=/dev/stdout`). The report is
 * written to the descriptor `sandbox` already holds: no path is looked up, so nothing in a workspace
 * can redirect it. (Looked up, these are symlinks into /proc, which openNoFollow refuses.)
 */
const OWN_STREAMS: ReadonlyMap<string, OwnStream> = new Map([
  ['/dev/stdout', 'stdout'], ['/dev/fd/1', 'stdout'], ['/proc/self/fd/1', 'stdout'],
  ['/dev/stderr', 'stderr'], ['/dev/fd/2', 'stderr'], ['/proc/self/fd/2', 'stderr'],
]);

/**
 * Report files are opened before the run, so an unwritable path fails before anything runs.
 *
 * A report often goes into a directory the workload could write (its own workspace, bound :rw), where
 * an earlier run may have left a symlink or a FIFO in its place: following the symlink would let that
 * run choose which host file the next `sandbox exec` truncates and writes (as root, any file), and a
 * FIFO would hold the next run forever. So no symlink is followed anywhere in the path (each directory
 * is opened from the one before, O_NOFOLLOW, through /proc/self/fd: no window between a check and the
 * open), the file is opened without truncating and non-blocking, and only a regular file (truncated
 * then) or a character device (/dev/null) is written. `/dev/stdout` and `/dev/stderr` are ours
 * (OWN_STREAMS); with `--json` stdout carries the Result, and a report there is refused.
 */
export function openReport(path: string | undefined, flag: ReportFile['flag'], json: boolean): ReportFile | null {
  if (path === undefined) return null;
  const abs = resolve(path);
  const stream = OWN_STREAMS.get(abs);
  if (stream === 'stdout' && json) {
    throw new SandboxError('USAGE', `${flag} ${shownPath(path)}: with --json, stdout carries the Result alone; give ${flag} a file, or use --json without it`);
  }
  if (stream !== undefined) return { flag, path, stream };
  let fd: number;
  try {
    fd = openNoFollow(abs);
  } catch (e) {
    const code = errnoOf(e);
    const link = code === 'ELOOP' || code === 'ENOTDIR' ? symlinkIn(abs) : null;
    if (link !== null) {
      throw new SandboxError('USAGE', `${flag} ${shownPath(path)}: ${shownPath(link)} is a symlink, and report files are never written through symlinks (one in a workspace may have been left by a workload); give the real path`);
    }
    // ENXIO: a FIFO no one reads (O_NONBLOCK); EISDIR: a directory
    const st = code === 'ENXIO' || code === 'EISDIR' ? statOrNull(abs) : null;
    if (st) throw notRegular(flag, path, st);
    throw new SandboxError('USAGE', `${flag} ${shownPath(path)}: cannot write (${code})`);
  }
  const st = fstatSync(fd);
  if (st.isFile()) {
    ftruncateSync(fd, 0);
  } else if (!st.isCharacterDevice()) {
    closeSync(fd);
    throw notRegular(flag, path, st);
  }
  return { flag, path, fd };
}

function statOrNull(abs: string): Stats | null {
  try {
    return lstatSync(abs);
  } catch {
    return null;
  }
}

function notRegular(flag: ReportFile['flag'], path: string, st: Stats): SandboxError {
  return new SandboxError('USAGE', `${flag} ${shownPath(path)}: is ${kindOf(st)}; a report is written to a regular file (or /dev/null)`);
}

const O_PATH = 0o10000000; // Linux; not among Node's fs.constants (Node adds O_CLOEXEC to every open itself)

/** Opens absolute `abs` for writing (created 0644 if missing), following no symlink on the way. */
function openNoFollow(abs: string): number {
  const names = abs.split('/').filter(Boolean);
  const last = names.pop();
  let dir = openSync('/', O_PATH | constants.O_DIRECTORY);
  try {
    for (const name of names) {
      // a symlink here is ENOTDIR (O_PATH|O_NOFOLLOW would open the link itself, O_DIRECTORY refuses it)
      const next = openSync(`/proc/self/fd/${dir}/${name}`, O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW);
      closeSync(dir);
      dir = next;
    }
    if (last === undefined) return openSync('/', constants.O_WRONLY); // '/': EISDIR, as before
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK;
    return openSync(`/proc/self/fd/${dir}/${last}`, flags, 0o644);
  } finally {
    closeSync(dir);
  }
}

/** The first symlink among the components of `abs`, or null (then the error was something else). */
function symlinkIn(abs: string): string | null {
  let prefix = '';
  for (const name of abs.split('/').filter(Boolean)) {
    prefix += `/${name}`;
    try {
      if (lstatSync(prefix).isSymbolicLink()) return prefix;
    } catch {
      return null;
    }
  }
  return null;
}

/**
 * Two report fds on one regular file would both write from offset 0, one over the other. Compared by
 * device and inode of the opened files, so a symlink, a hard link or `./` in one path is caught too.
 * A device (/dev/null) has no offset to share: both reports may go there.
 */
export function refuseSameFile(a: ReportFile | null, b: ReportFile | null): void {
  // our stdout or stderr is written in order, the second report after the first
  if (!a || !b || !('fd' in a) || !('fd' in b)) return;
  const sa = fstatSync(a.fd);
  const sb = fstatSync(b.fd);
  if (!sa.isFile() || sa.dev !== sb.dev || sa.ino !== sb.ino) return;
  throw new SandboxError('USAGE', `${a.flag} ${shownPath(a.path)} and ${b.flag} ${shownPath(b.path)} are the same file: give each report its own file`);
}

/** Write and close a report file; returns what failed, in words, or null. */
export async function writeReport(file: ReportFile | null, text: string): Promise<string | null> {
  if (file === null) return null;
  if ('stream' in file) return printToOwn(file.stream, text, `${file.flag} ${shownPath(file.path)}: cannot write`);
  try {
    writeFileSync(file.fd, text);
    return null;
  } catch (e) {
    return `${file.flag} ${shownPath(file.path)}: cannot write (${errnoOf(e)})`;
  } finally {
    closeSync(file.fd);
  }
}

/** Swallows a stream's 'error' event: print() gets the same error through its write callback, and an
 * 'error' event without a listener would be thrown as an uncaught exception. */
function ignoreStreamError(): void {}

/**
 * Write to one of our own streams and wait until it is written (main() exits as soon as the handler
 * returns). Resolves to the write's error, or null.
 */
export function print(stream: NodeJS.WritableStream, text: string): Promise<NodeJS.ErrnoException | null> {
  if (!stream.listeners('error').includes(ignoreStreamError)) stream.on('error', ignoreStreamError);
  return new Promise((resolve) => {
    stream.write(text, (err) => resolve(err ?? null));
  });
}

/**
 * Print to stdout; returns what failed, in words, or null. EPIPE is not a failure: the reader is gone
 * (`sandbox exec --json ... | head -c5`), and like other tools we then end with the run's own status.
 */
export function printToStdout(text: string, what: string): Promise<string | null> {
  return printToOwn('stdout', text, `cannot write ${what} to stdout`);
}

/** printToStdout for either stream; a failure is `failure` and the errno. */
async function printToOwn(stream: OwnStream, text: string, failure: string): Promise<string | null> {
  const err = await print(process[stream], text);
  if (err === null || err.code === 'EPIPE') return null;
  return `${failure} (${errnoOf(err)})`;
}
