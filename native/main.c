/*
 * sandbox-launcher entry point: A (outer) and B (init). See launcher.h for the three processes.
 *
 * Usage (by the supervisor only): sandbox-launcher [--parent-pid N] [--check-plan | --zygote]
 *   fd 3: the encoded plan (read to EOF)   fd 4: structured reports   fds 0-2: the workload's stdio
 * --check-plan decodes and validates the plan, reports, and exits (used by the decoder fuzz tests).
 * --zygote stays running and forks one A per request instead (zygote.c), for a supervisor that runs many.
 *
 * Never install this setuid: it needs no privilege beyond the invoking user's. When the invoking user
 * is root, the workload still never runs as host root: the plan maps it to a dedicated host uid.
 */
#define _GNU_SOURCE
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

/* B as a pidfd (CLONE_PIDFD), written by the kernel during the clone; -1 until then. */
static volatile int init_pidfd = -1;

/* A: SIGTERM/SIGINT/SIGHUP from the supervisor tear the sandbox down. Killing init (B) makes the
 * kernel kill every process in the pid namespace; A then reaps B and exits, so when the supervisor
 * sees A exit, nothing of the sandbox is left running. Through the pidfd, not the pid: a signal that
 * arrives after B was reaped must not hit another process that got B's pid meanwhile. */
static void on_terminate(int sig) {
  if (init_pidfd >= 0) syscall(SYS_pidfd_send_signal, init_pidfd, SIGKILL, NULL, 0u);
  else _exit(128 + sig);
}

/*
 * --hold: A stays after the sandbox has ended, until the supervisor sends SIGUSR1 (or HOLD_MAX_S
 * pass). With it, a launcher that systemd-run put in a scope of its own keeps that scope alive: when a
 * scope's last process exits, systemd removes its cgroup, with the run's cgroups in it, and the
 * supervisor reads the run's statistics there after init has exited. A's SIGUSR1 handler only notes a
 * release that comes early (init, cloned with it, sets SIGUSR1 back to the default). */
#define HOLD_MAX_S 30
static int hold_after_run;
static volatile sig_atomic_t hold_released;
static void on_release(int sig) {
  (void)sig;
  hold_released = 1;
}

static void hold_until_released(void) {
  sigset_t usr1, old;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  sigprocmask(SIG_BLOCK, &usr1, &old);
  report_held();
  struct timespec limit = {HOLD_MAX_S, 0};
  /* a SIGUSR1 that came before the block was noted by on_release; one after it waits here, pending */
  while (!hold_released && sigtimedwait(&usr1, NULL, &limit) < 0 && errno == EINTR) {}
  sigprocmask(SIG_SETMASK, &old, NULL);
}

/* The plan from `fd` to its end: with read(2) in A (a pipe, or the memfd at offset 0), with pread(2)
 * from offset 0 in a prepared init (the memfd whose shared offset A's reads moved to its end). */
static uint8_t *read_plan(int fd, int positional, size_t *len) {
  size_t cap = 64 * 1024, n = 0;
  uint8_t *buf = malloc(cap);
  if (!buf) fail(STEP_READ_PLAN, ENOMEM, 0);
  for (;;) {
    if (n == cap) {
      if (cap > PLAN_MAX_BYTES) fail(STEP_DECODE, DEC_BAD_LENGTH, 0);
      cap *= 2;
      uint8_t *bigger = realloc(buf, cap);
      if (!bigger) fail(STEP_READ_PLAN, ENOMEM, 0);
      buf = bigger;
    }
    ssize_t r = positional ? pread(fd, buf + n, cap - n, (off_t)n) : read(fd, buf + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail(STEP_READ_PLAN, errno, 0);
    if (r == 0) break;
    n += (size_t)r;
  }
  *len = n;
  return buf;
}

static int write_file(const char *path, const char *data) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t len = strlen(data);
  ssize_t w = write(fd, data, len);
  int saved = errno;
  close(fd);
  if (w != (ssize_t)len) {
    errno = w < 0 ? saved : EIO;
    return -1;
  }
  return 0;
}

/* A: put a process into the run's cgroups: A itself before cloning (and so everything it clones), or
 * a prepared init that was cloned before the run's cgroups were known. */
static void join_cgroups(const struct plan *p, pid_t who) {
  char pid[32];
  snprintf(pid, sizeof pid, "%d\n", (int)who);
  for (uint32_t i = 0; i < p->n_cgroup_procs; i++)
    if (write_file(p->cgroup_procs[i], pid) < 0) fail(STEP_JOIN_CGROUP, errno, i);
}

