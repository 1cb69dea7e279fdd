/*
 * Structured reports to the supervisor on FD_REPORT: fixed-size binary records (struct report).
 * A failure is always a (step, errno, index) triple; the supervisor turns it into a message. The fd is
 * close-on-exec, so a successful execve closes the workload's copy and the workload cannot write
 * forged reports.
 */
#define _GNU_SOURCE
#include "launcher.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

static void send_report(uint32_t type, uint32_t step, int32_t err, uint32_t index) {
  struct report r = {type, step, err, index};
  int saved = errno;
  /* A pipe write of <= PIPE_BUF bytes is atomic, so records from A, B and C never interleave. */
  ssize_t n;
  do {
    n = write(FD_REPORT, &r, sizeof r);
  } while (n < 0 && errno == EINTR);
  errno = saved;
}

/* A 64-bit value in a report: its high half in err, its low half in index. */
static void send_report_u64(uint32_t type, uint32_t step, uint64_t v) {
  send_report(type, step, (int32_t)(uint32_t)(v >> 32), (uint32_t)v);
}

void report_error(enum step step, int err, uint32_t index) { send_report(REPORT_ERROR, step, err, index); }
void report_started(uint32_t init_pid) { send_report(REPORT_STARTED, STEP_NONE, 0, init_pid); }
void report_exit(int wait_status) { send_report(REPORT_EXIT, STEP_NONE, wait_status, 0); }
void report_rusage(int32_t maxrss_kib, uint64_t cpu_us) {
  send_report(REPORT_RUSAGE, (uint32_t)(cpu_us >> 32), maxrss_kib, (uint32_t)cpu_us);
}
void report_csw(uint32_t voluntary, uint32_t involuntary) { send_report(REPORT_CSW, STEP_NONE, (int32_t)voluntary, involuntary); }
void report_setup(uint32_t who, uint32_t cpu_us) { send_report(REPORT_SETUP, who, 0, cpu_us); }
void report_uid(uint32_t uid) { send_report(REPORT_UID, STEP_NONE, 0, uid); }
void report_output(uint32_t fd) { send_report(REPORT_OUTPUT, STEP_NONE, 0, fd); }

/* CLOCK_MONOTONIC in ns (0 if unreadable, which it never is). */
uint64_t monotonic_ns(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0) return 0;
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A time taken with monotonic_ns (see REPORT_CLOCK); 0 is not sent: the supervisor keeps its own clock. */
void report_clock(uint32_t which, uint64_t ns) {
  if (ns != 0) send_report_u64(REPORT_CLOCK, which, ns);
}

/* The cgroup's CPU time, read by init from the counter it opened (see REPORT_CPU). */
void report_cpu(uint64_t ns) { send_report_u64(REPORT_CPU, STEP_NONE, ns); }
void report_held(void) { send_report(REPORT_HELD, STEP_NONE, 0, 0); }

/* CPU time this process has used so far (user + system), in microseconds. */
uint32_t own_cpu_us(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) < 0) return 0;
  return (uint32_t)(ts.tv_sec * 1000000u + ts.tv_nsec / 1000);
}

_Noreturn void fail(enum step step, int err, uint32_t index) {
  report_error(step, err, index);
  _exit(125);
}
