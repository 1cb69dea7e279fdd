/*
 * sandbox-launcher: executes an encoded LaunchPlan. It makes no policy decisions: every path, flag,
 * limit and program comes from the plan, which the TypeScript side builds (src/launch/plan.ts) and
 * encodes (src/launch/wire.ts). Keep the numbers below in sync with src/launch/wire.ts — a unit test
 * (test/launch/wire-sync.test.ts) parses this header and compares.
 *
 * Processes:
 *   A  "outer"  host pid namespace, the invoking user (or root). Reads the plan (fd 3), joins cgroups,
 *              clones B into the new namespaces, writes B's id maps from outside, waits for B. A zygote's
 *              spare A clones B ahead of time instead, into the namespaces that hold nothing of the
 *              host's and of no run (main.c, "The prepared init"), and hands it the run's fds.
 *   B  "init"   pid 1 of the new pid namespace, in the new user namespace. Opens bind sources, takes the
 *              inside identity, builds the filesystem, pivots, brings up lo, forks C, reaps until C
 *              exits and reports C's status. When B exits, the kernel kills everything left in the
 *              namespace, so nothing the workload started can outlive it.
 *   C  workload pid 2. setsid, rlimits, chdir, fds closed on exec, securebits locked, capabilities
 *              dropped from every set, no_new_privs, seccomp last, execve.
 * Failures are reported on fd 4 as fixed-size binary records (struct report), never as text only.
 */
#ifndef SANDBOX_LAUNCHER_H
#define SANDBOX_LAUNCHER_H

#include <stdint.h>
#include <sys/types.h>
#include <termios.h>
#include <stddef.h>

#define PLAN_MAGIC 0x31584253u /* "SBX1" little-endian */
/* The decoder's limits. src/launch/wire.ts (PLAN_MAX) mirrors them and refuses a plan past one before
 * the launch, naming the option to change; wire-sync.test.ts checks that the two agree. */
#define PLAN_MAX_BYTES (8u << 20)
#define PLAN_MAX_STRING 4096u    /* PATH_MAX: paths, tmpfs options, symlink targets, cgroup files */
#define PLAN_MAX_DATA (1u << 20) /* generated file contents */
#define PLAN_MAX_ITEMS 1024u     /* per repeated record kind (mounts, binds, rlimits, cgroups) */
#define PLAN_MAX_ARG 131071u     /* one argv or env string: the kernel's MAX_ARG_STRLEN less the NUL */
/* argv and env entries each: more than the kernel's default 2 MiB ARG_MAX holds (an entry takes at
 * least a NUL and an 8-byte pointer of it), so that the kernel, not the launcher, is the limit; the
 * decoder's arrays stay bounded by the plan's size (8-byte record header per entry) */
#define PLAN_MAX_ARGS (1u << 18)
#define PLAN_MAX_HOSTNAME 64u    /* HOST_NAME_MAX */
#define PLAN_MAX_SECCOMP_INSNS 4096u

/* open_tree(2) (Linux 5.2), called through syscall(2) for detached copies of mount trees
 * (filesystem.c, idmap.c): its flags, where the libc headers lack them. */
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

/* fd numbers agreed with the supervisor (src/launch/supervisor.ts) */
#define FD_PLAN 3
#define FD_REPORT 4

/* Record tags. Layout of a record: u16 tag, u16 zero, u32 length, payload[length]. */
enum plan_tag {
  TAG_NAMESPACES = 1,   /* u64 clone flags */
  TAG_UNUSED_2 = 2,     /* reserved */
  TAG_ID_MAP = 3,       /* u32 inside uid, u32 inside gid, u32 host uid, u32 host gid: the single id mapping */
  TAG_HOSTNAME = 4,     /* string */
  TAG_CGROUP_PROCS = 5, /* string, repeated: files to write our pid into before clone */
  TAG_BIND_SOURCE = 6,  /* string, repeated: absolute host paths opened without following symlinks */
  TAG_ROOT = 7,         /* u32 root kind, u32 source index, string tmpfs options */
  TAG_MOUNT = 8,        /* u32 op, u32 attrs, u32 source index, u32 mode, string dst, bytes data */
  TAG_RLIMIT = 9,       /* u32 resource, u64 soft, u64 hard */
  TAG_ENV = 10,         /* string "K=V", repeated */
  TAG_CWD = 11,         /* string */
  TAG_ARGV = 12,        /* string, repeated, at least one */
  TAG_SECCOMP = 13,     /* sock_filter[] bytes */
  TAG_END = 14,         /* empty; must be last: a truncated plan is never mistaken for a complete one */
  TAG_UID_SLOTS = 15,   /* u32 first uid, u32 count, string lock dir: as root, the host uid (and gid) is
                           the first free slot of the range, held by flock for the sandbox's lifetime;
                           it replaces ID_MAP's host ids */
  TAG_RELAY = 16,       /* u32 mask of RELAY_*, u64 byte limit (UINT64_MAX: none): the workload's fd is
                           a pipe of A's, which A copies to its own fd of that number, the two outputs
                           together up to the limit (see relay.c) */
  TAG_CPU_USAGE = 17,   /* string: the run's cgroup CPU counter (v1 cpuacct.usage, v2 cpu.stat), which init
                           reads as it reaps the workload: the run's CPU then, before the sandbox's teardown */
  TAG_LAST = TAG_CPU_USAGE,
};

