/*
 * Idmapped writable binds, for sandboxes started by root. The workload runs as a dedicated slot uid X,
 * so a root-owned workspace bound :rw would not be writable for it. For such a bind the plan sets
 * ATTR_IDMAP: A (still host root) clones the source into a detached mount (open_tree) and idmaps it
 * with a user namespace mapping the source directory's owner to X. Through that one mount, the
 * owner's files are X's, and what X creates is stored as the owner — the workspace's own ownership.
 *
 * The supervisor sets ATTR_IDMAP only when the run's seccomp filter refuses setuid/setgid mode bits
 * (checked on the compiled program): otherwise the workload could leave owner-owned (e.g. root-owned)
 * setuid files in a host directory. B attaches each tree with move_mount.
 */
#define _GNU_SOURCE
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define SBX_MOUNT_ATTR_NOSUID 0x2
#define SBX_MOUNT_ATTR_NODEV 0x4
#define SBX_MOUNT_ATTR_IDMAP 0x00100000

struct sbx_idmap_attr {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};

static int write_text(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = write(fd, text, strlen(text));
  int saved = errno;
  close(fd);
  errno = saved;
  return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* A user namespace fd whose only mapping is owner <-> host (uid and gid alike). */
static int userns_mapping(uid_t owner_uid, gid_t owner_gid, uint32_t host) {
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) < 0) return -1;
  pid_t parent = getpid();
  pid_t child = fork();
  if (child < 0) {
    int saved = errno;
    close(ready[0]);
    close(ready[1]);
    errno = saved;
    return -1;
  }
  if (child == 0) {
    /* A placeholder process that only owns the new namespace until A has opened it. It keeps none of
     * A's fds (the uid slot's lock, the report pipe, the supervisor's stdio: held by a process that
     * outlived A, they would keep the slot taken and the supervisor waiting), and it dies with A — also
     * when A died before the death signal was set. */
    if (ready[1] > 0) syscall(SYS_close_range, 0u, (unsigned)ready[1] - 1, 0u);
    syscall(SYS_close_range, (unsigned)ready[1] + 1, ~0u, 0u);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent) _exit(1);
    char c = unshare(CLONE_NEWUSER) == 0 ? 'y' : 'n';
    if (write(ready[1], &c, 1) != 1) _exit(1);
    pause();
    _exit(0);
  }
  close(ready[1]);
  char c = 'n';
  if (read(ready[0], &c, 1) != 1) c = 'n';
  close(ready[0]);
  int fd = -1;
  if (c == 'y') {
    char path[64], line[64];
    snprintf(line, sizeof line, "%u %u 1\n", (unsigned)owner_uid, host);
    snprintf(path, sizeof path, "/proc/%d/uid_map", (int)child);
    if (write_text(path, line) == 0) {
      snprintf(line, sizeof line, "%u %u 1\n", (unsigned)owner_gid, host);
      snprintf(path, sizeof path, "/proc/%d/gid_map", (int)child);
      if (write_text(path, line) == 0) {
        snprintf(path, sizeof path, "/proc/%d/ns/user", (int)child);
        fd = open(path, O_RDONLY | O_CLOEXEC);
      }
    }
  }
  int saved = errno;
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  errno = c == 'y' ? saved : EPERM;
  return fd;
}

int *prepare_idmapped_binds(const struct plan *p) {
  int *trees = calloc(p->n_mounts + 1, sizeof(int));
  if (!trees) fail(STEP_MOUNT, ENOMEM, 0);
  for (uint32_t i = 0; i < p->n_mounts; i++) {
    trees[i] = -1;
    const struct mount_entry *m = &p->mounts[i];
    if (!(m->attrs & ATTR_IDMAP)) continue;
    if (m->op != OP_BIND || geteuid() != 0) fail(STEP_MOUNT, EPERM, i); /* only root can idmap */
    /* The same rule as every bind source: no symlink anywhere in the path. */
    struct open_how how = {.flags = O_PATH | O_CLOEXEC, .mode = 0, .resolve = RESOLVE_NO_SYMLINKS};
    int src = (int)syscall(SYS_openat2, AT_FDCWD, p->bind_sources[m->src], &how, sizeof how);
    if (src < 0) fail(STEP_BIND_SOURCE, errno, m->src);
    struct stat st;
    if (fstat(src, &st) < 0) fail(STEP_BIND_SOURCE, errno, m->src);
    int userns = userns_mapping(st.st_uid, st.st_gid, p->host_uid);
    if (userns < 0) fail(STEP_MOUNT, errno, i);
    trees[i] = (int)syscall(SYS_open_tree, src, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
    if (trees[i] < 0) fail(STEP_MOUNT, errno, i);
    struct sbx_idmap_attr attr = {
      .attr_set = SBX_MOUNT_ATTR_IDMAP | SBX_MOUNT_ATTR_NOSUID | SBX_MOUNT_ATTR_NODEV,
      .userns_fd = (uint64_t)userns,
    };
    /* EINVAL here: a filesystem under the source that cannot be idmapped. */
    if (syscall(SYS_mount_setattr, trees[i], "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
      fail(STEP_MOUNT, errno, i);
    close(userns);
    close(src);
  }
  return trees;
}
