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
 * each A) and the zygote exits once it has reaped them all.
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

/* Our argv strings, rewritten in each forked A so that `ps` tells the zygote from its runs. */
static char *title;
static size_t title_len;

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
static int receive(struct zygote_record *req, int fds[ZYGOTE_RUN_FDS], int *n_fds) {
  union {
    char buf[CMSG_SPACE(sizeof(int) * ZYGOTE_RUN_FDS)];
    struct cmsghdr align;
  } control;
  struct iovec iov = {req, sizeof *req};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
  ssize_t n;
  do n = recvmsg(FD_REQUESTS, &msg, MSG_CMSG_CLOEXEC); while (n < 0 && errno == EINTR);
  *n_fds = 0;
  if (n < 0) return -errno;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (*n_fds < ZYGOTE_RUN_FDS) fds[(*n_fds)++] = fd;
      else close(fd);
    }
  }
  if (n == 0) return 0;
  if ((size_t)n != sizeof *req || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || req->zero != 0) return -EPROTO;
  return 1;
}

/* In the forked child: the received fds become 3 (plan), 0, 1, 2 (stdio) and 4 (reports), nothing
 * else of the zygote stays open, no signal stays blocked, and this process is A from here on. */
static _Noreturn void become_outer(const int fds[ZYGOTE_RUN_FDS], pid_t zygote) {
  static const int target[ZYGOTE_RUN_FDS] = {FD_PLAN, 0, 1, 2, FD_REPORT};
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  /* First above every target, so that no dup2 replaces a received fd that is not placed yet. */
  int high[ZYGOTE_RUN_FDS];
  for (int i = 0; i < ZYGOTE_RUN_FDS; i++)
    if ((high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 16)) < 0) _exit(125);
  for (int i = 0; i < ZYGOTE_RUN_FDS; i++)
    if (dup2(high[i], target[i]) < 0) _exit(125);
  /* The request socket and event pipe (0, 1) were replaced above; the rest goes here. */
  if (syscall(SYS_close_range, 5u, ~0u, 0u) < 0) _exit(125);
  if (title_len > 0) {
    memset(title, 0, title_len);
    snprintf(title, title_len, "sandbox-launcher (run of zygote %d)", (int)zygote);
  }
  _exit(run_outer(zygote, 0));
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
  pid_t pid = fork();
  if (pid == 0) become_outer(fds, self);
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

static void reap(int sfd) {
  struct signalfd_siginfo si;
  while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {}
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (size_t i = 0; i < n_runs; i++) {
      if (runs[i].pid != pid) continue;
      send_event(ZE_EXITED, runs[i].id, status);
      runs[i] = runs[--n_runs];
      break;
    }
  }
}

int run_zygote(long parent_pid, char *argv_area, size_t argv_len) {
  title = argv_area;
  title_len = argv_len;
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) return 125;
  if (parent_pid > 0 && getppid() != (pid_t)parent_pid) return 125;
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
    if (p[0].revents) reap(sfd);
    if (!p[1].revents) continue;
    struct zygote_record req;
    int fds[ZYGOTE_RUN_FDS], n_fds;
    int r = receive(&req, fds, &n_fds);
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
      for (size_t i = 0; i < n_runs; i++) kill(runs[i].pid, SIGTERM);
    }
  }
  return 0;
}
