/*
 * The sandbox's filesystem, built by B inside its own mount namespace and user namespace.
 *
 * Algorithm (each step's order matters):
 *   1. Make every mount private (MS_REC|MS_PRIVATE) so nothing we mount propagates back to the host.
 *   2. Mount the new root: an empty tmpfs (host-rootfs mode) or an overlay of an image rootfs.
 *   3. Apply the plan's mount list in order. Every destination is resolved *beneath* the new root with
 *      RESOLVE_NO_SYMLINKS, one component at a time, and mounted through its O_PATH fd, so a symlink
 *      planted in a writable bind by an earlier run cannot redirect a mount (CVE-2019-19921/runc-style
 *      races). A bind gets its attributes before it is attached, never through a second lookup of
 *      its path (see clone_tree).
 *   4. pivot_root into the new root and detach the old one, so the host's tree is unreachable.
 *   5. Make the root mount read-only (unless the plan asked for a writable image overlay).
 * Mount flags come from the plan; the TypeScript side puts nosuid,nodev on every mount (device binds
 * under /dev are the only ones without nodev) and noexec where nothing should execute.
 */
#define _GNU_SOURCE
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* mount_setattr(2) (Linux 5.12); declared here to avoid <linux/mount.h> vs <sys/mount.h> clashes. */
struct sbx_mount_attr {
  uint64_t attr_set;
  uint64_t attr_clr;
  uint64_t propagation;
  uint64_t userns_fd;
};
#define SBX_MOUNT_ATTR_RO 0x1
#define SBX_MOUNT_ATTR_NOSUID 0x2
#define SBX_MOUNT_ATTR_NODEV 0x4
#define SBX_MOUNT_ATTR_NOEXEC 0x8

#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif

/* The new root is prepared under this directory of the (private) old tree before pivot_root. */
#define STAGE "/tmp"
#define STAGE_ROOT_OVERLAY STAGE "/root"

