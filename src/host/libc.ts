/**
 * The few libc calls Node lacks, through koffi. Loaded lazily: only the paths that need them pay the
 * load time (the rootless `sandbox exec` path does not).
 */
import koffi from 'koffi';

const libc = koffi.load('libc.so.6');

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

export const flock: (fd: number, op: number) => number = libc.func('int flock(int fd, int op)');
export const syscall3: (nr: number, a: number, b: number, c: number) => number =
  libc.func('long syscall(long nr, long a, long b, long c)');
