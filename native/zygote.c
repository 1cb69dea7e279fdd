/*
 * The zygote: a small long-lived launcher for a supervisor that starts many sandboxes (the library's
 * run()). Spawning the launcher from Node costs a fork of Node's large address space on every run;
 * forking A from this small process instead takes the process start from milliseconds to a fraction
 * of one (bench/launch.ts). It makes no decision of its own: a request is a run id and five fds
 * (launcher.h, struct zygote_record), and the A it forks runs exactly like a spawned launcher
 * (run_outer in main.c), with the zygote as the parent it checks for.
 *
 * Lifetime: the zygote dies with the supervisor (PR_SET_PDEATHSIG), and every A with the zygote, so a
 * killed supervisor still takes every sandbox down (A -> init -> the whole pid namespace). When the
 * supervisor closes its end of the request socket, the running sandboxes are torn down (SIGTERM to
 * each A) and the zygote exits once it has reaped them all, and every process it adopted (it is a
 * child subreaper: an init whose A died before it, such as a spare's prepared init, is reaped here).
 * Pids: the zygote reaps its children itself and signals only children it has not reaped yet, so a
 * signal request can never reach a recycled pid.
 */
#define _GNU_SOURCE
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define FD_REQUESTS 0
#define FD_EVENTS 1

struct run {
  uint32_t id;
  pid_t pid;
};

static struct run *runs;
static size_t n_runs, cap_runs;

/* Our argv strings, rewritten in each forked process so that `ps` tells the zygote from its runs. */
static char *title;
static size_t title_len;

static void retitle(const char *what, pid_t zygote) {
  if (title_len == 0) return;
  memset(title, 0, title_len);
  snprintf(title, title_len, "sandbox-launcher (%s of zygote %d)", what, (int)zygote);
}

static struct run *find_run(uint32_t id) {
  for (size_t i = 0; i < n_runs; i++)
    if (runs[i].id == id) return &runs[i];
  return NULL;
}

static int add_run(uint32_t id, pid_t pid) {
  if (n_runs == cap_runs) {
    size_t cap = cap_runs ? cap_runs * 2 : 16;
    struct run *bigger = realloc(runs, cap * sizeof *runs);
    if (!bigger) return -1;
    runs = bigger;
    cap_runs = cap;
  }
  runs[n_runs++] = (struct run){id, pid};
  return 0;
}

static void send_event(uint32_t type, uint32_t run_id, int32_t value) {
  struct zygote_record e = {type, run_id, value, 0};
  ssize_t n;
  /* A pipe write of <= PIPE_BUF bytes is atomic. If it fails the supervisor is gone, and its death
   * signal ends us next. */
  do n = write(FD_EVENTS, &e, sizeof e); while (n < 0 && errno == EINTR);
}

static void close_all(const int *fds, int n) {
  for (int i = 0; i < n; i++) close(fds[i]);
}

/* One request and the fds that came with it (close-on-exec, at most ZYGOTE_RUN_FDS kept: any extra
 * is closed). Returns 1 for a well-formed record, 0 at end of stream, -errno otherwise. */
static int receive(int sock, struct zygote_record *req, int fds[ZYGOTE_RUN_FDS], int *n_fds) {
  int r = sandbox_recv_fds(sock, req, sizeof *req, fds, ZYGOTE_RUN_FDS, n_fds);
  return r == 1 && req->zero != 0 ? -EPROTO : r;
}

/* In the forked child (or the spare): the received fds become 3 (plan), 0, 1, 2 (stdio) and 4
 * (reports), a spare's prepared init's socket and pidfd 5 and 6 (close-on-exec), nothing else of the
 * zygote stays open, no signal stays blocked, and this process is A from here on. */
