/**
 * Syscall groups for our policy format, written for this project from its syscall table in the
 * spirit of systemd's @basic-io, @file-system, @process... A group lists names for every target
 * arch; names a target does not have (open on aarch64) are skipped there without a warning.
 *
 * "Allow" groups hold what ordinary programs need; "deny" groups gather the dangerous families a
 * policy denies explicitly (so a reviewer sees the decision by name).
 */
export interface SyscallGroup {
  readonly description: string;
  readonly syscalls: readonly string[];
}

const g = (description: string, names: string): SyscallGroup => ({
  description,
  syscalls: names.trim().split(/\s+/),
});

export const GROUPS: Readonly<Record<string, SyscallGroup>> = {
  // ---- what ordinary programs need ----
  // execve is here because the launcher installs the filter as its last step before execve.
  '@default': g('process basics every program and libc start-up uses', `
    arch_prctl brk exit exit_group futex futex_waitv futex_wait futex_wake futex_requeue get_robust_list
    set_robust_list set_tid_address rseq restart_syscall rt_sigreturn getpid gettid getppid getpgrp getuid
    geteuid getgid getegid getresuid getresgid getgroups uname getrandom clock_gettime clock_getres
    clock_nanosleep gettimeofday time nanosleep sched_yield sched_getaffinity getcpu membarrier prlimit64
    getrlimit getrusage sysinfo times capget execve`),
  '@basic-io': g('reading and writing open file descriptors', `
    read write readv writev pread64 pwrite64 preadv preadv2 pwritev pwritev2 close close_range dup dup2 dup3
    lseek sendfile copy_file_range splice tee`),
  '@file-system': g('paths, metadata, directories, permissions, file locks, inotify', `
    access faccessat faccessat2 chdir fchdir getcwd open openat openat2 creat stat fstat lstat newfstatat
    statx statfs fstatfs readlink readlinkat getdents getdents64 mkdir mkdirat rmdir unlink unlinkat rename
    renameat renameat2 link linkat symlink symlinkat chmod fchmod fchmodat fchmodat2 chown fchown lchown
    fchownat truncate ftruncate fallocate fsync fdatasync syncfs sync_file_range flock fcntl umask utime
    utimes utimensat futimesat fadvise64 readahead mknod mknodat getxattr lgetxattr fgetxattr listxattr
    llistxattr flistxattr setxattr lsetxattr fsetxattr removexattr lremovexattr fremovexattr getxattrat
    listxattrat setxattrat removexattrat file_getattr file_setattr inotify_init inotify_init1
    inotify_add_watch inotify_rm_watch`),
  '@process': g('creating, running and waiting for processes (clone is further limited by its flags; clone3 is always ENOSYS)', `
    clone fork vfork execveat wait4 waitid setpgid getpgid getsid setsid prctl getpriority
    setpriority sched_getparam sched_getscheduler sched_get_priority_max sched_get_priority_min
    sched_rr_get_interval sched_setaffinity sched_getattr pidfd_open pidfd_send_signal`),
  '@signal': g('signal handlers, masks and sending signals', `
    rt_sigaction rt_sigprocmask rt_sigsuspend rt_sigpending rt_sigtimedwait rt_sigqueueinfo
    rt_tgsigqueueinfo sigaltstack signalfd signalfd4 kill tkill tgkill pause alarm getitimer setitimer`),
  '@memory': g('mapping, protecting and advising memory', `
    mmap munmap mprotect mremap madvise mlock mlock2 munlock msync mincore memfd_create get_mempolicy
    set_mempolicy mbind pkey_alloc pkey_free pkey_mprotect`),
  '@io-event': g('poll, select, epoll, eventfd, timerfd', `
    poll ppoll select pselect6 epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait epoll_pwait2
    eventfd eventfd2 timerfd_create timerfd_settime timerfd_gettime`),
  '@timer': g('POSIX timers', `
    timer_create timer_settime timer_gettime timer_getoverrun timer_delete`),
  '@ipc': g('pipes, SysV and POSIX IPC', `
    pipe pipe2 shmget shmat shmdt shmctl semget semop semtimedop semctl msgget msgsnd msgrcv msgctl
    mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr`),
  '@network-io': g('using sockets; creating them (socket, socketpair) is left to rules on the address family', `
    bind connect listen accept accept4 getsockname getpeername getsockopt setsockopt
    sendto recvfrom sendmsg recvmsg sendmmsg recvmmsg shutdown`),
  '@sandboxing': g('further restricting oneself (seccomp, landlock)', `
    seccomp landlock_create_ruleset landlock_add_rule landlock_restrict_self`),
  '@credentials-set': g('changing uids, gids, groups and capabilities', `
    setuid setgid setreuid setregid setresuid setresgid setfsuid setfsgid setgroups capset`),
  '@resources-set': g('changing limits, scheduling and I/O priority', `
    setrlimit sched_setscheduler sched_setparam sched_setattr ioprio_get ioprio_set`),
  // ---- dangerous families, denied by name ----
  '@namespaces': g('creating or joining namespaces (clone is handled by a rule on its flags)', `
    unshare setns`),
  '@mount': g('mounting, the new mount API and changing the root', `
    mount umount umount2 pivot_root chroot fsopen fsconfig fsmount fspick move_mount open_tree
    open_tree_attr mount_setattr listmount statmount`),
  '@keyring': g('the kernel keyring', `add_key keyctl request_key`),
  '@debug': g('inspecting or modifying other processes', `
    ptrace process_vm_readv process_vm_writev pidfd_getfd kcmp perf_event_open lookup_dcookie
    process_madvise process_mrelease`),
  '@bpf': g('loading eBPF programs', 'bpf'),
  '@userfaultfd': g('userfaultfd (a classic kernel-exploit helper)', 'userfaultfd'),
  '@io-uring': g('io_uring (bypasses seccomp for the operations it performs)', `
    io_uring_setup io_uring_enter io_uring_register`),
  '@file-handles': g('opening files by handle (bypasses path checks)', 'open_by_handle_at name_to_handle_at'),
  '@module': g('kernel modules', `
    init_module finit_module delete_module`),
  '@reboot': g('rebooting and loading kernels', 'reboot kexec_load kexec_file_load'),
  '@swap': g('swap devices', 'swapon swapoff'),
  '@accounting': g('process accounting and quotas', 'acct quotactl quotactl_fd'),
  '@clock-set': g('setting the system clock', 'settimeofday clock_settime clock_adjtime adjtimex stime'),
  '@raw-io': g('raw I/O ports and PCI config space', 'iopl ioperm pciconfig_iobase pciconfig_read pciconfig_write'),
  '@cpu-emulation': g('LDT and vm86', 'modify_ldt vm86 vm86old'),
  '@system-admin': g('host-wide settings', `
    sethostname setdomainname syslog vhangup`),
  '@obsolete': g('obsolete syscalls nothing current needs', 'ustat sysfs remap_file_pages'),
};

/** The syscall names of group `name` (with the leading @), or undefined when no such group exists. */
export function groupMembers(name: string): readonly string[] | undefined {
  return Object.prototype.hasOwnProperty.call(GROUPS, name) ? GROUPS[name]!.syscalls : undefined;
}
