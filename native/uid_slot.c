/*
 * Host uid slots for sandboxes started by root. The workload never runs as host uid 0: each run takes
 * a free uid from a dedicated range and holds it with flock(2) on <dir>/<uid> for as long as the
 * sandbox lives (init inherits the lock's open file; the workload does not: O_CLOEXEC). The kernel
 * drops the lock when the last holder exits, so a killed supervisor or launcher leaves no stale slot,
 * and concurrent sandboxes — from any number of supervisors — always get distinct host uids.
 */
#define _GNU_SOURCE
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>

void take_uid_slot(struct plan *p) {
  if (p->slot_count == 0) return;
  /* The lowest free slot: the lock files of the first few slots are reused run after run (opening an
   * existing file is cheaper than creating one, and the lock directory stays as small as the number of
   * sandboxes that ever ran at once). Concurrent launchers each skip the slots held, a few µs apiece. */
  for (uint32_t i = 0; i < p->slot_count; i++) {
    uint32_t uid = p->slot_first + i;
    char path[PLAN_MAX_STRING + 16];
    snprintf(path, sizeof path, "%s/%u", p->slot_dir, uid);
    /* O_NOFOLLOW: the lock directory is root's; never follow a link planted there. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) fail(STEP_UID_SLOT, errno, i);
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
      p->host_uid = uid;
      p->host_gid = uid;
      report_uid(uid);
      return; /* fd stays open: the lock lives as long as the sandbox */
    }
    int err = errno;
    close(fd);
    if (err != EWOULDBLOCK) fail(STEP_UID_SLOT, err, i);
  }
  fail(STEP_UID_SLOT, EBUSY, p->slot_count);
}
