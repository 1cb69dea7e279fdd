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

static uint8_t *read_plan(size_t *len) {
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
    ssize_t r = read(FD_PLAN, buf + n, cap - n);
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

/* A: put this process (and so everything it will clone) into the run's cgroups before cloning. */
static void join_cgroups(const struct plan *p) {
  char pid[32];
  snprintf(pid, sizeof pid, "%d\n", (int)getpid());
  for (uint32_t i = 0; i < p->n_cgroup_procs; i++)
    if (write_file(p->cgroup_procs[i], pid) < 0) fail(STEP_JOIN_CGROUP, errno, i);
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

/* B: pid 1 of the sandbox. */
static _Noreturn void run_init(const struct plan *p, int syncfd, int *idmapped_trees) {
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  parent_death_signal();
  retitle_init();
  char go;
  ssize_t r;
  do r = read(syncfd, &go, 1); while (r < 0 && errno == EINTR);
  if (r != 1) fail(STEP_SYNC, r < 0 ? errno : EPIPE, 0); /* A failed or died: do nothing */

  make_mounts_private();
  int *source_fds = open_bind_sources(p);
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

  pid_t workload = start_workload(p);
  if (workload < 0) fail(STEP_FORK, errno, 0);
  report_setup(2, own_cpu_us());

  /* Reap everything (orphans are reparented to us) until the workload itself exits. */
  for (;;) {
    int status;
    pid_t w = waitpid(-1, &status, 0);
    if (w == workload) {
      report_exit(status);
      struct rusage ru;
      if (getrusage(RUSAGE_CHILDREN, &ru) == 0) {
        uint64_t us = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
                      (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
        report_rusage((int32_t)ru.ru_maxrss, us > UINT32_MAX ? UINT32_MAX : (uint32_t)us);
      }
      _exit(exit_code_of(status));
    }
    if (w < 0 && errno != EINTR) fail(STEP_WAIT, errno, 0);
  }
}

/* A: the whole outer process, from reading the plan to init's exit status. parent_pid > 0: the process
 * that must be our parent (the supervisor, or the zygote that forked us); if it is already gone we stop. */
int run_outer(long parent_pid, int check_only) {
  /* The report fd must not reach the workload: close-on-exec (it keeps it until its execve). */
  if (fcntl(FD_REPORT, F_SETFD, FD_CLOEXEC) < 0) {
    fprintf(stderr, "sandbox-launcher: fd 4 (reports) is not open\n");
    return 125;
  }

  size_t len;
  uint8_t *buf = read_plan(&len);
  close(FD_PLAN);
  struct plan plan;
  uint32_t bad_index;
  int rc = plan_decode(buf, len, &plan, &bad_index);
  if (rc != DEC_OK) fail(STEP_DECODE, rc, bad_index);
  if (check_only) return 0;

  /* As root: no supplementary groups may follow the sandbox (B inherits ours), and the host uid must
   * come from a locked slot — that lock is what keeps concurrent sandboxes distinct users. */
  if (geteuid() == 0) {
    if (setgroups(0, NULL) < 0) fail(STEP_IDENTITY, errno, 10);
    if (plan.slot_count == 0) fail(STEP_UID_SLOT, EINVAL, 0);
  }
  take_uid_slot(&plan);
  int *idmapped_trees = prepare_idmapped_binds(&plan);
  join_cgroups(&plan);
  /* Setup CPU is reported so the supervisor can tell it from the workload's: only what A spends
   * from here on is charged to the run's cgroup. */
  uint32_t cpu_at_join = own_cpu_us();
  parent_death_signal();
  if (parent_pid > 0 && getppid() != (pid_t)parent_pid) fail(STEP_PARENT_DEATH, ESRCH, 1);

  int sync[2];
  if (pipe2(sync, O_CLOEXEC) < 0) fail(STEP_SYNC, errno, 1);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_terminate;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);

  struct relays relays;
  relays_open(&plan, &relays);

  /* Raw clone with a NULL stack behaves like fork, into the new namespaces. The pidfd goes to the
   * parent_tid argument, the third on x86-64 and arm64 alike. */
  pid_t pid = (pid_t)syscall(SYS_clone, (unsigned long)plan.clone_flags | CLONE_PIDFD | SIGCHLD, NULL, (int *)&init_pidfd, NULL, 0UL);
  if (pid < 0) fail(STEP_CLONE, errno, 0);
  if (pid == 0) {
    close(sync[1]);
    relays_attach(&relays);
    run_init(&plan, sync[0], idmapped_trees);
  }
  relays_parent(&relays);
  close(sync[0]);
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
  if (write(sync[1], "g", 1) != 1) fail(STEP_SYNC, errno, 2);
  report_setup(1, own_cpu_us() - cpu_at_join);
  relays_run(&relays, pid);

  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) fail(STEP_WAIT, errno, 1);
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
  return run_outer(parent_pid, check_only);
}
