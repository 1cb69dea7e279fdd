/*
 * Output relays (TAG_RELAY), in A. A supervisor that starts A for one run (src/launch/spawn.ts) asks
 * for this when the output must be limited or captured: the workload then writes to a real pipe — so
 * `echo x > /dev/stdout` works inside, as in any shell pipeline, even when A's own fd is a socket
 * (which would give ENXIO) — and A copies each pipe to its own fd of the same number (the CLI's stdout
 * or stderr, or a pipe the supervisor reads) with splice(2), which moves pages
 * without a copy through user space. A copies until every pipe is at end of stream: that is when the
 * last process that could write to it is gone, which is the whole sandbox (every writer is in its pid
 * namespace). No data is looked at or changed.
 *
 * The output limit is enforced here for relayed outputs: stdout and stderr together may carry `room`
 * bytes, exactly. The first byte past it is not copied: A reports REPORT_OUTPUT, SIGKILLs init (the
 * kernel then kills every process of the pid namespace) and stops copying. The CLI relays its own
 * stdout and stderr this way, so a limited run's output never passes through Node.
 */
#define _GNU_SOURCE
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

static const uint32_t RELAY_BIT[3] = {0, RELAY_STDOUT, RELAY_STDERR};

void relays_open(const struct plan *p, struct relays *r) {
  for (int fd = 0; fd < 3; fd++) {
    r->read_end[fd] = r->write_end[fd] = -1;
    r->room = p->relay_limit;
    if (!(p->relay & RELAY_BIT[fd])) continue;
    int ends[2];
    if (pipe2(ends, O_CLOEXEC) < 0) fail(STEP_RELAY, errno, (uint32_t)fd);
    /* As root the pipe would be root's, and the workload (its slot uid) could not reopen it through
     * /dev/stdout; make it the workload's, as it is rootless. */
    if (geteuid() == 0 && fchown(ends[1], p->host_uid, p->host_gid) < 0) fail(STEP_RELAY, errno, (uint32_t)fd + 20);
    r->read_end[fd] = ends[0];
    r->write_end[fd] = ends[1];
  }
}

void relays_attach(struct relays *r) {
  for (int fd = 1; fd < 3; fd++) {
    if (r->write_end[fd] < 0) continue;
    /* dup2 clears close-on-exec: the workload inherits this end as its fd */
    if (dup2(r->write_end[fd], fd) < 0) fail(STEP_RELAY, errno, (uint32_t)fd + 10);
    close(r->write_end[fd]);
    close(r->read_end[fd]);
  }
}

void relays_parent(struct relays *r) {
  for (int fd = 1; fd < 3; fd++)
    if (r->write_end[fd] >= 0) close(r->write_end[fd]);
  /* A write to a supervisor that is gone must not kill A before it has reaped init (B was cloned
   * already, with the default disposition). */
  signal(SIGPIPE, SIG_IGN);
}

enum { MOVED = 0, ENDED = -1, OVER_LIMIT = -2 };

/* Our output may be non-blocking: O_NONBLOCK belongs to the open file, which the supervisor shares
 * with whoever started it (Node makes its own stdout pipe non-blocking, and a child it starts with
 * stdio 'inherit' gets that file). A reader that is behind then makes splice and write fail with
 * EAGAIN. Wait until it can take more, as a blocking write would: retrying at once would spin (and
 * the spin is charged to the run's CPU time), giving up would drop output. */
static void wait_writable(int out) {
  struct pollfd p = {out, POLLOUT, 0};
  (void)poll(&p, 1, -1); /* EINTR, POLLERR, POLLHUP: the caller's next write says what to do */
}

/* Move what is in the pipe to `out`, at most r->room bytes. Returns MOVED to go on; ENDED when this
 * relay is over (end of stream, or the supervisor's end is gone: then the workload's next write fails
 * with EPIPE, as it would if the supervisor had closed a pipe it read); OVER_LIMIT when there is a
 * byte past the limit (it is read, and dropped). */
static int move(struct relays *r, int in, int out) {
  size_t max = r->room < (1u << 16) ? (size_t)r->room : (1u << 16);
  if (max == 0) {
    char dropped;
    ssize_t got = read(in, &dropped, 1);
    if (got > 0) return OVER_LIMIT;
    return got == 0 || (errno != EINTR && errno != EAGAIN) ? ENDED : MOVED;
  }
  ssize_t n = splice(in, NULL, out, NULL, max, SPLICE_F_MOVE);
  if (n > 0) {
    r->room -= (uint64_t)n;
    return MOVED;
  }
  if (n == 0) return ENDED;
  if (errno == EAGAIN) wait_writable(out);
  if (errno == EINTR || errno == EAGAIN) return MOVED;
  if (errno != EINVAL) return ENDED;
  /* an output splice cannot write to (a terminal, a file opened O_APPEND): copy */
  char buf[1 << 14];
  ssize_t got = read(in, buf, max < sizeof buf ? max : sizeof buf);
  if (got < 0) return errno == EINTR ? MOVED : ENDED;
  if (got == 0) return ENDED;
  r->room -= (uint64_t)got;
  for (ssize_t off = 0; off < got;) {
    ssize_t w = write(out, buf + off, (size_t)(got - off));
    if (w < 0 && errno == EAGAIN) wait_writable(out);
    if (w < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (w <= 0) return ENDED;
    off += w;
  }
  return MOVED;
}

static void close_relay(struct relays *r, int fd) {
  close(r->read_end[fd]);
  r->read_end[fd] = -1;
}

void relays_run(struct relays *r, pid_t init) {
  for (;;) {
    struct pollfd pfd[2];
    int which[2], n = 0;
    for (int fd = 1; fd < 3; fd++) {
      if (r->read_end[fd] < 0) continue;
      pfd[n] = (struct pollfd){r->read_end[fd], POLLIN, 0};
      which[n++] = fd;
    }
    if (n == 0) return;
    if (poll(pfd, (nfds_t)n, -1) < 0) {
      if (errno == EINTR) continue; /* e.g. SIGTERM: init is being killed, end of stream follows */
      return; /* cannot happen with valid fds; A goes on to reap init rather than leave it */
    }
    for (int i = 0; i < n; i++) {
      if (!pfd[i].revents) continue;
      int fd = which[i];
      int rc = move(r, r->read_end[fd], fd);
      if (rc == ENDED) close_relay(r, fd);
      if (rc == OVER_LIMIT) {
        report_output((uint32_t)fd);
        kill(init, SIGKILL);
        for (int f = 1; f < 3; f++)
          if (r->read_end[f] >= 0) close_relay(r, f);
        return;
      }
    }
  }
}
