/**
 * Named constants usable in argument conditions ("TIOCSTI", "AF_ALG", "CLONE_NEWUSER|CLONE_NEWNET")
 * and errno names. x86_64 and aarch64 share these values: both use the asm-generic ioctl, errno
 * and socket numbering (arches that differ, such as mips or powerpc, are not targets).
 */

export const ERRNO: Readonly<Record<string, number>> = {
  EPERM: 1, ENOENT: 2, ESRCH: 3, EINTR: 4, EIO: 5, ENXIO: 6, E2BIG: 7, ENOEXEC: 8, EBADF: 9, ECHILD: 10,
  EAGAIN: 11, ENOMEM: 12, EACCES: 13, EFAULT: 14, ENOTBLK: 15, EBUSY: 16, EEXIST: 17, EXDEV: 18, ENODEV: 19,
  ENOTDIR: 20, EISDIR: 21, EINVAL: 22, ENFILE: 23, EMFILE: 24, ENOTTY: 25, ETXTBSY: 26, EFBIG: 27, ENOSPC: 28,
  ESPIPE: 29, EROFS: 30, EMLINK: 31, EPIPE: 32, EDOM: 33, ERANGE: 34, EDEADLK: 35, ENAMETOOLONG: 36,
  ENOLCK: 37, ENOSYS: 38, ENOTEMPTY: 39, ELOOP: 40, ENOMSG: 42, ENODATA: 61, ETIME: 62, EOVERFLOW: 75,
  EILSEQ: 84, EUSERS: 87, ENOTSOCK: 88, EDESTADDRREQ: 89, EMSGSIZE: 90, EPROTOTYPE: 91, ENOPROTOOPT: 92,
  EPROTONOSUPPORT: 93, ESOCKTNOSUPPORT: 94, EOPNOTSUPP: 95, ENOTSUP: 95, EPFNOSUPPORT: 96,
  EAFNOSUPPORT: 97, EADDRINUSE: 98, EADDRNOTAVAIL: 99, ENETDOWN: 100, ENETUNREACH: 101, ECONNABORTED: 103,
  ECONNRESET: 104, ENOBUFS: 105, EISCONN: 106, ENOTCONN: 107, ETIMEDOUT: 110, ECONNREFUSED: 111,
  EHOSTUNREACH: 113, EALREADY: 114, EINPROGRESS: 115, EDQUOT: 122, ECANCELED: 125, EOWNERDEAD: 130,
};