static int open_beneath(int dirfd, const char *rel, int flags) {
  /* RESOLVE_BENEATH: never leave dirfd; RESOLVE_NO_SYMLINKS: refuse every symlink (and magic link) */
  struct open_how how = {
    .flags = (uint64_t)(flags | O_CLOEXEC),
    .mode = 0,
    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
  };
  return (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
}

/* Path relative to the new root: "/a/b" -> "a/b", "/" -> ".". */
static const char *rel_path(const char *dst) {
  return dst[1] ? dst + 1 : ".";
}

static void fd_path(char buf[64], int fd) {
  snprintf(buf, 64, "/proc/self/fd/%d", fd);
}

/*
 * mkdir -p beneath rootfd, component by component, never following a symlink. Returns an O_PATH fd
 * of the final directory, or -1 with errno set.
 */
static int mkdir_beneath(int rootfd, const char *rel, mode_t mode) {
  int cur = dup(rootfd);
  if (cur < 0) return -1;
  if (strcmp(rel, ".") == 0) return cur;
  char *copy = strdup(rel);
  if (!copy) { close(cur); errno = ENOMEM; return -1; }
  char *save = NULL;
  for (char *comp = strtok_r(copy, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
    if (mkdirat(cur, comp, mode) < 0 && errno != EEXIST) {
      /* Fail here, not with the fd reached so far: that is the parent, and a mount made through it
       * would land on the parent (a tmpfs at /usr/x would cover /usr). */
      int err = errno;
      close(cur);
      cur = -1;
      errno = err;
      break;
    }
    int next = open_beneath(cur, comp, O_PATH | O_DIRECTORY);
    close(cur);
    cur = next;
    if (cur < 0) break;
  }
  int saved = errno;
  free(copy);
  if (cur < 0) errno = saved;
  return cur;
}

/* Split "/a/b/c" into the O_PATH fd of "/a/b" (created if needed) and the name "c". */
static int parent_beneath(int rootfd, const char *dst, const char **name) {
  const char *slash = strrchr(dst, '/');
  *name = slash + 1;
  if (slash == dst) return dup(rootfd);
  char *parent = strndup(dst + 1, (size_t)(slash - dst - 1));
  if (!parent) { errno = ENOMEM; return -1; }
  int fd = mkdir_beneath(rootfd, parent, 0755);
  int saved = errno;
  free(parent);
  errno = saved;
  return fd;
}

static unsigned long ms_flags(uint32_t attrs) {
  unsigned long f = 0;
  if (attrs & ATTR_RO) f |= MS_RDONLY;
  if (attrs & ATTR_NOSUID) f |= MS_NOSUID;
  if (attrs & ATTR_NODEV) f |= MS_NODEV;
  if (attrs & ATTR_NOEXEC) f |= MS_NOEXEC;
  return f;
}

/*
 * A bind is made as a detached copy of the source's mount tree (open_tree(OPEN_TREE_CLONE)), whose
 * attributes (ro, nosuid, nodev, noexec) are set while it is still detached, and only then attached at
 * the target's fd (move_mount). Never mount first and set the attributes afterwards through the
 * target's path: the path would be looked up a second time, and when the target lies inside a :rw
 * bind, anyone who can rename entries of that host directory (a concurrent sandbox sharing the
 * workspace) can swap two names in between, so that the attributes land on another mount and this
 * one stays writable, suid and dev (reproduced: a read-only bind under a writable one written to).
 * A swap before the attach can still move where the mount appears; it cannot change what it allows.
 */
static int clone_tree(int fd) {
  /* AT_RECURSIVE: a non-recursive copy would reveal what the host's submounts cover. The copy's
   * mounts are private, as their originals are after step 1: nothing propagates to or from the host. */
  return (int)syscall(SYS_open_tree, fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
}

static int attach_tree(int tree, int target, uint32_t attrs) {
  struct sbx_mount_attr a = {0};
  if (attrs & ATTR_RO) a.attr_set |= SBX_MOUNT_ATTR_RO;
  if (attrs & ATTR_NOSUID) a.attr_set |= SBX_MOUNT_ATTR_NOSUID;
  if (attrs & ATTR_NODEV) a.attr_set |= SBX_MOUNT_ATTR_NODEV;
  if (attrs & ATTR_NOEXEC) a.attr_set |= SBX_MOUNT_ATTR_NOEXEC;
  if (a.attr_set != 0 && syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a) < 0) return -1;
  return (int)syscall(SYS_move_mount, tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
}

/* A copy of the mount tree at `src` attached at `target` with `attrs` (they may be the same fd: a
 * rebind); `target` is closed, errno kept. */
static int bind_copy(int src, int target, uint32_t attrs) {
  int tree = clone_tree(src);
  int rc = tree < 0 ? -1 : attach_tree(tree, target, attrs);
  int saved = errno;
  if (tree >= 0) close(tree);
  close(target);
  errno = saved;
  return rc;
}

/* Returns an O_PATH fd of an existing dst, -2 if it does not exist (for ATTR_IF_EXISTS), -1 on error. */
static int existing_beneath(int rootfd, const char *dst) {
  int fd = open_beneath(rootfd, rel_path(dst), O_PATH);
  if (fd < 0 && errno == ENOENT) return -2;
  return fd;
}

/*
 * An O_PATH fd of dst, created as an empty regular file if it does not exist yet (a bind target for a
 * file source). An existing target is only looked up, never opened for writing: that would fail on a
 * read-only or root-owned file, and block forever on a FIFO a workload planted in a rw workspace.
 */
static int file_beneath(int rootfd, const char *dst) {
  int fd = open_beneath(rootfd, rel_path(dst), O_PATH);
  if (fd >= 0) {
    /* the kernel would say ENOTDIR for a file mounted on a directory; say which side is which */
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode)) return fd;
    close(fd);
    errno = EISDIR;
    return -1;
  }
  if (errno != ENOENT) return -1;
  const char *name;
  int parent = parent_beneath(rootfd, dst, &name);
  if (parent < 0) return -1;
  /* O_EXCL|O_NOFOLLOW: a new file or nothing; EEXIST means it appeared meanwhile, looked up below */
  int created = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
  int saved = errno;
  close(parent);
  if (created < 0 && saved != EEXIST) { errno = saved; return -1; }
  if (created >= 0) close(created);
  return open_beneath(rootfd, rel_path(dst), O_PATH);
}

static int target_for(int rootfd, const struct mount_entry *m, int want_dir) {
  if (m->attrs & ATTR_IF_EXISTS) return existing_beneath(rootfd, m->dst);
  return want_dir ? mkdir_beneath(rootfd, rel_path(m->dst), 0755) : file_beneath(rootfd, m->dst);
}

static int do_tmpfs(int rootfd, const struct mount_entry *m) {
  int fd = target_for(rootfd, m, 1);
  if (fd == -2) return 0;
  if (fd < 0) return -1;
  char target[64];
  fd_path(target, fd);
  int rc = mount("tmpfs", target, "tmpfs", ms_flags(m->attrs), m->data_str);
  int saved = errno;
  close(fd);
  errno = saved;
  return rc;
}

static int do_proc(int rootfd, const struct mount_entry *m) {
  int fd = target_for(rootfd, m, 1);
  if (fd < 0) return fd == -2 ? 0 : -1;
  char target[64];
  fd_path(target, fd);
  /* A new procfs instance shows only this pid namespace's processes. */
  int rc = mount("proc", target, "proc", ms_flags(m->attrs), NULL);
  int saved = errno;
  close(fd);
  errno = saved;
  return rc;
}

/* An idmapped bind prepared by A (idmap.c): attach the detached tree at dst (a directory or a file
 * target, as the tree's root is). */
static int do_bind_tree(int rootfd, const struct mount_entry *m, int tree) {
  struct stat st;
  if (fstat(tree, &st) < 0) return -1;
  int fd = target_for(rootfd, m, S_ISDIR(st.st_mode));
  if (fd < 0) return fd == -2 ? 0 : -1;
  /* the tree is A's (idmap.c), used once: attach_tree only, A's copy is closed with the others */
  int rc = attach_tree(tree, fd, m->attrs);
  int saved = errno;
  close(fd);
  errno = saved;
  return rc;
}

static int do_bind(int rootfd, const struct mount_entry *m, int srcfd) {
  struct stat st;
  if (fstat(srcfd, &st) < 0) return -1;
  int fd = target_for(rootfd, m, S_ISDIR(st.st_mode));
  if (fd < 0) return fd == -2 ? 0 : -1;
  return bind_copy(srcfd, fd, m->attrs);
}

/* The mount at dst again, on top of itself, with other attributes (e.g. /proc/sys read-only). */
static int do_rebind(int rootfd, const struct mount_entry *m) {
  int fd = existing_beneath(rootfd, m->dst);
  if (fd == -2 && (m->attrs & ATTR_IF_EXISTS)) return 0;
  if (fd < 0) {
    if (fd == -2) errno = ENOENT;
    return -1;
  }
  return bind_copy(fd, fd, m->attrs);
}

static int do_dir(int rootfd, const struct mount_entry *m) {
  int fd = mkdir_beneath(rootfd, rel_path(m->dst), (mode_t)m->mode);
  if (fd < 0) return -1;
  /* mkdir honours the umask and an existing directory keeps its mode: set it explicitly. */
  char path[64];
  fd_path(path, fd);
  int rc = chmod(path, (mode_t)m->mode);
  int saved = errno;
  close(fd);
  errno = saved;
  return rc;
}

static int do_file(int rootfd, const struct mount_entry *m) {
  const char *name;
  int parent = parent_beneath(rootfd, m->dst, &name);
  if (parent < 0) return -1;
  /* O_EXCL|O_NOFOLLOW: generated files are new; never write through an existing name. */
  int fd = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (mode_t)m->mode);
  int saved = errno;
  close(parent);
  if (fd < 0) { errno = saved; return -1; }
  const uint8_t *p = m->data;
  uint32_t left = m->data_len;
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) { saved = n < 0 ? errno : EIO; close(fd); errno = saved; return -1; }
    p += n;
    left -= (uint32_t)n;
  }
  if (fchmod(fd, (mode_t)m->mode) < 0) { saved = errno; close(fd); errno = saved; return -1; }
  return close(fd);
}

