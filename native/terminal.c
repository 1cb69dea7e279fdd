/*
 * A: the caller's terminal settings, put back after the run.
 *
 * A workload given the caller's terminal as stdin, stdout or stderr (`sandbox exec` from an
 * interactive shell, as with bubblewrap) cannot type into it (no controlling terminal; TIOCSTI and
 * TIOCLINUX refused by the built-in filters) but it can change its settings with tcsetattr: echo off,
 * raw mode. A program killed for its time limit, or one that never restores them, would leave the
 * caller's shell unusable. So A saves the settings of each terminal among fds 0-2 before the workload
 * exists, and after init has exited — when every process of the sandbox is gone, so none can change
 * them again — puts back any that changed.
 *
 * Only while the run is the terminal's foreground job (its foreground process group is A's, which is
 * the supervisor's): a job in the background does not own the terminal, and the shell in the
 * foreground may have set it up its own way since (readline's raw mode); writing the old settings
 * over those would be wrong. The window size is not put back either: the terminal may really have
 * been resized during the run.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "launcher.h"

void terminals_save(struct terminals *t) {
  memset(t, 0, sizeof *t);
  for (int fd = 0; fd <= 2; fd++) {
    struct termios tio;
    struct stat st;
    if (tcgetattr(fd, &tio) < 0 || fstat(fd, &st) < 0) continue; /* not a terminal */
    int seen = 0;
    for (int i = 0; i < t->n; i++) seen |= t->saved[i].dev == st.st_rdev;
    if (seen) continue; /* one terminal on several fds: once */
    t->saved[t->n].fd = fd;
    t->saved[t->n].dev = st.st_rdev;
    t->saved[t->n].tio = tio;
    t->n++;
  }
}

void terminals_restore(const struct terminals *t) {
  /* SIGTTOU blocked: should the job go to the background between the check and the write, the
   * write is done rather than A stopped (a stopped A would hold the caller until `fg`). */
  sigset_t ttou, old;
  sigemptyset(&ttou);
  sigaddset(&ttou, SIGTTOU);
  sigprocmask(SIG_BLOCK, &ttou, &old);
  for (int i = 0; i < t->n; i++) {
    const struct saved_terminal *s = &t->saved[i];
    struct termios now;
    if (tcgetpgrp(s->fd) != getpgrp()) continue; /* not the foreground job (see above) */
    if (tcgetattr(s->fd, &now) < 0 || memcmp(&now, &s->tio, sizeof now) == 0) continue;
    /* TCSANOW, not TCSADRAIN: output the workload left queued must not keep A waiting. A best
     * effort: a terminal that went away (hangup) cannot be restored, and is no one's to use. */
    (void)tcsetattr(s->fd, TCSANOW, &s->tio);
  }
  sigprocmask(SIG_SETMASK, &old, NULL);
}