static _Noreturn void become_outer(const int fds[ZYGOTE_RUN_FDS], pid_t zygote, struct prepared_init *init) {
  enum { N = ZYGOTE_RUN_FDS + 2 };
  static const int target[N] = {FD_PLAN, 0, 1, 2, FD_REPORT, 5, 6};
  int from[N], n = ZYGOTE_RUN_FDS;
  memcpy(from, fds, sizeof(int) * ZYGOTE_RUN_FDS);
  if (init && init->pid > 0) {
    from[n++] = init->sock;
    from[n++] = init->pidfd;
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  /* First above every target, so that no dup2 replaces an fd that is not placed yet. */
  int high[N];
  for (int i = 0; i < n; i++)
    if ((high[i] = fcntl(from[i], F_DUPFD_CLOEXEC, 16)) < 0) _exit(125);
  for (int i = 0; i < n; i++)
    if ((i < ZYGOTE_RUN_FDS ? dup2(high[i], target[i]) : dup3(high[i], target[i], O_CLOEXEC)) < 0) _exit(125);
  /* The request socket and event pipe (0, 1) were replaced above; the rest goes here. */
  if (syscall(SYS_close_range, (unsigned)target[n - 1] + 1, ~0u, 0u) < 0) _exit(125);
  if (n > ZYGOTE_RUN_FDS) {
    init->sock = 5;
    init->pidfd = 6;
  }
  retitle("run", zygote);
  _exit(run_outer(zygote, 0, init));
}

/*
 * The spare: the next run's A, forked ahead of time when the zygote is idle (after a run ended). A
 * request then costs one sendmsg handing it the run's fds instead of a fork on the run's path — on a
 * VM a fork and the page faults after it take a millisecond or more. The spare waits on a socket of
 * its own, and exits when that closes (or dies with the zygote). Before it waits, it clones its run's
 * init into the namespaces that can be made ahead (main.c, "The prepared init"): that takes the
 * network namespace's creation, most of a clone's cost, off the run's path too. Unused, the spare
 * kills and reaps that init before it exits.
 */
static pid_t spare_pid = -1;
static int spare_sock = -1;

static _Noreturn void wait_as_spare(int sock, pid_t zygote) {
  retitle("spare", zygote);
  /* Nothing of the zygote's but our own socket: not its request socket, event pipe or signalfd. */
  if (sock > 0 && syscall(SYS_close_range, 0u, (unsigned)sock - 1, 0u) < 0) _exit(0);
  if (syscall(SYS_close_range, (unsigned)sock + 1, ~0u, 0u) < 0) _exit(0);
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != zygote) _exit(0);
  struct prepared_init init;
  prepare_init(&init); /* failed: the run clones its init itself (and reports why, if that fails too) */
  struct zygote_record req;
  int fds[ZYGOTE_RUN_FDS], n_fds;
  if (receive(sock, &req, fds, &n_fds) != 1 || req.type != ZY_RUN || n_fds != ZYGOTE_RUN_FDS) {
    discard_init(&init); /* its namespaces were never used and are never reused: they end here */
    _exit(0);
  }
  become_outer(fds, zygote, &init);
}

static void make_spare(pid_t self) {
  if (spare_pid > 0) return;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return;
  pid_t pid = fork();
  if (pid == 0) {
    close(sv[0]);
    wait_as_spare(sv[1], self);
  }
  close(sv[1]);
  if (pid < 0) {
    close(sv[0]);
    return;
  }
  spare_pid = pid;
  spare_sock = sv[0];
}

static void drop_spare(void) {
  if (spare_sock >= 0) close(spare_sock); /* the spare sees end of stream and exits; reap() collects it */
  spare_sock = -1;
  spare_pid = -1;
}

/* The spare becomes this run's A: returns its pid, or -1 (no spare, or it is gone) to fork instead. */
static pid_t hand_to_spare(const int fds[ZYGOTE_RUN_FDS]) {
  if (spare_pid <= 0) return -1;
  pid_t pid = spare_pid;
  struct zygote_record rec = {ZY_RUN, 0, 0, 0};
  int rc = sandbox_send_fds(spare_sock, &rec, sizeof rec, fds, ZYGOTE_RUN_FDS);
  drop_spare();
  return rc == 0 ? pid : -1;
}