static int do_symlink(int rootfd, const struct mount_entry *m) {
  const char *name;
  int parent = parent_beneath(rootfd, m->dst, &name);
  if (parent < 0) return -1;
  int rc = symlinkat(m->data_str, parent, name);
  int saved = errno;
  close(parent);
  errno = saved;
  return rc;
}

static int apply_mount(int rootfd, const struct mount_entry *m, const int *source_fds, int tree) {
  switch (m->op) {
    case OP_TMPFS: return do_tmpfs(rootfd, m);
    case OP_BIND: return tree >= 0 ? do_bind_tree(rootfd, m, tree) : do_bind(rootfd, m, source_fds[m->src]);
    case OP_PROC: return do_proc(rootfd, m);
    case OP_DIR: return do_dir(rootfd, m);
    case OP_FILE: return do_file(rootfd, m);
    case OP_SYMLINK: return do_symlink(rootfd, m);
    case OP_REBIND: return do_rebind(rootfd, m);
  }
  errno = EINVAL;
  return -1;
}

/* Mount the new root and return its path in the (old) tree. */
static const char *mount_root(const struct plan *p, const int *source_fds) {
  /* The staging tmpfs holds the whole new root (host-rootfs mode) or the overlay's layers (image). */
  if (mount("tmpfs", STAGE, "tmpfs", MS_NOSUID | MS_NODEV, p->root_options) < 0) fail(STEP_ROOT, errno, 0);
  if (p->root_kind == ROOT_TMPFS) return STAGE;

  /* Image: overlay with the stored rootfs as the read-only lower layer and a tmpfs upper layer, so
   * no run can change the stored image or see an earlier run's files. */
  static const char *dirs[] = {STAGE "/lower", STAGE "/upper", STAGE "/work", STAGE_ROOT_OVERLAY};
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
    if (mkdir(dirs[i], 0755) < 0) fail(STEP_ROOT, errno, 1);
  char source[64];
  fd_path(source, source_fds[p->root_src]);
  if (mount(source, STAGE "/lower", NULL, MS_BIND | MS_REC, NULL) < 0) fail(STEP_ROOT, errno, 2);
  struct sbx_mount_attr ro = {.attr_set = SBX_MOUNT_ATTR_RO | SBX_MOUNT_ATTR_NOSUID | SBX_MOUNT_ATTR_NODEV};
  if (syscall(SYS_mount_setattr, AT_FDCWD, STAGE "/lower", AT_RECURSIVE, &ro, sizeof ro) < 0)
    fail(STEP_ROOT, errno, 3);
  if (mount("overlay", STAGE_ROOT_OVERLAY, "overlay", MS_NOSUID | MS_NODEV,
            "lowerdir=" STAGE "/lower,upperdir=" STAGE "/upper,workdir=" STAGE "/work") < 0)
    fail(STEP_ROOT, errno, 4);
  return STAGE_ROOT_OVERLAY;
}