enum relay_mask {
  RELAY_STDOUT = 1u << 1,
  RELAY_STDERR = 1u << 2,
};

enum root_kind {
  ROOT_TMPFS = 0,   /* empty tmpfs, populated by the mount list (host-rootfs mode) */
  ROOT_IMAGE_RO = 1,/* bind of an image rootfs (source index), read-only */
  ROOT_IMAGE_OVERLAY = 2, /* overlayfs: image rootfs (source index) as lower, tmpfs upper */
};

enum mount_op {
  OP_TMPFS = 1,     /* tmpfs at dst, data = mount options */
  OP_BIND = 2,      /* bind source[src] at dst; dst is created as a file or directory like the source */
  OP_PROC = 3,      /* new procfs instance at dst */
  OP_DIR = 4,       /* mkdir dst with mode */
  OP_FILE = 5,      /* create dst with mode and content = data */
  OP_SYMLINK = 6,   /* symlink dst -> data */
  OP_REBIND = 7,    /* bind dst onto itself, then apply attrs (e.g. /proc/sys read-only) */
};

/* Mount attributes; mapped to MOUNT_ATTR_* / MS_* by the launcher. */
enum plan_mount_attr {
  ATTR_RO = 1u << 0,
  ATTR_NOSUID = 1u << 1,
  ATTR_NODEV = 1u << 2,
  ATTR_NOEXEC = 1u << 3,
  ATTR_IF_EXISTS = 1u << 4, /* skip silently when dst does not exist (masks of optional /proc files) */
  ATTR_IDMAP = 1u << 5,     /* OP_BIND as root: an idmapped mount, the source's owner <-> the run's host uid */
  ATTR_ALL = (1u << 6) - 1,
};

/* Steps, reported with errno on failure. */
enum step {
  STEP_NONE = 0,
  STEP_READ_PLAN = 1,
  STEP_DECODE = 2,
  STEP_BIND_SOURCE = 3,
  STEP_JOIN_CGROUP = 4,
  STEP_IDENTITY = 5,
  STEP_PARENT_DEATH = 6,
  STEP_CLONE = 7,
  STEP_SYNC = 8,
  STEP_ID_MAP = 9,
  STEP_HOSTNAME = 10,
  STEP_MOUNT_PRIVATE = 11,
  STEP_ROOT = 12,
  STEP_MOUNT = 13,          /* index = mount op index */
  STEP_PIVOT_ROOT = 14,
  STEP_ROOT_READONLY = 15,
  STEP_LOOPBACK = 16,
  STEP_FORK = 17,
  STEP_SETSID = 18,
  STEP_RLIMIT = 19,         /* index = rlimit index */
  STEP_CHDIR = 20,
  STEP_CLOSE_FDS = 21,
  STEP_SECUREBITS = 22,
  STEP_CAPS = 23,
  STEP_NO_NEW_PRIVS = 24,
  STEP_SECCOMP = 25,
  STEP_FIND_EXECUTABLE = 26,
  STEP_EXEC = 27,
  STEP_WAIT = 28,
  STEP_DUMPABLE = 29,
  STEP_UID_SLOT = 30,       /* errno EBUSY: every slot of the range is held */
  STEP_RELAY = 31,          /* index = the relayed fd (+10 in init) */
};

