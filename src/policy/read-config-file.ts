/**
 * Reads a configuration file named by the caller: a run policy, a trust policy, a trusted root, a key
 * or CA file. readFileSync trusted the name: `--policy /dev/zero` grew a string until V8 aborted with
 * std::bad_alloc (a trust policy until the OOM killer came, at 24 GB), and a FIFO with no writer
 * blocked the CLI forever. Here the file is opened without waiting, checked on its descriptor to be a
 * regular file of at most 4 MiB, and read only up to the size fstat gave.
 *
 * On the CLI's cold-start path (src/policy/load.ts): node:fs only, synchronous, nothing else.
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';

/** Far above any real one (a trusted_root.json is ~10 KB, a policy ~2 KB). */
export const MAX_CONFIG_FILE_BYTES = 4 << 20;

/**
 * How a caller turns a refusal into its own error. `why` follows "cannot read FILE: " ("no such
 * file", "it is a character device, not a regular file", ...); `errno` is set when the system refused
 * (ENOENT: the file is missing), undefined when the file is not one we read.
 */
export type ConfigFileFailure = (why: string, errno: string | undefined) => never;

/** What a file that is not a regular one is, in words ("a FIFO"). */
export function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'something else';
}

/** Up to `size` bytes from `fd` (fewer if the file shrank; what it grew by after fstat is not read). */
function readUpTo(fd: number, size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let n = 0;
  for (let got = -1; n < size && got !== 0; n += got) got = readSync(fd, buf, n, size - n, null);
  return buf.subarray(0, n);
}

/** A refusal by the system (open, or an I/O error reading). */
function systemFailure(e: unknown, fail: ConfigFileFailure): never {
  const errno = (e as NodeJS.ErrnoException).code;
  return fail(errno === 'ENOENT' ? 'no such file' : (e as Error).message, errno);
}

/** The bytes of `file`, or `fail` says why not (and throws the caller's error). */
export function readConfigFile(file: string, fail: ConfigFileFailure): Buffer {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO does not wait for a writer (it is then refused by its type). Node
    // (libuv) adds O_CLOEXEC to every open. No O_NOFOLLOW: a policy may well be a symlink.
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    return systemFailure(e, fail);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return fail(`it is ${kindOf(st)}, not a regular file`, undefined);
    if (st.size > MAX_CONFIG_FILE_BYTES) return fail(`it is ${st.size} bytes; a configuration file may have at most ${MAX_CONFIG_FILE_BYTES} (4 MiB)`, undefined);
    try {
      return readUpTo(fd, st.size);
    } catch (e) {
      return systemFailure(e, fail);
    }
  } finally {
    closeSync(fd);
  }
}
