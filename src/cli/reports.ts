/**
 * Where `sandbox exec` writes its reports: the `--result`/`--meta` files and its own stdout/stderr.
 * A write that fails is described in one line (what, and the errno) for the caller to report; nothing
 * here throws a raw Node error, whose stack trace would be all the user saw.
 */
import { closeSync, fstatSync, openSync, writeFileSync } from 'node:fs';
import { SandboxError } from '../errors.js';

/** A path as typed, quoted when it holds a control character: the message must stay one line. */
export function shownPath(path: string): string {
  return /[\x00-\x1f\x7f]/.test(path) ? JSON.stringify(path) : path;
}

function errnoOf(e: unknown): string {
  return (e as NodeJS.ErrnoException | null)?.code ?? String((e as Error | null)?.message ?? e);
}

export interface ReportFile {
  flag: '--result' | '--meta';
  path: string;
  fd: number;
}

/** Report files are opened before the run, so an unwritable path fails before anything runs. */
export function openReport(path: string | undefined, flag: ReportFile['flag']): ReportFile | null {
  if (path === undefined) return null;
  try {
    return { flag, path, fd: openSync(path, 'w', 0o644) };
  } catch (e) {
    throw new SandboxError('USAGE', `${flag} ${shownPath(path)}: cannot write (${errnoOf(e)})`);
  }
}

/**
 * Two report fds on one regular file would both write from offset 0, one over the other. Compared by
 * device and inode of the opened files, so a symlink, a hard link or `./` in one path is caught too.
 * A device (/dev/null) has no offset to share: both reports may go there.
 */
export function refuseSameFile(a: ReportFile | null, b: ReportFile | null): void {
  if (!a || !b) return;
  const sa = fstatSync(a.fd);
  const sb = fstatSync(b.fd);
  if (!sa.isFile() || sa.dev !== sb.dev || sa.ino !== sb.ino) return;
  throw new SandboxError('USAGE', `${a.flag} ${shownPath(a.path)} and ${b.flag} ${shownPath(b.path)} are the same file: give each report its own file`);
}

/** Write and close a report file; returns what failed, in words, or null. */
export function writeReport(file: ReportFile | null, text: string): string | null {
  if (file === null) return null;
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
export async function printToStdout(text: string, what: string): Promise<string | null> {
  const err = await print(process.stdout, text);
  if (err === null || err.code === 'EPIPE') return null;
  return `cannot write ${what} to stdout (${errnoOf(err)})`;
}