export const CONSTANTS: Readonly<Record<string, bigint>> = {
  // ioctl requests (asm-generic/ioctls.h)
  TCGETS: 0x5401n, TCSETS: 0x5402n, TCSETSW: 0x5403n, TCSETSF: 0x5404n, TIOCSCTTY: 0x540en,
  TIOCGPGRP: 0x540fn, TIOCSPGRP: 0x5410n, TIOCOUTQ: 0x5411n, TIOCSTI: 0x5412n, TIOCGWINSZ: 0x5413n,
  TIOCSWINSZ: 0x5414n, FIONREAD: 0x541bn, TIOCLINUX: 0x541cn, TIOCCONS: 0x541dn, FIONBIO: 0x5421n,
  TIOCNOTTY: 0x5422n, TIOCSETD: 0x5423n, TIOCGETD: 0x5424n, FIONCLEX: 0x5450n, FIOCLEX: 0x5451n,
  FIOASYNC: 0x5452n,
  // socket address families (linux/socket.h)
  AF_UNSPEC: 0n, AF_UNIX: 1n, AF_LOCAL: 1n, AF_INET: 2n, AF_AX25: 3n, AF_IPX: 4n, AF_APPLETALK: 5n,
  AF_NETROM: 6n, AF_BRIDGE: 7n, AF_ATMPVC: 8n, AF_X25: 9n, AF_INET6: 10n, AF_ROSE: 11n, AF_DECnet: 12n,
  AF_NETBEUI: 13n, AF_SECURITY: 14n, AF_KEY: 15n, AF_NETLINK: 16n, AF_PACKET: 17n, AF_ASH: 18n,
  AF_ECONET: 19n, AF_ATMSVC: 20n, AF_RDS: 21n, AF_SNA: 22n, AF_IRDA: 23n, AF_PPPOX: 24n, AF_WANPIPE: 25n,
  AF_LLC: 26n, AF_IB: 27n, AF_MPLS: 28n, AF_CAN: 29n, AF_TIPC: 30n, AF_BLUETOOTH: 31n, AF_IUCV: 32n,
  AF_RXRPC: 33n, AF_ISDN: 34n, AF_PHONET: 35n, AF_IEEE802154: 36n, AF_CAIF: 37n, AF_ALG: 38n, AF_NFC: 39n,
  AF_VSOCK: 40n, AF_KCM: 41n, AF_QIPCRTR: 42n, AF_SMC: 43n, AF_XDP: 44n, AF_MCTP: 45n,
  // socket types (the type argument also carries SOCK_NONBLOCK / SOCK_CLOEXEC)
  SOCK_STREAM: 1n, SOCK_DGRAM: 2n, SOCK_RAW: 3n, SOCK_RDM: 4n, SOCK_SEQPACKET: 5n, SOCK_PACKET: 10n,
  SOCK_NONBLOCK: 0o4000n, SOCK_CLOEXEC: 0o2000000n, SOCK_TYPE_MASK: 0xfn,
  // IP protocols (netinet/in.h): the socket protocol argument of AF_INET/AF_INET6
  IPPROTO_IP: 0n, IPPROTO_ICMP: 1n, IPPROTO_TCP: 6n, IPPROTO_UDP: 17n, IPPROTO_ICMPV6: 58n, IPPROTO_SCTP: 132n,
  IPPROTO_UDPLITE: 136n, IPPROTO_MPTCP: 262n,
  // netlink protocols (linux/netlink.h)
  NETLINK_ROUTE: 0n, NETLINK_USERSOCK: 2n, NETLINK_FIREWALL: 3n, NETLINK_SOCK_DIAG: 4n, NETLINK_NFLOG: 5n,
  NETLINK_XFRM: 6n, NETLINK_SELINUX: 7n, NETLINK_ISCSI: 8n, NETLINK_AUDIT: 9n, NETLINK_FIB_LOOKUP: 10n,
  NETLINK_CONNECTOR: 11n, NETLINK_NETFILTER: 12n, NETLINK_IP6_FW: 13n, NETLINK_DNRTMSG: 14n,
  NETLINK_KOBJECT_UEVENT: 15n, NETLINK_GENERIC: 16n, NETLINK_SCSITRANSPORT: 18n, NETLINK_ECRYPTFS: 19n,
  NETLINK_RDMA: 20n, NETLINK_CRYPTO: 21n, NETLINK_SMC: 22n,
  // clone / unshare flags (linux/sched.h)
  CSIGNAL: 0xffn, CLONE_NEWTIME: 0x80n, CLONE_VM: 0x100n, CLONE_FS: 0x200n, CLONE_FILES: 0x400n,
  CLONE_SIGHAND: 0x800n, CLONE_PIDFD: 0x1000n, CLONE_PTRACE: 0x2000n, CLONE_VFORK: 0x4000n,
  CLONE_PARENT: 0x8000n, CLONE_THREAD: 0x10000n, CLONE_NEWNS: 0x20000n, CLONE_SYSVSEM: 0x40000n,
  CLONE_SETTLS: 0x80000n, CLONE_PARENT_SETTID: 0x100000n, CLONE_CHILD_CLEARTID: 0x200000n,
  CLONE_DETACHED: 0x400000n, CLONE_UNTRACED: 0x800000n, CLONE_CHILD_SETTID: 0x1000000n,
  CLONE_NEWCGROUP: 0x2000000n, CLONE_NEWUTS: 0x4000000n, CLONE_NEWIPC: 0x8000000n,
  CLONE_NEWUSER: 0x10000000n, CLONE_NEWPID: 0x20000000n, CLONE_NEWNET: 0x40000000n, CLONE_IO: 0x80000000n,
  // personality (linux/personality.h)
  PER_LINUX: 0x0n, PER_LINUX_32BIT: 0x0800000n, PER_LINUX32: 0x8n, UNAME26: 0x0020000n,
  ADDR_NO_RANDOMIZE: 0x0040000n, FDPIC_FUNCPTRS: 0x0080000n, MMAP_PAGE_ZERO: 0x0100000n,
  ADDR_COMPAT_LAYOUT: 0x0200000n, READ_IMPLIES_EXEC: 0x0400000n, ADDR_LIMIT_32BIT: 0x0800000n,
  SHORT_INODE: 0x1000000n, WHOLE_SECONDS: 0x2000000n, STICKY_TIMEOUTS: 0x4000000n,
  ADDR_LIMIT_3GB: 0x8000000n, PER_QUERY: 0xffffffffn,
  // prctl options (linux/prctl.h), a few that policies single out
  PR_SET_PDEATHSIG: 1n, PR_SET_DUMPABLE: 4n, PR_SET_NAME: 15n, PR_GET_NAME: 16n, PR_SET_SECCOMP: 22n,
  PR_CAPBSET_DROP: 24n, PR_SET_PTRACER: 0x59616d61n, PR_SET_NO_NEW_PRIVS: 38n, PR_SET_MM: 35n,
  PR_SET_VMA: 0x53564d41n,
  // open flags (asm-generic/fcntl.h; x86_64 and aarch64 agree on these)
  O_RDONLY: 0n, O_WRONLY: 1n, O_RDWR: 2n, O_ACCMODE: 3n, O_CREAT: 0o100n, O_EXCL: 0o200n, O_NOCTTY: 0o400n,
  O_TRUNC: 0o1000n, O_APPEND: 0o2000n, O_NONBLOCK: 0o4000n, O_CLOEXEC: 0o2000000n,
  // file mode bits (linux/stat.h)
  S_ISUID: 0o4000n, S_ISGID: 0o2000n, S_ISVTX: 0o1000n,
  // mmap / mprotect
  PROT_NONE: 0n, PROT_READ: 1n, PROT_WRITE: 2n, PROT_EXEC: 4n,
  // ptrace
  PTRACE_TRACEME: 0n,
};