/*
 * In --hold mode A also leaves the run's cgroup once init has been cloned into it, back to the one it
 * came from (the scope's sandbox-supervisor). Otherwise an OOM kill in the run's cgroup, which kills
 * the whole group (memory.oom.group), would take A, the scope's keeper, with it: the scope would go,
 * the run's cgroups with it, before an ML run was measured (seen under systemd 252). What A does after
 * it leaves (relaying, waiting) is not the workload's anyway. cgroup v2 only, as scopes are.
 */
static char home_procs[PATH_MAX];
/* STEP_JOIN_CGROUP's index for these two steps: past the plan's cgroup files (at most PLAN_MAX_ITEMS),
 * so never one of them; src/launch/launcher-errors.ts words them */
#define HOME_CGROUP_UNKNOWN PLAN_MAX_ITEMS
#define HOME_CGROUP_RETURN (PLAN_MAX_ITEMS + 1)

static void remember_home_cgroup(void) {
  FILE *f = fopen("/proc/self/cgroup", "re");
  if (!f) fail(STEP_JOIN_CGROUP, errno, HOME_CGROUP_UNKNOWN);
  char line[PATH_MAX - 64]; /* room for the prefix and suffix below */
  home_procs[0] = '\0';
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "0::/", 4) != 0) continue;
    line[strcspn(line, "\n")] = '\0';
    snprintf(home_procs, sizeof home_procs, "/sys/fs/cgroup%s/cgroup.procs", line + 3);
  }
  fclose(f);
  if (home_procs[0] == '\0') fail(STEP_JOIN_CGROUP, ENOENT, HOME_CGROUP_UNKNOWN);
}

static void return_home_cgroup(void) {
  char pid[32];
  snprintf(pid, sizeof pid, "%d\n", (int)getpid());
  if (write_file(home_procs, pid) < 0) fail(STEP_JOIN_CGROUP, errno, HOME_CGROUP_RETURN);
}

/* A: one line per map, our single host id to the inside id. "deny" on setgroups first: the kernel
 * requires it for an unprivileged gid_map, and it keeps the workload from dropping groups that
 * deny access (rootless) or gaining any (root). */
static int write_id_maps(pid_t pid, const struct plan *p, uint32_t *which) {
  char path[64], line[64];
  snprintf(path, sizeof path, "/proc/%d/setgroups", (int)pid);
  *which = 0;
  if (write_file(path, "deny") < 0) return -1;
  snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pid);
  snprintf(line, sizeof line, "%u %u 1\n", p->inside_uid, p->host_uid);
  *which = 1;
  if (write_file(path, line) < 0) return -1;
  snprintf(path, sizeof path, "/proc/%d/gid_map", (int)pid);
  snprintf(line, sizeof line, "%u %u 1\n", p->inside_gid, p->host_gid);
  *which = 2;
  return write_file(path, line);
}

static void parent_death_signal(void) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) fail(STEP_PARENT_DEATH, errno, 0);
}

/* B: O_PATH fds of the bind sources, opened in our own mount namespace (a bind source must belong to
 * it) before the staging tmpfs can cover anything. RESOLVE_NO_SYMLINKS: the supervisor resolved each
 * source to a canonical path; a symlink found now (e.g. planted by an earlier run in a writable bind)
 * is refused instead of followed. */
static int *open_bind_sources(const struct plan *p) {
  int *fds = calloc(p->n_bind_sources + 1, sizeof(int));
  if (!fds) fail(STEP_BIND_SOURCE, ENOMEM, 0);
  for (uint32_t i = 0; i < p->n_bind_sources; i++) {
    struct open_how how = {.flags = O_PATH | O_CLOEXEC, .mode = 0, .resolve = RESOLVE_NO_SYMLINKS};
    fds[i] = (int)syscall(SYS_openat2, AT_FDCWD, p->bind_sources[i], &how, sizeof how);
    if (fds[i] < 0) fail(STEP_BIND_SOURCE, errno, i);
  }
  return fds;
}

/* B: become the inside identity while keeping the namespace capabilities needed to build the
 * filesystem. Rootless, this changes nothing (our host uid already maps to it). As root, B starts as
 * the unmapped host root (which is why bind sources were opened first, with root's owner access but
 * no capability over host files) and here becomes the dedicated sandbox uid for good. */