/* Decoder error reasons (reported as errno-field values with STEP_DECODE). */
enum decode_error {
  DEC_OK = 0,
  DEC_TRUNCATED = 1,
  DEC_BAD_MAGIC = 2,
  DEC_BAD_LENGTH = 3,
  DEC_UNKNOWN_TAG = 4,
  DEC_BAD_RECORD = 5,     /* a record's length does not fit its kind */
  DEC_BAD_STRING = 6,     /* embedded NUL, too long, or not absolute where a path is needed */
  DEC_TOO_MANY = 7,
  DEC_DUPLICATE = 8,      /* a single-valued record appears twice */
  DEC_MISSING = 9,        /* a required record is absent */
  DEC_BAD_VALUE = 10,     /* an enum or flag out of range */
  DEC_BAD_PATH = 11,      /* a sandbox path with "..", "//" or relative */
  DEC_NO_END = 12,
};

enum report_type {
  REPORT_ERROR = 1,   /* step, err, index */
  REPORT_STARTED = 2, /* index = host pid of init (B) */
  REPORT_EXIT = 3,    /* err = wait status of the workload (C) */
  REPORT_RUSAGE = 4,  /* after EXIT: err = max RSS in KiB, step:index = user+system CPU in µs (high:low
                         32 bits), of every process init reaped (the workload and its descendants) */
  REPORT_SETUP = 5,   /* step = 1 (A) or 2 (B), index = CPU µs that process spent on setup; B sends
                         it right after forking the workload, so it also marks the workload's start */
  REPORT_UID = 6,     /* index = the host uid (= gid) the sandbox runs as (with TAG_UID_SLOTS) */
  REPORT_OUTPUT = 7,  /* index = the relayed fd that went past the relay's byte limit; A has killed init */
  REPORT_CLOCK = 8,   /* step = 1 (B is about to fork the workload) or 2 (B has reaped it); err:index =
                         CLOCK_MONOTONIC in ns, high:low 32 bits — the workload's wall time, taken where
                         it happens (the supervisor's clock is the same: no time namespace is made) */
  REPORT_CPU = 9,     /* with TAG_CPU_USAGE, before EXIT: err:index = the cgroup's CPU time in ns, high:low
                         32 bits, read by init as it reaped the workload */
  REPORT_HELD = 10,   /* (--hold) A has reaped init and waits for SIGUSR1 before it exits */
  REPORT_CSW = 11,    /* after EXIT, before RUSAGE: err = voluntary, index = involuntary context switches
                         of the same processes (isolate's csw-voluntary, csw-forced), each 32 unsigned
                         bits, saturated */
};

struct report {
  uint32_t type;
  uint32_t step;
  int32_t err;
  uint32_t index;
};

/* Zygote mode (zygote.c): fd 0 is a SOCK_SEQPACKET socket of requests from the supervisor, fd 1 a pipe
 * of events back to it. A ZY_RUN request carries ZYGOTE_RUN_FDS fds (SCM_RIGHTS), in this order: the
 * plan (a memfd, read from offset 0 to EOF), the workload's stdin, stdout, stderr, and the report pipe;
 * the zygote forks an A that gets them as fds 3, 0, 1, 2, 4. Records are fixed-size, both ways. */
#define ZYGOTE_RUN_FDS 5
enum zygote_op {
  ZY_RUN = 1,    /* run_id: the supervisor's name for this run (unique among its live runs) */
  ZY_SIGNAL = 2, /* run_id, value = signal number: sent to that run's A if it has not been reaped */
};
enum zygote_event_type {
  ZE_FORKED = 1, /* value = pid of the run's A */
  ZE_EXITED = 2, /* value = A's wait status */
  ZE_REFUSED = 3,/* the request was malformed or the fork failed: value = errno; nothing runs */
};
struct zygote_record {
  uint32_t type; /* zygote_op or zygote_event_type */
  uint32_t run_id;
  int32_t value;
  uint32_t zero;
};

struct mount_entry {
  uint32_t op;
  uint32_t attrs;
  uint32_t src;
  uint32_t mode;
  const char *dst;      /* absolute sandbox path, validated */
  const uint8_t *data;  /* not NUL-terminated unless data_is_string */
  uint32_t data_len;
  const char *data_str; /* NUL-terminated copy when op needs a string (tmpfs options, symlink target) */
};

struct rlimit_entry {
  uint32_t resource;
  uint64_t soft;
  uint64_t hard;
};

