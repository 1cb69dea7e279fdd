/**
 * The few libc calls Node lacks, through koffi. Loaded lazily: only the paths that need them pay the
 * load time (the rootless `sandbox exec` path does not).
 */
import koffi from 'koffi';

const libc = koffi.load('libc.so.6');

const pipe2Raw: (fds: number[], flags: number) => number = libc.func('int pipe2(_Out_ int *fds, int flags)');
const O_CLOEXEC = 0o2000000;

/** A real pipe (not the socketpair Node's spawn makes): [read end, write end], both close-on-exec. */
export function pipe(): [number, number] {
  const fds = [-1, -1];
  if (pipe2Raw(fds, O_CLOEXEC) !== 0) throw new Error('pipe2 failed');
  return [fds[0]!, fds[1]!];
}

export const syscall3: (nr: number, a: number, b: number, c: number) => number =
  libc.func('long syscall(long nr, long a, long b, long c)');