static void take_inside_identity(const struct plan *p, int syncfd) {
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) fail(STEP_IDENTITY, errno, 0);
  if (setresgid(p->inside_gid, p->inside_gid, p->inside_gid) < 0) fail(STEP_IDENTITY, errno, 1);
  if (setresuid(p->inside_uid, p->inside_uid, p->inside_uid) < 0) fail(STEP_IDENTITY, errno, 2);
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &hdr, data) < 0) fail(STEP_IDENTITY, errno, 3);
  data[0].effective = data[0].permitted;
  data[1].effective = data[1].permitted;
  if (syscall(SYS_capset, &hdr, data) < 0) fail(STEP_IDENTITY, errno, 4);
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) fail(STEP_IDENTITY, errno, 5);
  /* A uid change clears the parent-death signal: set it again, then make sure A did not die in
   * between (A holds the other end of syncfd until it exits). */
  parent_death_signal();
  struct pollfd pfd = {syncfd, POLLIN, 0};
  if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR))) _exit(125);
}

/* Our argv strings (contiguous, set by main): what /proc/PID/cmdline shows. */
static char *cmdline_area;
static size_t cmdline_len;

/* B: the workload can read /proc/1/cmdline, which held A's arguments — the supervisor's (or the
 * zygote's) host pid among them. B shows a name only. */
static void retitle_init(void) {
  if (cmdline_len == 0) return;
  memset(cmdline_area, 0, cmdline_len);
  snprintf(cmdline_area, cmdline_len, "sandbox-init");
}

/* C's stack while it shares B's memory (below). */
#define WORKLOAD_STACK_SIZE (256 * 1024)

static int workload_entry(void *plan) {
  exec_workload((const struct plan *)plan);
}

/* B: start C with CLONE_VM|CLONE_VFORK, as posix_spawn does: C runs in B's memory on a stack of its own
 * until its execve, and B is suspended until then. No page tables are copied (and none torn down by
 * the execve), which is most of what a fork costs here. Sound because B is single-threaded and only
 * waits, and because everything C changes before execve belongs to C itself — session, rlimits, cwd,
 * umask, fd flags, signal dispositions, credentials, securebits, no_new_privs, seccomp — not to the
 * shared memory (C was not given CLONE_FS, CLONE_FILES, CLONE_SIGHAND or CLONE_THREAD). The workload's
 * own code runs only after execve, in a fresh address space. */
static pid_t start_workload(const struct plan *p) {
  char *stack = mmap(NULL, WORKLOAD_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return -1;
  pid_t pid = clone(workload_entry, stack + WORKLOAD_STACK_SIZE, CLONE_VM | CLONE_VFORK | SIGCHLD, (void *)p);
  int saved = errno;
  munmap(stack, WORKLOAD_STACK_SIZE);
  errno = saved;
  return pid;
}

static int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 125;
}

/* B: the run's cgroup CPU counter (TAG_CPU_USAGE), opened while the host's /sys is still in view;
 * -1 without one, or if it cannot be opened (the supervisor then reads the cgroup itself, later).
 * Opened before B takes the inside identity (as root, B is still the unmapped host root here, with no
 * capability over host files): a path from the supervisor's plan, read-only, not followed through a
 * final symlink. The workload never holds it: it is close-on-exec (the workload's execve drops it) and
 * B is not dumpable, so its fds cannot be taken from /proc. A statistics file gives nothing but a number. */
