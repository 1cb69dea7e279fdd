/*
 * Sends bytes with file descriptors attached (SCM_RIGHTS). Built alone as libsandbox-fdpass.so, which
 * src/launch/fdpass.ts loads through koffi (Node cannot send arbitrary fds) to hand a run's plan and
 * stdio to the zygote; linked into the launcher too, where the zygote hands a run to its spare and A
 * hands the run's fds to its prepared init (main.c).
 * Never blocks (MSG_DONTWAIT): a peer that stopped reading is an error for the caller, not a hang
 * (of Node's event loop, or of the zygote).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "launcher.h"

#define MAX_FDS 16

/* Returns 0 when the whole message was sent, else -errno. */
int sandbox_send_fds(int sock, const void *data, size_t len, const int *fds, int n_fds) {
  if (n_fds < 0 || n_fds > MAX_FDS) return -EINVAL;
  union {
    char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct iovec iov = {(void *)data, len};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  if (n_fds > 0) {
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n_fds);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n_fds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)n_fds);
  }
  ssize_t n;
  do n = sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL); while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  return (size_t)n == len ? 0 : -EMSGSIZE;
}

/* Receives one message of exactly `len` bytes and up to `max_fds` fds (close-on-exec; any more that
 * came are closed; those in `fds` are the caller's to close, whatever the result). Blocks. Returns 1
 * for a well-formed message, 0 at end of stream, -EPROTO for a message of another size or a truncated
 * one, else -errno. */
int sandbox_recv_fds(int sock, void *data, size_t len, int *fds, int max_fds, int *n_fds) {
  union {
    char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
    struct cmsghdr align;
  } control;
  struct iovec iov = {data, len};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); while (n < 0 && errno == EINTR);
  *n_fds = 0;
  if (n < 0) return -errno;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0)) continue;
    size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (*n_fds < max_fds) fds[(*n_fds)++] = fd;
      else close(fd);
    }
  }
  if (n == 0) return 0;
  if ((size_t)n != len || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) return -EPROTO;
  return 1;
}
