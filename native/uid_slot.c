/*
 * Host uid slots for sandboxes started by root. The workload never runs as host uid 0: each run takes
 * a free uid from a dedicated range and holds it with flock(2) on <dir>/<uid> for as long as the
 * sandbox lives (init inherits the lock's open file; the workload does not: O_CLOEXEC). The kernel
 * drops the lock when the last holder exits, so a killed supervisor or launcher leaves no stale slot,
 * and concurrent sandboxes — from any number of supervisors — always get distinct host uids.
 *
 * A lock file that nobody holds may be deleted at any time (`sandbox doctor --clean` does, under the
 * file's lock: src/host/uid-slots.ts). So a lock counts only if, once it is held, the path still names
 * the locked file: otherwise another launcher may lock the file that now stands there, and two
 * sandboxes would share a uid. A launcher that finds its file unlinked or replaced tries the slot again.
 */
#define _GNU_SOURCE
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* The held lock's file is still the one at `path` (not unlinked, not replaced by another). */
static int still_linked(int fd, const char *path) {
  struct stat held, named;
  if (fstat(fd, &held) < 0) return 0;
  if (fstatat(AT_FDCWD, path, &named, AT_SYMLINK_NOFOLLOW) < 0) return 0;
  return held.st_dev == named.st_dev && held.st_ino == named.st_ino;
}

/* Attempts at one slot whose file keeps being removed under us before we give up on the run. */
#define SLOT_ATTEMPTS 16
enum { SLOT_HELD = -1, SLOT_GONE = -2 };

/* Lock the slot file at `path`: its fd, with the lock held and the file still at `path`; SLOT_HELD if
 * another sandbox holds it; SLOT_GONE if it was deleted or replaced between our open and our lock. */
static int lock_slot(const char *path, uint32_t index) {
  /* O_NOFOLLOW: the lock directory is root's; never follow a link planted there. */
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) fail(STEP_UID_SLOT, errno, index);
  if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
    int err = errno;
    close(fd);
    if (err != EWOULDBLOCK) fail(STEP_UID_SLOT, err, index);
    return SLOT_HELD;
  }
  if (!still_linked(fd, path)) {
    close(fd); /* this lock guards nothing: the file is no longer the slot's */
    return SLOT_GONE;
  }
  return fd;
}

int take_uid_slot(struct plan *p) {
  if (p->slot_count == 0) return -1;
  /* The lowest free slot: the lock files of the first few slots are reused run after run (opening an
   * existing file is cheaper than creating one, and the lock directory stays as small as the number of
   * sandboxes that ever ran at once). Concurrent launchers each skip the slots held, a few µs apiece. */
  for (uint32_t i = 0; i < p->slot_count; i++) {
    uint32_t uid = p->slot_first + i;
    /* the decoder refuses such ranges; checked again where the uid is taken (host root, never) */
    if (uid == 0 || uid == UINT32_MAX) fail(STEP_UID_SLOT, EINVAL, i);
    char path[PLAN_MAX_STRING + 16];
    snprintf(path, sizeof path, "%s/%u", p->slot_dir, uid);
    int fd = SLOT_GONE;
    for (unsigned attempt = 0; fd == SLOT_GONE && attempt < SLOT_ATTEMPTS; attempt++) fd = lock_slot(path, i);
    if (fd == SLOT_GONE) fail(STEP_UID_SLOT, EAGAIN, i);
    if (fd == SLOT_HELD) continue;
    p->host_uid = uid;
    p->host_gid = uid;
    report_uid(uid);
    return fd; /* stays open: the lock lives as long as the sandbox (init holds it too) */
  }
  fail(STEP_UID_SLOT, EBUSY, p->slot_count);
}