static int open_cpu_counter(const struct plan *p) {
  return p->cpu_usage ? open(p->cpu_usage, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
}

/* B: the cgroup's CPU time in ns from that counter: v1 cpuacct.usage is ns, v2 cpu.stat starts with
 * "usage_usec N". 0 if it cannot be read. */
static uint64_t read_cpu_counter(int fd) {
  char text[512];
  ssize_t n = fd < 0 ? -1 : pread(fd, text, sizeof text - 1, 0);
  if (n <= 0) return 0;
  text[n] = '\0';
  static const char v2[] = "usage_usec ";
  int is_v2 = strncmp(text, v2, sizeof v2 - 1) == 0;
  const char *digits = text + (is_v2 ? sizeof v2 - 1 : 0);
  char *end;
  errno = 0;
  unsigned long long v = strtoull(digits, &end, 10);
  if (errno != 0 || end == digits || (*end != '\n' && *end != '\0')) return 0;
  return is_v2 ? (uint64_t)v * 1000u : (uint64_t)v;
}

/* A count of the kernel's long in a report's 32 bits. */
static uint32_t saturated_u32(long n) { return n < 0 ? 0 : (unsigned long)n > UINT32_MAX ? UINT32_MAX : (uint32_t)n; }

/* B from A's "go" on: in all of the run's namespaces, with its id maps written, in the run's cgroups.
 * syncfd: A's "go" came on it; it reads as hung up once A is gone. cpu_base: B's own CPU time (µs)
 * when it entered the run's cgroups, so that its setup report counts what the cgroup counted. */
static _Noreturn void init_setup(const struct plan *p, int syncfd, int *idmapped_trees, uint32_t cpu_base) {
  make_mounts_private();
  int *source_fds = open_bind_sources(p);
  int cpu_counter = open_cpu_counter(p);
  take_inside_identity(p, syncfd);
  umask(0);
  if (sethostname(p->hostname, strlen(p->hostname)) < 0) fail(STEP_HOSTNAME, errno, 0);
  build_filesystem(p, source_fds, idmapped_trees);
  for (uint32_t i = 0; i < p->n_mounts; i++)
    if (idmapped_trees[i] >= 0) close(idmapped_trees[i]);
  if (p->clone_flags & CLONE_NEWNET) bring_up_loopback();
  /* Not dumpable: the workload runs as the same uid and must not ptrace or read the memory of init,
   * which holds namespace capabilities. */
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) fail(STEP_DUMPABLE, errno, 0);
  for (uint32_t i = 0; i < p->n_bind_sources; i++) close(source_fds[i]);
  free(source_fds);
  close(syncfd);

  /* The workload's wall time is measured here, at its fork and its reaping: the supervisor learns of
   * both through a pipe and its event loop, a lag of its own (both could land in one tick). */
  uint64_t started = monotonic_ns();
  pid_t workload = start_workload(p);
  if (workload < 0) fail(STEP_FORK, errno, 0);
  report_clock(1, started);
  report_setup(2, own_cpu_us() - cpu_base);

  /* Reap everything (orphans are reparented to us) until the workload itself exits. */
  for (;;) {
    int status;
    pid_t w = waitpid(-1, &status, 0);
    if (w == workload) {
      report_clock(2, monotonic_ns());
      /* The run's CPU now, before the sandbox's teardown (init's exit ends the pid, mount and
       * network namespaces, work the cgroup would also count) is any of it. */
      uint64_t cpu = read_cpu_counter(cpu_counter);
      if (cpu != 0) report_cpu(cpu);
      report_exit(status);
      /* What still runs (background processes, daemons) ends with the workload. Killed and reaped
       * now, not by the kernel as init exits, so that the figures below count their CPU and memory
       * too: rootless they are the run's only figures, and a workload that left a burner running
       * when it exited was reported a fraction of the CPU it used (a process init never reaps is in
       * no rusage). kill(-1) from a pid namespace's init: every other process of the namespace. */
      kill(-1, SIGKILL);
      while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {}
      struct rusage ru;
      if (getrusage(RUSAGE_CHILDREN, &ru) == 0) {
        /* 64 bits of µs: 32 would end at 71 minutes, less than a long build's CPU time */
        uint64_t us = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
                      (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
        report_csw(saturated_u32(ru.ru_nvcsw), saturated_u32(ru.ru_nivcsw));
        report_rusage((int32_t)ru.ru_maxrss, us);
      }
      _exit(exit_code_of(status));
    }
    if (w < 0 && errno != EINTR) fail(STEP_WAIT, errno, 0);
  }
}

/* B cloned by A at run time: pid 1 of the sandbox. */
static _Noreturn void run_init(const struct plan *p, int syncfd, int *idmapped_trees) {
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  /* not A's --hold handler: a pid namespace's init gets from inside only the signals it handles */
  signal(SIGUSR1, SIG_DFL);
  parent_death_signal();
  retitle_init();
  char go;
  ssize_t r;
  do r = read(syncfd, &go, 1); while (r < 0 && errno == EINTR);
  if (r != 1) fail(STEP_SYNC, r < 0 ? errno : EPIPE, 0); /* A failed or died: do nothing */
  init_setup(p, syncfd, idmapped_trees, 0); /* cloned by A after A joined the run's cgroups: all of it */
}

/*
 * The prepared init. Of the seven namespaces, clone spends most of its time on the network namespace
 * (~0.9 of ~1.1 ms on the dev VM: bench/README.md). A zygote's spare (zygote.c) therefore clones B
 * before its run is known, while the supervisor is busy elsewhere, into the five namespaces that hold
 * nothing of the host's (as it is at the run) and nothing of any run:
 *   user     created empty. Its id maps are written at run time by A, after A has taken the run's uid
 *            slot: they can be written once, at any later time, from the parent namespace, and until
 *            then B is nobody in it and runs only the code below. Its owner is the spare's euid,
 *            which is A's: the same as a clone at run time gives.
 *   network  owned by that user namespace (the kernel makes the user namespace first and the others
 *            under it), as at run time: init can bring lo up, and nothing in the sandbox has any
 *            privilege over a network namespace of the host's or of another run. It has lo only.
 *   pid, ipc, uts  empty (the hostname is set from the plan at run time).
 * The other two B makes itself after A's "go", with unshare from inside its user namespace, so they
 * are owned by it exactly like a clone's:
 *   mount    the copy of the host's mount table is taken at the run, not when the spare was made: a
 *            spare may wait for hours, and a copy that old would show bind sources as they were then
 *            and keep filesystems unmounted since then busy.
 *   cgroup   its root is the cgroup B is in at the unshare. A moves B into the run's cgroups before
 *            "go", so the workload's cgroup root is the run's own cgroup, as with a clone after A
 *            joined them. Before "go", B only receives its fds and decodes the plan (charged, like
 *            A's own reading of it, to the zygote's cgroup: A moves B only once B says it is ready,
 *            so that neither the run's CPU nor its memory holds that); nothing of the workload's runs.
 * Single use: a prepared init serves exactly one run (its spare becomes that run's A) and its
 * namespaces end with it. A spare that is discarded unused (the zygote drops it, or shuts down, or
 * its run's plan does not fit) SIGKILLs and reaps it; one that dies takes it along (its parent-death
 * signal), and the zygote, a child subreaper, reaps it.
 * What B inherits from A at a clone at run time, it receives here over its socket (SCM_RIGHTS) once the
 * run is known: the run's stdin, stdout, stderr and report fds, the uid slot's lock, the idmapped
 * trees. It decodes the plan itself, from the memfd that A sealed before reading it: both decode the
 * same bytes. As root, the spare dropped its supplementary groups before the clone (prepare_init):
 * inside the user namespace they can never be dropped.
 */
#define PREPARED_NS (CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)
#define DEFERRED_NS (CLONE_NEWNS | CLONE_NEWCGROUP)

/* A -> prepared init, on its socket: RUN with the plan, stdin, stdout, stderr and report fds; then FDS
 * messages with the uid slot's lock (if the plan has uid slots) and the idmapped trees (in mount order),
 * up to HANDOFF_MAX_FDS each; then GO, after the id maps are written and B is in the run's cgroups.
 * B -> A: READY once B has decoded the plan and received those fds, and only waits for GO. A moves B
 * into the run's cgroups then, as late as it can: its own work until GO overlaps B's decoding. */
enum handoff_kind { HANDOFF_RUN = 1, HANDOFF_FDS = 2, HANDOFF_GO = 3, HANDOFF_READY = 4 };
struct handoff {
  uint32_t kind;
  uint32_t zero;
};
#define HANDOFF_RUN_FDS 5
#define HANDOFF_MAX_FDS 16 /* fdpass.c's limit per message */

static int hand_to_init(int sock, uint32_t kind, const int *fds, int n) {
  struct handoff h = {kind, 0};
  return sandbox_send_fds(sock, &h, sizeof h, fds, n);
}

/* A: wait for a prepared B's READY (blocking); -errno, -EPROTO for anything else, -EPIPE if B is gone. */
static int init_ready(int sock) {
  struct handoff h;
  int fds[HANDOFF_MAX_FDS], n = 0;
  int r = sandbox_recv_fds(sock, &h, sizeof h, fds, HANDOFF_MAX_FDS, &n);
  for (int i = 0; i < n; i++) close(fds[i]);
  if (r < 0) return r;
  if (r == 0) return -EPIPE;
  return h.kind == HANDOFF_READY && h.zero == 0 && n == 0 ? 0 : -EPROTO;
}

/* B: the next handoff message (RUN or FDS with 1..max fds, GO with none); anything else fails the run
 * (step SYNC, index 3), and A's end closed ends it like a run-time init whose A died (index 0). */
static uint32_t init_receive(int sock, int *fds, int max, int *n) {
  struct handoff h;
  int r = sandbox_recv_fds(sock, &h, sizeof h, fds, HANDOFF_MAX_FDS, n);
  if (r == 1 && h.zero == 0 && (h.kind == HANDOFF_GO ? *n == 0 : *n > 0 && *n <= max)) return h.kind;
  for (int i = 0; i < *n; i++) close(fds[i]);
  if (r <= 0 && r != -EPROTO) fail(STEP_SYNC, r < 0 ? -r : EPIPE, 0); /* A failed or died: do nothing */
  fail(STEP_SYNC, EPROTO, 3);
}

static _Noreturn void prepared_init_main(int sock) {
  /* Nothing of the spare's: its socket to the zygote carries the run request, which is A's to read. */
  int s = fcntl(sock, F_DUPFD_CLOEXEC, 16);
  if (s < 0) _exit(125);
  if (syscall(SYS_close_range, 0u, (unsigned)s - 1, 0u) < 0) _exit(125);
  if (syscall(SYS_close_range, (unsigned)s + 1, ~0u, 0u) < 0) _exit(125);
  /* It dies with its spare; one that died before this line has closed its end of the socket. */
  parent_death_signal();
  struct pollfd pfd = {s, POLLIN, 0};
  if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR))) _exit(125);
  retitle_init(); /* the spare's title names the zygote's host pid; the workload can read /proc/1/cmdline */
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL); /* the zygote's SIGCHLD block came along */

  /* Until the run's fds are here there is no report fd: a failure is only our exit. */
  struct handoff h;
  int fds[HANDOFF_MAX_FDS], n;
  int r = sandbox_recv_fds(s, &h, sizeof h, fds, HANDOFF_MAX_FDS, &n);
  if (r != 1 || h.kind != HANDOFF_RUN || h.zero != 0 || n != HANDOFF_RUN_FDS) _exit(125);
  /* First above every target (as in zygote.c's become_outer), then stdio as 0-2 and reports as 4,
   * close-on-exec like A's: the workload's execve closes it. */
  int high[HANDOFF_RUN_FDS];
  for (int i = 0; i < HANDOFF_RUN_FDS; i++)
    if ((high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 16)) < 0) _exit(125);
  for (int i = 0; i < HANDOFF_RUN_FDS; i++) close(fds[i]);
  for (int i = 1; i <= 3; i++)
    if (dup2(high[i], i - 1) < 0) _exit(125);
  if (dup3(high[4], FD_REPORT, O_CLOEXEC) < 0) _exit(125);
  for (int i = 1; i < HANDOFF_RUN_FDS; i++) close(high[i]);

  size_t len;
  uint8_t *buf = read_plan(high[0], 1, &len);
  close(high[0]);
  static struct plan plan;
  uint32_t bad_index;
  int rc = plan_decode(buf, len, &plan, &bad_index);
  if (rc != DEC_OK) fail(STEP_DECODE, rc, bad_index);

  /* What A sends before "go": the uid slot's lock if the plan has slots (A fails the run otherwise),
   * then one tree per idmapped bind (A makes one for each, or fails the run). */
  int *trees = calloc(plan.n_mounts + 1, sizeof(int));
  if (!trees) fail(STEP_SYNC, ENOMEM, 4);
  uint32_t want = plan.slot_count > 0 ? 1 : 0, have = 0;
  for (uint32_t i = 0; i < plan.n_mounts; i++) {
    trees[i] = -1;
    if (plan.mounts[i].attrs & ATTR_IDMAP) want++;
  }
  uint32_t next_mount = 0;
  while (have < want) {
    if (init_receive(s, fds, (int)(want - have), &n) != HANDOFF_FDS) fail(STEP_SYNC, EPROTO, 3);
    for (int i = 0; i < n; i++, have++) {
      if (have == 0 && plan.slot_count > 0) continue; /* the lock: held open until B exits, like A's */
      while (!(plan.mounts[next_mount].attrs & ATTR_IDMAP)) next_mount++;
      trees[next_mount++] = fds[i];
    }
  }
  /* From here on B's work is the run's setup: A moves it into the run's cgroups once it reads READY,
   * while B waits for GO (spending nothing), and init_setup reports B's CPU from here. */
  uint32_t cpu_at_ready = own_cpu_us();
  if ((rc = hand_to_init(s, HANDOFF_READY, NULL, 0)) < 0) fail(STEP_SYNC, -rc, 5);
  if (init_receive(s, fds, 0, &n) != HANDOFF_GO) fail(STEP_SYNC, EPROTO, 3);

  if (unshare((int)(plan.clone_flags & DEFERRED_NS)) < 0) fail(STEP_CLONE, errno, 1);
  init_setup(&plan, s, trees, cpu_at_ready);
}

