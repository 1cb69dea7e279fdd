/*
 * C, the workload process: the last steps before execve, in an order that matters.
 *
 *   setsid          no controlling terminal: TIOCSTI/TIOCLINUX injection into the caller's tty needs one
 *   pdeathsig       if init (B) dies, so does the workload
 *   rlimits         from the plan (core is always 0 there)
 *   chdir           to the plan's cwd
 *   find executable PATH search from the plan's env, done *before* seccomp so the filter need not allow
 *                   the probing syscalls and "not found" is reported as such (exit 127)
 *   fds             everything above 2 is close-on-exec, so the workload starts with only 0, 1, 2
 *   securebits      locked, while we still hold CAP_SETPCAP: no way back to root semantics
 *   capabilities    ambient cleared, bounding set emptied (needs CAP_SETPCAP, so before capset),
 *                   then effective/permitted/inheritable zeroed
 *   no_new_privs    required for an unprivileged seccomp filter, and stops setuid/file-cap gains
 *   seccomp         last: from here on only execve (and, if it fails, one write + exit) must be allowed
 *   execve
 */
#define _GNU_SOURCE
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static void set_rlimits(const struct plan *p) {
  for (uint32_t i = 0; i < p->n_rlimits; i++) {
    struct rlimit rl = {(rlim_t)p->rlimits[i].soft, (rlim_t)p->rlimits[i].hard};
    if (setrlimit((int)p->rlimits[i].resource, &rl) < 0) fail(STEP_RLIMIT, errno, i);
  }
}

static const char *env_value(const struct plan *p, const char *name) {
  size_t n = strlen(name);
  for (uint32_t i = 0; i < p->n_env; i++)
    if (strncmp(p->env[i], name, n) == 0 && p->env[i][n] == '=') return p->env[i] + n + 1;
  return NULL;
}

static int is_executable_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Like execvp's search: a name with a slash is used as is; otherwise each PATH entry is tried. */
static const char *find_executable(const struct plan *p, char *buf, size_t size) {
  const char *name = p->argv[0];
  if (strchr(name, '/')) return name;
  const char *path = env_value(p, "PATH");
  if (!path) path = "/usr/bin:/bin";
  int saw_eacces = 0;
  while (*path) {
    const char *colon = strchrnul(path, ':');
    size_t dirlen = (size_t)(colon - path);
    if (dirlen > 0 && dirlen + 1 + strlen(name) < size) {
      memcpy(buf, path, dirlen);
      buf[dirlen] = '/';
      strcpy(buf + dirlen + 1, name);
      if (is_executable_file(buf)) return buf;
      if (access(buf, F_OK) == 0) saw_eacces = 1;
    }
    path = *colon ? colon + 1 : colon;
  }
  fail(STEP_FIND_EXECUTABLE, saw_eacces ? EACCES : ENOENT, 0);
}

static void close_fds_on_exec(void) {
  if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  /* Kernels before 5.11: mark each possible fd. */
  long max = sysconf(_SC_OPEN_MAX);
  if (max < 0) max = 1024;
  for (int fd = 3; fd < max; fd++) {
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0 && fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) fail(STEP_CLOSE_FDS, errno, (uint32_t)fd);
  }
}

static void lock_securebits(void) {
  /* NOROOT: uid 0 gets no capabilities on exec; NO_SETUID_FIXUP: uid changes do not touch capability
   * sets; NO_CAP_AMBIENT_RAISE: the ambient set stays empty; each with its _LOCKED bit so nothing in
   * the sandbox can turn them off again. */
  unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                       SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                       SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
  if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0) fail(STEP_SECUREBITS, errno, 0);
}

static void drop_capabilities(void) {
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) fail(STEP_CAPS, errno, 0);
  /* Empty the bounding set: every capability number the kernel knows (EINVAL marks the end). */
  for (unsigned long cap = 0; cap < 64; cap++) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
      if (errno == EINVAL) break;
      fail(STEP_CAPS, errno, (uint32_t)cap + 1);
    }
  }
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capset, &hdr, data) < 0) fail(STEP_CAPS, errno, 100);
  /* Verify rather than trust: every set must read back as empty. */
  if (syscall(SYS_capget, &hdr, data) < 0) fail(STEP_CAPS, errno, 101);
  for (int i = 0; i < 2; i++)
    if (data[i].effective || data[i].permitted || data[i].inheritable) fail(STEP_CAPS, EPERM, 102);
  /* ...and so must the bounding and ambient sets (each read until EINVAL: past the kernel's last cap) */
  for (unsigned long cap = 0; cap < 64; cap++) {
    int bounding = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
    if (bounding < 0) break;
    if (bounding != 0) fail(STEP_CAPS, EPERM, 103);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) != 0) fail(STEP_CAPS, EPERM, 104);
  }
}

static void load_seccomp(const struct plan *p) {
  if (p->seccomp == NULL) return;
  struct sock_fprog prog = {
    .len = (unsigned short)(p->seccomp_len / 8),
    .filter = (struct sock_filter *)(uintptr_t)p->seccomp,
  };
  /* The plan buffer is byte-aligned in memory; copy to an aligned array for the kernel. */
  struct sock_filter *aligned = malloc(p->seccomp_len);
  if (!aligned) fail(STEP_SECCOMP, ENOMEM, 0);
  memcpy(aligned, p->seccomp, p->seccomp_len);
  prog.filter = aligned;
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) fail(STEP_SECCOMP, errno, 0);
}

/* Signal dispositions set to SIG_IGN survive execve; start the workload with defaults and no mask.
 * Through the raw system call, because glibc's signal() refuses its two internal signals (32 and 33),
 * and a launcher started by posix_spawn (native/spawn.c) has those ignored: glibc's posix_spawn
 * sets them to SIG_IGN in the child on purpose. An all-zero kernel sigaction is SIG_DFL with no
 * flags and an empty mask, whatever the architecture's layout of the struct. */
static void reset_signals(void) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  static const unsigned long zeroed[8];
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) syscall(SYS_rt_sigaction, sig, zeroed, NULL, (size_t)8); /* the kernel's sigset_t: 64 bits */
}

_Noreturn void exec_workload(const struct plan *p) {
  reset_signals();
  if (setsid() < 0) fail(STEP_SETSID, errno, 0);
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) fail(STEP_SETSID, errno, 1);
  set_rlimits(p);
  if (chdir(p->cwd) < 0) fail(STEP_CHDIR, errno, 0);
  static char pathbuf[PLAN_MAX_STRING * 2];
  const char *exe = find_executable(p, pathbuf, sizeof pathbuf);
  umask(022);
  close_fds_on_exec();
  lock_securebits();
  drop_capabilities();
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail(STEP_NO_NEW_PRIVS, errno, 0);
  load_seccomp(p);
  execve(exe, (char *const *)p->argv, (char *const *)p->env);
  int err = errno;
  /* ENOENT for a file that exists: its interpreter (#!) or ELF loader is what is missing. Index 1 says
   * so (0 if the check itself is refused, e.g. by a policy's filter). */
  report_error(STEP_EXEC, err, err == ENOENT && faccessat(AT_FDCWD, exe, F_OK, 0) == 0 ? 1 : 0);
  _exit(err == ENOENT ? 127 : 126);
}