/** Every CLONE_NEW* flag a clone() flags word can carry (clone() cannot create time namespaces). */
export const CLONE_NEW_MASK = 0x7e020000n;

/**
 * Parses a constant expression: NAME, a decimal or 0x/0o/0b number, a negative decimal (as its
 * 64-bit two's complement), or several of these joined by '|'. Returns undefined for an unknown name.
 */
export function parseConstantExpression(text: string): { value: bigint } | { unknown: string } | { syntax: string } {
  let acc = 0n;
  for (const raw of text.split('|')) {
    const term = raw.trim();
    if (term === '') return { syntax: `empty term in ${JSON.stringify(text)}` };
    if (/^-?(0x[0-9a-f]+|0o[0-7]+|0b[01]+|[0-9]+)$/i.test(term)) {
      const neg = term.startsWith('-');
      const v = BigInt(neg ? term.slice(1) : term);
      if (v >= 1n << 64n || (neg && v > 1n << 63n)) return { syntax: `${term} does not fit in 64 bits` };
      acc |= BigInt.asUintN(64, neg ? -v : v);
      continue;
    }
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(term)) return { syntax: `${JSON.stringify(term)} is not a constant name or number` };
    const v = CONSTANTS[term];
    if (v === undefined || !Object.prototype.hasOwnProperty.call(CONSTANTS, term)) return { unknown: term };
    acc |= v;
  }
  return { value: acc };
}
