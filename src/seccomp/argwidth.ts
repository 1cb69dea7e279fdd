/**
 * Which syscall arguments the kernel reads as 32-bit values on 64-bit arches.
 *
 * Why it matters: seccomp hands the filter all 64 bits of each register, but the kernel's syscall
 * wrappers (SYSCALL_DEFINEx with an `int`/`unsigned int`/`pid_t`/`umode_t`... parameter) truncate
 * to the low 32 bits. A filter that compares all 64 bits can be bypassed by setting high bits:
 * `ioctl(fd, 0x1_0000_5412)` does not equal TIOCSTI (0x5412) for a 64-bit compare, yet the kernel
 * executes TIOCSTI (CVE-2019-10063, flatpak). For the arguments listed here the compiler compares
 * the low word only, which is exactly what the kernel acts on.
 *
 * Indexes come from the kernel's SYSCALL_DEFINE prototypes (identical on x86_64 and aarch64 for the
 * syscalls both have). clone's flags are `unsigned long` but kernel_clone only reads
 * lower_32_bits(clone_flags), so it is listed too. Syscalls not listed compare all 64 bits.
 */
export const ARG32: Readonly<Record<string, readonly number[]>> = {
  // fds, file modes and flags
  read: [0], write: [0], close: [0], fsync: [0], fdatasync: [0], fchdir: [0], dup: [0], dup2: [0, 1],
  dup3: [0, 1, 2], lseek: [0, 2], pread64: [0], pwrite64: [0], getdents64: [0, 2], getdents: [0, 2],
  ftruncate: [0], fchmod: [0, 1], fchown: [0, 1, 2], flock: [0, 1], close_range: [0, 1, 2],
  open: [1, 2], creat: [1], openat: [0, 2, 3], openat2: [0], access: [1], faccessat: [0, 2],
  faccessat2: [0, 2, 3], chmod: [1], fchmodat: [0, 2], fchmodat2: [0, 2, 3], chown: [1, 2], lchown: [1, 2],
  fchownat: [0, 2, 3, 4], mkdir: [1], mkdirat: [0, 2], mknod: [1, 2], mknodat: [0, 2, 3], unlinkat: [0, 2],
  renameat: [0, 2], renameat2: [0, 2, 4], linkat: [0, 2, 4], symlinkat: [1], readlinkat: [0, 3],
  newfstatat: [0, 3], statx: [0, 2, 3], utimensat: [0, 3], fcntl: [0, 1], ioctl: [0, 1], umask: [0],
  fallocate: [0, 1], fadvise64: [0, 3], copy_file_range: [0, 2, 5], sendfile: [0, 1], memfd_create: [1],
  memfd_secret: [0], pipe2: [1], inotify_init1: [0], inotify_add_watch: [0, 2], inotify_rm_watch: [0, 1],
  fanotify_init: [0, 1], eventfd2: [0, 1], eventfd: [0], signalfd4: [0, 3], timerfd_create: [0, 1],
  timerfd_settime: [0, 1], timerfd_gettime: [0], epoll_create: [0], epoll_create1: [0],
  epoll_ctl: [0, 1, 2], epoll_wait: [0, 2, 3], epoll_pwait: [0, 2, 3], epoll_pwait2: [0, 2],
  // sockets
  socket: [0, 1, 2], socketpair: [0, 1, 2], bind: [0, 2], connect: [0, 2], listen: [0, 1], accept: [0],
  accept4: [0, 3], getsockname: [0], getpeername: [0], shutdown: [0, 1], setsockopt: [0, 1, 2, 4],
  getsockopt: [0, 1, 2], sendto: [0, 3, 5], recvfrom: [0, 3], sendmsg: [0, 2], recvmsg: [0, 2],
  sendmmsg: [0, 2, 3], recvmmsg: [0, 2, 3],
  // processes, namespaces, credentials
  clone: [0], setns: [0, 1], personality: [0], prctl: [0], arch_prctl: [0], kill: [0, 1], tkill: [0, 1],
  tgkill: [0, 1, 2], exit: [0], exit_group: [0], wait4: [0, 2], waitid: [0, 1, 3], setpgid: [0, 1],
  getpgid: [0], getsid: [0], setuid: [0], setgid: [0], setreuid: [0, 1], setregid: [0, 1],
  setresuid: [0, 1, 2], setresgid: [0, 1, 2], setfsuid: [0], setfsgid: [0], setpriority: [0, 1, 2],
  getpriority: [0, 1], sched_setscheduler: [0, 1], sched_getscheduler: [0], sched_setaffinity: [0, 1],
  sched_getaffinity: [0, 1], prlimit64: [0, 1], setrlimit: [0], getrlimit: [0], pidfd_open: [0, 1],
  pidfd_getfd: [0, 1, 2], pidfd_send_signal: [0, 1, 3], process_vm_readv: [0], process_vm_writev: [0],
  process_madvise: [0, 3, 4], kcmp: [0, 1, 2], execveat: [0, 4], rt_sigaction: [0], rt_sigprocmask: [0],
  rt_sigqueueinfo: [0, 1], rt_tgsigqueueinfo: [0, 1, 2], ioprio_set: [0, 1, 2], ioprio_get: [0, 1],
  // memory
  madvise: [2], mlock2: [2], pkey_mprotect: [3], pkey_free: [0], membarrier: [0, 1, 2],
  // mount API, keys, bpf, perf, io_uring, misc
  umount2: [1], fsopen: [1], fsconfig: [0, 1, 4], fsmount: [0, 1, 2], fspick: [0, 2], move_mount: [0, 2, 4],
  open_tree: [0, 2], mount_setattr: [0, 2], name_to_handle_at: [0, 4], open_by_handle_at: [0, 2],
  keyctl: [0], add_key: [4], request_key: [3], bpf: [0, 2], perf_event_open: [1, 2, 3], userfaultfd: [0],
  io_uring_setup: [0], io_uring_enter: [0, 1, 2, 3], io_uring_register: [0, 1, 3], seccomp: [0, 1],
  getrandom: [2], reboot: [0, 1, 2], swapon: [1], syslog: [0, 2], finit_module: [0, 2], delete_module: [1],
  quotactl: [0], clock_gettime: [0], clock_getres: [0], clock_nanosleep: [0, 1], clock_settime: [0],
  landlock_create_ruleset: [2], landlock_add_rule: [0, 1, 3], landlock_restrict_self: [0, 1],
  rseq: [1, 2, 3], futex: [1, 2], shmget: [2], shmat: [0, 2], shmctl: [0, 1], shmdt: [], msgget: [0, 1],
  semget: [0, 1, 2], mq_open: [1, 2],
};

/** True when the kernel reads argument `index` of `syscall` as a 32-bit value. */
export function isArg32(syscall: string, index: number): boolean {
  return Object.prototype.hasOwnProperty.call(ARG32, syscall) && ARG32[syscall]!.includes(index);
}