int prepare_init(struct prepared_init *out) {
  *out = (struct prepared_init){-1, -1, -1};
  /* As root: no supplementary groups may follow the sandbox. A drops them before a clone at run time;
   * B cloned now would keep the spare's for good (setgroups is denied in its user namespace). */
  if (geteuid() == 0 && setgroups(0, NULL) < 0) return -1;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return -1;
  int pidfd = -1;
  pid_t pid = (pid_t)syscall(SYS_clone, (unsigned long)PREPARED_NS | CLONE_PIDFD | SIGCHLD, NULL, &pidfd, NULL, 0UL);
  if (pid == 0) prepared_init_main(sv[1]);
  close(sv[1]);
  if (pid < 0) {
    close(sv[0]);
    return -1;
  }
  *out = (struct prepared_init){pid, pidfd, sv[0]};
  return 0;
}

void discard_init(struct prepared_init *init) {
  if (init->pid <= 0) return;
  syscall(SYS_pidfd_send_signal, init->pidfd, SIGKILL, NULL, 0u);
  while (waitpid(init->pid, NULL, 0) < 0 && errno == EINTR) {}
  close(init->pidfd);
  close(init->sock);
  *init = (struct prepared_init){-1, -1, -1};
}

/* A: the prepared init can be this run's B when the plan asks for exactly its namespaces (and those
 * it makes at "go"), and for no relay (whose pipes B would have to inherit at the clone). */