static void start_run(const struct zygote_record *req, const int *fds, int n_fds, pid_t self) {
  int err = 0;
  if (n_fds != ZYGOTE_RUN_FDS) err = EPROTO;
  else if (find_run(req->run_id)) err = EEXIST;
  else if (add_run(req->run_id, 0) < 0) err = ENOMEM;
  if (err) {
    close_all(fds, n_fds);
    send_event(ZE_REFUSED, req->run_id, err);
    return;
  }
  pid_t pid = hand_to_spare(fds);
  if (pid < 0) {
    pid = fork();
    if (pid == 0) become_outer(fds, self, NULL);
  }
  close_all(fds, n_fds);
  if (pid < 0) {
    err = errno;
    n_runs--;
    send_event(ZE_REFUSED, req->run_id, err);
    return;
  }
  runs[n_runs - 1].pid = pid;
  send_event(ZE_FORKED, req->run_id, pid);
}

static void signal_run(const struct zygote_record *req) {
  struct run *r = find_run(req->run_id);
  /* not found: already reaped (its EXITED event is on the way), and its pid may be someone else's now */
  if (r && r->pid > 0 && req->value > 0 && req->value < NSIG) kill(r->pid, req->value);
}

static void reap(int sfd, pid_t self, int accepting) {
  struct signalfd_siginfo si;
  while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {}
  int status;
  pid_t pid;
  int ended = 0;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    if (pid == spare_pid) drop_spare(); /* a spare that died waiting (killed by someone) */
    for (size_t i = 0; i < n_runs; i++) {
      if (runs[i].pid != pid) continue;
      send_event(ZE_EXITED, runs[i].id, status);
      runs[i] = runs[--n_runs];
      ended = 1;
      break;
    }
  }
  /* A run just ended: the supervisor is busy with its results now, a good time to fork the next A. */
  if (ended && accepting) make_spare(self);
}

int run_zygote(long parent_pid, char *argv_area, size_t argv_len) {
  title = argv_area;
  title_len = argv_len;
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) return 125;
  if (parent_pid > 0 && getppid() != (pid_t)parent_pid) return 125;
  /* A process whose parent dies before reaping it comes to us, not to the host's init: a spare's
   * prepared init, a run's init after its A was killed (both die of their parent-death signal). So
   * everything the zygote started is gone once it has exited (see the end). */
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) return 125;
  /* It lives as long as its parent: it must not keep the directory it was started in busy. */
  if (chdir("/") < 0) return 125;
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &chld, NULL) < 0) return 125;
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) return 125;
  pid_t self = getpid();

  int accepting = 1;
  while (accepting || n_runs > 0) {
    struct pollfd p[2] = {{sfd, POLLIN, 0}, {accepting ? FD_REQUESTS : -1, POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 125;
    }
    if (p[0].revents) reap(sfd, self, accepting);
    if (!p[1].revents) continue;
    struct zygote_record req;
    int fds[ZYGOTE_RUN_FDS], n_fds;
    int r = receive(FD_REQUESTS, &req, fds, &n_fds);
    if (r == 1 && req.type == ZY_RUN) {
      start_run(&req, fds, n_fds, self);
      continue;
    }
    close_all(fds, n_fds);
    if (r == 1 && req.type == ZY_SIGNAL) signal_run(&req);
    else if (r == 1) send_event(ZE_REFUSED, req.run_id, EPROTO);
    else if (r == -EPROTO) send_event(ZE_REFUSED, 0, EPROTO); /* not a record: its run id means nothing */
    else if (r != -EAGAIN) {
      /* end of stream (or a broken socket): the supervisor is done; tear down what still runs */
      accepting = 0;
      pid_t spare = spare_pid;
      drop_spare();
      if (spare > 0 && kill(spare, SIGKILL) == 0) waitpid(spare, NULL, 0); /* no zombie left behind */
      for (size_t i = 0; i < n_runs; i++) kill(runs[i].pid, SIGTERM);
    }
  }
  /* What we adopted is dying of its parent-death signal: reap it before we go. */
  for (;;) {
    pid_t w = waitpid(-1, NULL, 0);
    if (w < 0 && errno == ECHILD) break;
    if (w < 0 && errno != EINTR) return 125;
  }
  return 0;
}