static void pivot_into(const char *newroot) {
  /* pivot_root(".", "."): the old root ends up stacked on "." and is then lazily detached, so no path
   * inside the sandbox leads back to the host's tree. */
  if (chdir(newroot) < 0) fail(STEP_PIVOT_ROOT, errno, 0);
  if (syscall(SYS_pivot_root, ".", ".") < 0) fail(STEP_PIVOT_ROOT, errno, 1);
  if (umount2(".", MNT_DETACH) < 0) fail(STEP_PIVOT_ROOT, errno, 2);
  if (chdir("/") < 0) fail(STEP_PIVOT_ROOT, errno, 3);
}

void build_filesystem(const struct plan *p, const int *source_fds, const int *idmapped_trees) {
  const char *newroot = mount_root(p, source_fds);
  int rootfd = open(newroot, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) fail(STEP_ROOT, errno, 5);
  for (uint32_t i = 0; i < p->n_mounts; i++)
    if (apply_mount(rootfd, &p->mounts[i], source_fds, idmapped_trees[i]) < 0) fail(STEP_MOUNT, errno, i);
  close(rootfd);
  pivot_into(newroot);
  if (p->root_kind != ROOT_IMAGE_OVERLAY) {
    /* Nothing may be created in "/" itself: writable places are the explicit tmpfs and rw binds. */
    struct sbx_mount_attr ro = {.attr_set = SBX_MOUNT_ATTR_RO};
    if (syscall(SYS_mount_setattr, AT_FDCWD, "/", 0, &ro, sizeof ro) < 0) fail(STEP_ROOT_READONLY, errno, 0);
  }
}

/* Used by B before anything else: no mount event may propagate to or from the host. */
void make_mounts_private(void) {
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) fail(STEP_MOUNT_PRIVATE, errno, 0);
}
