/*
 * Test harness: runs syscalls under a seccomp filter, one forked child per case, and reports what
 * the kernel did. Used by the tests in test/seccomp (kernel in the loop); not part of the product.
 *
 * Reads cases from stdin, one per line:
 *   ID PROGRAM OP [ARG...]
 * PROGRAM is a file of raw struct sock_filter (8 bytes per instruction), or "-" for no filter.
 * OP:
 *   sys NR [A0..A5]      syscall(NR, A0..A5); values are C integers (0x.. allowed, 64-bit)
 *   i386 NR [A0..A2]     the i386 ABI via `int $0x80` (x86_64 only)
 *   clone3               clone3 with flags 0 (a child that exits at once)
 *   io_uring_setup       io_uring_setup(1, &params)
 *   load                 only load the filter (for "does the kernel accept this program"; success
 *                        prints nothing, since the filter may deny write)
 *   exec PATH [ARG...]   execv PATH after loading the filter (stdout/stderr inherited; \x01 in an
 *                        argument stands for a space)
 *   trap NR [A0..A5]     like sys, with a SIGSYS handler that reports SECCOMP_RET_TRAP
 * For each case it prints, on stdout:
 *   ID ret=R errno=E           (from the child, when the syscall returned)
 *   ID load-errno=E            (the kernel refused the program)
 *   ID sigsys nr=N errno=E     (trap handler)
 *   ID exit=N | ID signal=N    (always, from the parent: how the child ended)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_ARGS 64

static const char *case_id = "?";

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) (void)!write(1, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

static int load_filter(const char *path) {
  if (strcmp(path, "-") == 0) return 0;
  int fd = open(path, O_RDONLY);
  if (fd < 0) { out("%s load-errno=%d\n", case_id, errno); return -1; }
  static unsigned char buf[4097 * 8];
  ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  if (n < 0) { out("%s load-errno=%d\n", case_id, errno); return -1; }
  struct sock_fprog prog = { .len = (unsigned short)(n / 8), .filter = (struct sock_filter *)buf };
  if (n / 8 > 65535) prog.len = 65535;
  /* no_new_privs first: the kernel requires it (or CAP_SYS_ADMIN) to install a filter. */
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) { out("%s load-errno=%d\n", case_id, errno); return -1; }
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) { out("%s load-errno=%d\n", case_id, errno); return -1; }
  return 0;
}

static uint64_t num(const char *s) { return strtoull(s, NULL, 0); }

static void on_sigsys(int sig, siginfo_t *si, void *uc) {
  (void)sig; (void)uc;
  out("%s sigsys nr=%d errno=%d\n", case_id, si->si_syscall, si->si_errno);
  _exit(0);
}

static void report(long ret) { out("%s ret=%ld errno=%d\n", case_id, ret, ret == -1 ? errno : 0); }

static void run_case(int argc, char **argv) {
  /* argv[0] = program, argv[1] = op, argv[2..] = args */
  const char *op = argv[1];
  uint64_t a[7] = {0};
  for (int i = 2; i < argc && i < 9; i++) a[i - 2] = num(argv[i]);
  if (strcmp(op, "trap") == 0) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSYS, &sa, NULL);
  }
  if (load_filter(argv[0]) != 0) _exit(3);
  if (strcmp(op, "load") == 0) _exit(0);
  if (strcmp(op, "sys") == 0 || strcmp(op, "trap") == 0) {
    errno = 0;
    long r = syscall((long)a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
    report(r);
    _exit(0);
  }
  if (strcmp(op, "i386") == 0) {
#if defined(__x86_64__)
    long r;
    /* The compat entry: the kernel runs the i386 table with AUDIT_ARCH_I386. */
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(a[0]), "b"(a[1]), "c"(a[2]), "d"(a[3]) : "memory");
    out("%s ret=%ld errno=%ld\n", case_id, r < 0 && r > -4096 ? -1L : r, r < 0 && r > -4096 ? -r : 0L);
    _exit(0);
#else
    out("%s unsupported\n", case_id);
    _exit(4);
#endif
  }
  if (strcmp(op, "clone3") == 0) {
    struct { uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls; } args;
    memset(&args, 0, sizeof args);
    args.exit_signal = SIGCHLD;
    errno = 0;
    long r = syscall(435 /* clone3, same number on x86_64 and aarch64 */, &args, sizeof args);
    if (r == 0) _exit(0);
    if (r > 0) waitpid((pid_t)r, NULL, 0);
    report(r);
    _exit(0);
  }
  if (strcmp(op, "io_uring_setup") == 0) {
    unsigned char params[120];
    memset(params, 0, sizeof params);
    errno = 0;
    long r = syscall(425 /* io_uring_setup, same on x86_64 and aarch64 */, 1, params);
    report(r);
    _exit(0);
  }
  if (strcmp(op, "exec") == 0) {
    /* Arguments cannot contain spaces on the input line: \x01 stands for a space. */
    for (int i = 2; i < argc; i++)
      for (char *c = argv[i]; *c; c++)
        if (*c == '\x01') *c = ' ';
    execv(argv[2], &argv[2]);
    out("%s exec-errno=%d\n", case_id, errno);
    _exit(127);
  }
  out("%s unknown-op\n", case_id);
  _exit(4);
}

int main(void) {
  char line[8192];
  setvbuf(stdout, NULL, _IONBF, 0);
  while (fgets(line, sizeof line, stdin)) {
    char *argv[MAX_ARGS + 1];
    int argc = 0;
    for (char *tok = strtok(line, " \t\n"); tok && argc < MAX_ARGS; tok = strtok(NULL, " \t\n")) argv[argc++] = tok;
    argv[argc] = NULL;
    if (argc < 3) continue;
    case_id = argv[0];
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 1; }
    if (pid == 0) run_case(argc - 1, argv + 1);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (WIFSIGNALED(status)) out("%s signal=%d\n", case_id, WTERMSIG(status));
    else out("%s exit=%d\n", case_id, WEXITSTATUS(status));
  }
  return 0;
}