static int init_fits(const struct plan *p) {
  return (p->clone_flags & PREPARED_NS) == PREPARED_NS && (p->clone_flags & ~(uint64_t)(PREPARED_NS | DEFERRED_NS)) == 0 &&
         p->relay == 0;
}

/* A: the uid slot's lock and the idmapped trees, which B inherits at a run-time clone. */
static int hand_over_fds(int sock, int slot_fd, const struct plan *p, const int *trees) {
  int batch[HANDOFF_MAX_FDS], n = 0, rc = 0;
  if (slot_fd >= 0) batch[n++] = slot_fd;
  for (uint32_t i = 0; i <= p->n_mounts && rc == 0; i++) {
    if (i < p->n_mounts && trees[i] >= 0) batch[n++] = trees[i];
    if (n > 0 && (n == HANDOFF_MAX_FDS || i == p->n_mounts)) {
      rc = hand_to_init(sock, HANDOFF_FDS, batch, n);
      n = 0;
    }
  }
  return rc;
}

/* A: the whole outer process, from reading the plan to init's exit status. parent_pid > 0: the process
 * that must be our parent (the supervisor, or the zygote that forked us); if it is already gone we stop. */
int run_outer(long parent_pid, int check_only, struct prepared_init *prepared) {
  /* The report fd must not reach the workload: close-on-exec (it keeps it until its execve). */
  if (fcntl(FD_REPORT, F_SETFD, FD_CLOEXEC) < 0) {
    fprintf(stderr, "sandbox-launcher: fd 4 (reports) is not open\n");
    return 125;
  }

  struct prepared_init none = {-1, -1, -1};
  struct prepared_init *init = prepared && prepared->pid > 0 ? prepared : &none;
  /* A prepared B decodes the plan from this memfd itself: sealed before A reads it, the memfd holds
   * the bytes A decodes for good. A plan that cannot be sealed (not a memfd made sealable: an older
   * supervisor's) goes to an init cloned at run time. */
  if (init->pid > 0 && fcntl(FD_PLAN, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
    discard_init(init);
  size_t len;
  uint8_t *buf = read_plan(FD_PLAN, 0, &len);
  struct plan plan;
  uint32_t bad_index;
  int rc = plan_decode(buf, len, &plan, &bad_index);
  if (rc != DEC_OK) fail(STEP_DECODE, rc, bad_index);
  if (check_only) return 0;
  if (init->pid > 0) {
    /* Handed over now, B reads and decodes the plan while A takes the uid slot and joins the cgroups.
     * A B that died waiting (killed by someone) is replaced by one cloned at run time. */
    int fds[HANDOFF_RUN_FDS] = {FD_PLAN, 0, 1, 2, FD_REPORT};
    if (!init_fits(&plan) || hand_to_init(init->sock, HANDOFF_RUN, fds, HANDOFF_RUN_FDS) < 0) discard_init(init);
  }
  close(FD_PLAN);

  /* As root: no supplementary groups may follow the sandbox (B inherits ours), and the host uid must
   * come from a locked slot — that lock is what keeps concurrent sandboxes distinct users. */
  if (geteuid() == 0) {
    if (setgroups(0, NULL) < 0) fail(STEP_IDENTITY, errno, 10);
    if (plan.slot_count == 0) fail(STEP_UID_SLOT, EINVAL, 0);
  }
  int slot_fd = take_uid_slot(&plan);
  int *idmapped_trees = prepare_idmapped_binds(&plan);
  if (hold_after_run) remember_home_cgroup();
  join_cgroups(&plan, getpid());
  /* Setup CPU is reported so the supervisor can tell it from the workload's: only what A spends
   * from here on is charged to the run's cgroup. */
  uint32_t cpu_at_join = own_cpu_us();
  parent_death_signal();
  if (parent_pid > 0 && getppid() != (pid_t)parent_pid) fail(STEP_PARENT_DEATH, ESRCH, 1);

  int sync[2] = {-1, -1};
  if (init->pid <= 0 && pipe2(sync, O_CLOEXEC) < 0) fail(STEP_SYNC, errno, 1);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_terminate;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  if (hold_after_run) {
    sa.sa_handler = on_release;
    sigaction(SIGUSR1, &sa, NULL);
  }

  struct relays relays;
  relays_open(&plan, &relays);
  /* before anything of the workload can run (terminal.c) */
  struct terminals terminals;
  terminals_save(&terminals);

  pid_t pid;
  if (init->pid > 0) {
    pid = init->pid;
    init_pidfd = init->pidfd;
    if ((rc = hand_over_fds(init->sock, slot_fd, &plan, idmapped_trees)) < 0) {
      syscall(SYS_pidfd_send_signal, init->pidfd, SIGKILL, NULL, 0u);
      waitpid(pid, NULL, 0);
      fail(STEP_SYNC, -rc, 3);
    }
  } else {
    /* Raw clone with a NULL stack behaves like fork, into the new namespaces. The pidfd goes to the
     * parent_tid argument, the third on x86-64 and arm64 alike. */
    pid = (pid_t)syscall(SYS_clone, (unsigned long)plan.clone_flags | CLONE_PIDFD | SIGCHLD, NULL, (int *)&init_pidfd, NULL, 0UL);
    if (pid < 0) fail(STEP_CLONE, errno, 0);
    if (pid == 0) {
      close(sync[1]);
      relays_attach(&relays);
      run_init(&plan, sync[0], idmapped_trees);
    }
    close(sync[0]);
  }
  relays_parent(&relays);
  for (uint32_t i = 0; i < plan.n_mounts; i++)
    if (idmapped_trees[i] >= 0) close(idmapped_trees[i]);
  free(idmapped_trees);
  uint32_t which;
  if (write_id_maps(pid, &plan, &which) < 0) {
    int err = errno;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fail(STEP_ID_MAP, err, which);
  }
  report_started((uint32_t)pid);
  /* A prepared B must be in the run's cgroups before it does anything of the run: it waits for "go".
   * Not while it decodes the plan, though (it says READY once it has): that is not the run's. */
  if (init->pid > 0) {
    if ((rc = init_ready(init->sock)) < 0) {
      syscall(SYS_pidfd_send_signal, init->pidfd, SIGKILL, NULL, 0u);
      waitpid(pid, NULL, 0);
      fail(STEP_SYNC, -rc, 5);
    }
    join_cgroups(&plan, pid);
  }
  if (init->pid > 0 ? (rc = hand_to_init(init->sock, HANDOFF_GO, NULL, 0)) < 0 : write(sync[1], "g", 1) != 1)
    fail(STEP_SYNC, init->pid > 0 ? -rc : errno, 2);
  report_setup(1, own_cpu_us() - cpu_at_join);
  if (hold_after_run) return_home_cgroup();
  relays_run(&relays, pid);

  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) fail(STEP_WAIT, errno, 1);
  /* init is reaped: every process of the sandbox is gone (its pid namespace ended with it) */
  terminals_restore(&terminals);
  if (hold_after_run) hold_until_released();
  plan_free(&plan);
  free(buf);
  return exit_code_of(status);
}

int main(int argc, char **argv) {
  int check_only = 0, zygote = 0;
  long parent_pid = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--check-plan") == 0) check_only = 1;
    else if (strcmp(argv[i], "--zygote") == 0) zygote = 1;
    else if (strcmp(argv[i], "--hold") == 0) hold_after_run = 1;
    else if (strcmp(argv[i], "--parent-pid") == 0 && i + 1 < argc) parent_pid = strtol(argv[++i], NULL, 10);
    else {
      fprintf(stderr, "sandbox-launcher: internal program of `sandbox`; not meant to be run by hand\n");
      return 125;
    }
  }
  /* Nothing the supervisor's process let leak without close-on-exec stays open here: the zygote keeps
   * its socket, event pipe and stderr (0-2), a launcher its stdio, plan and report fds (0-4). */
  if (syscall(SYS_close_range, zygote ? 3u : 5u, ~0u, 0u) < 0 && errno != ENOSYS) {
    fprintf(stderr, "sandbox-launcher: close_range: %s\n", strerror(errno));
    return 125;
  }
  /* argv's strings are contiguous: the zygote retitles its forked runs in this area, init itself */
  cmdline_area = argv[0];
  cmdline_len = (size_t)(argv[argc - 1] + strlen(argv[argc - 1]) + 1 - argv[0]);
  if (zygote) return run_zygote(parent_pid, cmdline_area, cmdline_len);
  return run_outer(parent_pid, check_only, NULL);
}
