/*
 * Sends bytes with file descriptors attached (SCM_RIGHTS). Built alone as libsandbox-fdpass.so, which
 * src/launch/fdpass.ts loads through koffi (Node cannot send arbitrary fds) to hand a run's plan and
 * stdio to the zygote; linked into the launcher too, where the zygote hands a run to its spare.
 * Never blocks (MSG_DONTWAIT): a peer that stopped reading is an error for the caller, not a hang
 * (of Node's event loop, or of the zygote).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

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
