/**
 * The few libc calls Node lacks, through koffi. Loaded lazily: only the paths that need them pay the
 * load time (the rootless `sandbox exec` path does not).
 */
import koffi from 'koffi';

const libc = koffi.load('libc.so.6');

export const syscall3: (nr: number, a: number, b: number, c: number) => number =
  libc.func('long syscall(long nr, long a, long b, long c)');

const socketpairRaw: (domain: number, type: number, protocol: number, fds: number[]) => number =
  libc.func('int socketpair(int domain, int type, int protocol, _Out_ int *fds)');
const AF_UNIX = 1;
const SOCK_SEQPACKET = 5;
const SOCK_CLOEXEC = 0o2000000;

/** A connected pair of unix SOCK_SEQPACKET sockets (message boundaries kept, fds can ride along), close-on-exec. */
export function seqpacketPair(): [number, number] {
  const fds = [-1, -1];
  if (socketpairRaw(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) !== 0) throw new Error('socketpair failed');
  return [fds[0]!, fds[1]!];
}

const flockRaw: (fd: number, op: number) => number = libc.func('int flock(int fd, int op)');
const LOCK_EX = 2;
const LOCK_NB = 4;

/** flock(fd, LOCK_EX | LOCK_NB): true if taken now, false if someone else holds it. */
export function tryLockExclusive(fd: number): boolean {
  return flockRaw(fd, LOCK_EX | LOCK_NB) === 0;
}

const memfdCreateRaw: (name: string, flags: number) => number = libc.func('int memfd_create(const char *name, unsigned int flags)');
const MFD_CLOEXEC = 1;
const MFD_ALLOW_SEALING = 2;

/**
 * An anonymous in-memory file (close-on-exec), e.g. to hand bytes of any size to another process as an
 * fd. Sealable: the launcher seals a plan's memfd before reading it, so that the prepared init, which
 * reads it after, decodes the same bytes (native/main.c).
 */
export function memfd(name: string): number {
  const fd = memfdCreateRaw(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) throw new Error('memfd_create failed');
  return fd;
}