struct plan {
  uint64_t clone_flags;
  uint32_t inside_uid, inside_gid; /* the workload's identity inside the user namespace */
  uint32_t host_uid, host_gid;     /* what it is on the host: our own ids (rootless) or a dedicated slot (root) */
  const char *hostname;
  const char **cgroup_procs; uint32_t n_cgroup_procs;
  const char **bind_sources; uint32_t n_bind_sources;
  uint32_t root_kind, root_src;
  const char *root_options;
  struct mount_entry *mounts; uint32_t n_mounts;
  struct rlimit_entry *rlimits; uint32_t n_rlimits;
  const char **env; uint32_t n_env;      /* NULL-terminated as well */
  const char *cwd;
  const char **argv; uint32_t n_argv;    /* NULL-terminated as well */
  const uint8_t *seccomp; uint32_t seccomp_len;
  uint32_t slot_first, slot_count;       /* slot_count > 0: choose the host uid from this range */
  const char *slot_dir;
  uint32_t relay;                        /* RELAY_* mask */
  uint64_t relay_limit;                  /* bytes A copies from both relays together; UINT64_MAX: no limit */
  const char *cpu_usage;                 /* TAG_CPU_USAGE, or NULL */
};

/* decode.c */
int plan_decode(uint8_t *buf, size_t len, struct plan *out, uint32_t *bad_index);
void plan_free(struct plan *p);

/* report.c */
void report_error(enum step step, int err, uint32_t index);
void report_started(uint32_t init_pid);
void report_exit(int wait_status);
void report_rusage(int32_t maxrss_kib, uint64_t cpu_us);
void report_csw(uint32_t voluntary, uint32_t involuntary);
void report_setup(uint32_t who, uint32_t cpu_us);
void report_uid(uint32_t uid);
void report_output(uint32_t fd);
void report_clock(uint32_t which, uint64_t ns);
void report_cpu(uint64_t ns);
void report_held(void);
uint64_t monotonic_ns(void);
uint32_t own_cpu_us(void);
_Noreturn void fail(enum step step, int err, uint32_t index);

/* filesystem.c: runs in B */
void make_mounts_private(void);
void build_filesystem(const struct plan *p, const int *source_fds, const int *idmapped_trees);

/* idmap.c: A, as root, after the uid slot is taken and before clone */
int *prepare_idmapped_binds(const struct plan *p);

/* workload.c: runs in C, ends in execve */
_Noreturn void exec_workload(const struct plan *p);

/* uid_slot.c: A, as root, before clone. Returns the held lock's fd (-1 without uid slots). */
int take_uid_slot(struct plan *p);

/* fdpass.c (also built alone as libsandbox-fdpass.so for Node): bytes with fds attached, never blocking */
int sandbox_send_fds(int sock, const void *data, size_t len, const int *fds, int n_fds);
/* the launcher's receiving side (blocking) */
int sandbox_recv_fds(int sock, void *data, size_t len, int *fds, int max_fds, int *n_fds);

/* main.c: B cloned by a zygote's spare before its run is known (see "The prepared init" there) */
struct prepared_init {
  pid_t pid;  /* its host pid; <= 0: none */
  int pidfd;
  int sock;   /* SOCK_SEQPACKET to it: the run's fds, then "go" */
};
int prepare_init(struct prepared_init *out);   /* 0, or -1 with *out empty */
void discard_init(struct prepared_init *init); /* SIGKILL and reap it: its namespaces go with it */

/* main.c: A from reading the plan (fd 3) to its exit code; `prepared` may be NULL or empty */
int run_outer(long parent_pid, int check_only, struct prepared_init *prepared);

/* zygote.c: the long-lived process that forks an A per request */
int run_zygote(long parent_pid, char *argv_area, size_t argv_len);

/* terminal.c (A): the settings of the caller's terminals among fds 0-2, put back after the run */
struct saved_terminal {
  int fd;
  dev_t dev;
  struct termios tio;
};
struct terminals {
  int n;
  struct saved_terminal saved[3];
};
void terminals_save(struct terminals *t);
void terminals_restore(const struct terminals *t);

/* relay.c: A, when the plan asks for it */
struct relays {
  int read_end[3];  /* A's end of each relayed fd's pipe, -1 if not relayed */
  int write_end[3]; /* the workload's end, until B has it */
  uint64_t room;    /* bytes both relays may still copy */
};
void relays_open(const struct plan *p, struct relays *r);
void relays_attach(struct relays *r);  /* B: the write ends become fds 1 and 2 */
void relays_parent(struct relays *r);  /* A after clone: drop the write ends */
/* A: copy until every relayed pipe is at end of stream, or until one goes past the limit: then report
 * it and SIGKILL init (the whole sandbox dies with it) */
void relays_run(struct relays *r, pid_t init);

/* netns.c */
void bring_up_loopback(void);

#endif
