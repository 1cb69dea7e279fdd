/*
 * Decoder for the LaunchPlan wire format (see launcher.h and src/launch/wire.ts).
 *
 * The plan comes from our own supervisor, but the decoder still treats it as hostile input: it is the
 * boundary between the policy (TypeScript) and the code that holds privileges inside the namespaces.
 * Every length is checked against the remaining bytes before it is used, every string is checked for
 * embedded NULs and bounds, every enum and index is range-checked, and the plan must end with TAG_END
 * exactly at the end of the buffer. Any violation is a structured error (enum decode_error); the test
 * suite fuzzes this with random and truncated plans under ASan/UBSan.
 */
#define _GNU_SOURCE
#include "launcher.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

struct cursor {
  const uint8_t *p;
  const uint8_t *end;
};

static int take(struct cursor *c, void *dst, size_t n) {
  if ((size_t)(c->end - c->p) < n) return DEC_BAD_RECORD;
  memcpy(dst, c->p, n);
  c->p += n;
  return DEC_OK;
}

/* A string of exactly `len` bytes: no NUL inside, 1..max bytes (0..max if allow_empty), copied and
 * NUL-terminated. */
static int dup_string_any(const uint8_t *src, uint32_t len, uint32_t max, int allow_empty, const char **out) {
  if ((len == 0 && !allow_empty) || len > max) return DEC_BAD_STRING;
  if (memchr(src, 0, len) != NULL) return DEC_BAD_STRING;
  char *s = malloc((size_t)len + 1);
  if (s == NULL) return DEC_BAD_LENGTH;
  memcpy(s, src, len);
  s[len] = '\0';
  *out = s;
  return DEC_OK;
}

static int dup_string(const uint8_t *src, uint32_t len, uint32_t max, const char **out) {
  return dup_string_any(src, len, max, 0, out);
}

static int take_string(struct cursor *c, uint32_t max, const char **out) {
  uint32_t len;
  int rc = take(c, &len, sizeof len);
  if (rc) return rc;
  if ((size_t)(c->end - c->p) < len) return DEC_BAD_RECORD;
  rc = dup_string(c->p, len, max, out);
  c->p += len;
  return rc;
}

/* Absolute host path: starts with '/'. Symlinks are refused later, at open time (openat2). */
static int check_host_path(const char *s) {
  return s[0] == '/' ? DEC_OK : DEC_BAD_PATH;
}

/*
 * Path inside the sandbox: absolute and canonical — no "." or ".." components, no empty components,
 * no trailing slash (except "/" itself). The filesystem code resolves these beneath the new root and
 * refuses symlinks, but rejecting non-canonical input here keeps the two layers independent.
 */
static int check_sandbox_path(const char *s) {
  if (s[0] != '/') return DEC_BAD_PATH;
  if (s[1] == '\0') return DEC_OK;
  const char *comp = s + 1;
  for (;;) {
    const char *slash = strchr(comp, '/');
    size_t n = slash ? (size_t)(slash - comp) : strlen(comp);
    if (n == 0) return DEC_BAD_PATH;
    if (n == 1 && comp[0] == '.') return DEC_BAD_PATH;
    if (n == 2 && comp[0] == '.' && comp[1] == '.') return DEC_BAD_PATH;
    if (!slash) return DEC_OK;
    comp = slash + 1;
  }
}

#define NS_ALLOWED (CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | \
                    CLONE_NEWUTS | CLONE_NEWCGROUP)
#define NS_REQUIRED (CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS)

struct counts {
  uint32_t cgroup_procs, bind_sources, mounts, rlimits, env, argv;
};

/* Pass 1: walk the record framing only, count repeated records, and find TAG_END. */
static int scan(const uint8_t *buf, size_t len, struct counts *n, uint32_t *bad) {
  size_t off = 8;
  uint32_t index = 0;
  int saw_end = 0;
  memset(n, 0, sizeof *n);
  while (off < len) {
    uint16_t tag, zero;
    uint32_t rlen;
    *bad = index;
    if (saw_end) return DEC_BAD_LENGTH; /* bytes after TAG_END */
    if (len - off < 8) return DEC_TRUNCATED;
    memcpy(&tag, buf + off, 2);
    memcpy(&zero, buf + off + 2, 2);
    memcpy(&rlen, buf + off + 4, 4);
    if (zero != 0) return DEC_BAD_RECORD;
    if (rlen > len - off - 8) return DEC_TRUNCATED;
    uint32_t *count = NULL;
    switch (tag) {
      case TAG_CGROUP_PROCS: count = &n->cgroup_procs; break;
      case TAG_BIND_SOURCE: count = &n->bind_sources; break;
      case TAG_MOUNT: count = &n->mounts; break;
      case TAG_RLIMIT: count = &n->rlimits; break;
      case TAG_ENV: count = &n->env; break;
      case TAG_ARGV: count = &n->argv; break;
      case TAG_END: if (rlen != 0) return DEC_BAD_RECORD; saw_end = 1; break;
      case TAG_NAMESPACES: case TAG_ID_MAP: case TAG_HOSTNAME:
      case TAG_ROOT: case TAG_CWD: case TAG_SECCOMP: case TAG_UID_SLOTS: case TAG_RELAY: case TAG_CPU_USAGE: break;
      default: return DEC_UNKNOWN_TAG;
    }
    uint32_t max = (tag == TAG_ARGV || tag == TAG_ENV) ? PLAN_MAX_ARGS : PLAN_MAX_ITEMS;
    if (count && ++*count > max) return DEC_TOO_MANY;
    off += 8 + (size_t)rlen;
    index++;
  }
  *bad = index;
  return saw_end ? DEC_OK : DEC_NO_END;
}

static int decode_mount(struct cursor *c, struct mount_entry *m) {
  int rc;
  if ((rc = take(c, &m->op, 4)) || (rc = take(c, &m->attrs, 4)) || (rc = take(c, &m->src, 4)) ||
      (rc = take(c, &m->mode, 4)))
    return rc;
  if (m->op < OP_TMPFS || m->op > OP_REBIND) return DEC_BAD_VALUE;
  if (m->attrs & ~(uint32_t)ATTR_ALL) return DEC_BAD_VALUE;
  if (m->mode > 07777) return DEC_BAD_VALUE;
  if ((rc = take_string(c, PLAN_MAX_STRING, &m->dst))) return rc;
  if ((rc = check_sandbox_path(m->dst))) return rc;
  /* Nothing is mounted at "/" itself: it would stack over the new root, and every later mount (the
   * /proc masks among them) would be made in the covered layer, out of sight after the pivot. */
  if (m->dst[1] == '\0') return DEC_BAD_PATH;
  if ((rc = take(c, &m->data_len, 4))) return rc;
  if (m->data_len > PLAN_MAX_DATA || (size_t)(c->end - c->p) < m->data_len) return DEC_BAD_RECORD;
  m->data = c->p;
  m->data_str = NULL;
  if (m->op == OP_TMPFS || m->op == OP_SYMLINK) {
    /* tmpfs options may be empty; a symlink target may not */
    if (m->data_len == 0 && m->op == OP_TMPFS) {
      m->data_str = strdup("");
      if (!m->data_str) return DEC_BAD_LENGTH;
    } else if ((rc = dup_string(c->p, m->data_len, PLAN_MAX_STRING, &m->data_str))) {
      return rc;
    }
  }
  c->p += m->data_len;
  return DEC_OK;
}

/* Pass 2: decode each record into `p`. Arrays were sized by scan(). */
static int decode_records(const uint8_t *buf, size_t len, struct plan *p, uint32_t *bad) {
  size_t off = 8;
  uint32_t index = 0;
  int seen[TAG_LAST + 1] = {0}; /* scan() refused every other tag */
  while (off < len) {
    uint16_t tag;
    uint32_t rlen;
    memcpy(&tag, buf + off, 2);
    memcpy(&rlen, buf + off + 4, 4);
    struct cursor c = {buf + off + 8, buf + off + 8 + rlen};
    const uint8_t *payload = c.p;
    int rc = DEC_OK;
    *bad = index;
    int single = tag != TAG_CGROUP_PROCS && tag != TAG_BIND_SOURCE && tag != TAG_MOUNT &&
                 tag != TAG_RLIMIT && tag != TAG_ENV && tag != TAG_ARGV;
    if (single && seen[tag]) return DEC_DUPLICATE;
    seen[tag] = 1;
    switch (tag) {
      case TAG_NAMESPACES:
        if ((rc = take(&c, &p->clone_flags, 8))) break;
        if ((p->clone_flags & ~(uint64_t)NS_ALLOWED) || (p->clone_flags & NS_REQUIRED) != NS_REQUIRED)
          rc = DEC_BAD_VALUE;
        break;
      case TAG_ID_MAP:
        if ((rc = take(&c, &p->inside_uid, 4)) || (rc = take(&c, &p->inside_gid, 4)) ||
            (rc = take(&c, &p->host_uid, 4)) || (rc = take(&c, &p->host_gid, 4)))
          break;
        /* (uid_t)-1 is "no change" to the set*id calls; host id 0 would put the workload in host root's shoes */
        if (p->inside_uid == UINT32_MAX || p->inside_gid == UINT32_MAX || p->host_uid == UINT32_MAX ||
            p->host_gid == UINT32_MAX || p->host_uid == 0 || p->host_gid == 0)
          rc = DEC_BAD_VALUE;
        break;
      case TAG_HOSTNAME:
        rc = dup_string(payload, rlen, PLAN_MAX_HOSTNAME, &p->hostname);
        c.p = c.end;
        break;
      case TAG_CGROUP_PROCS:
        if ((rc = dup_string(payload, rlen, PLAN_MAX_STRING, &p->cgroup_procs[p->n_cgroup_procs]))) break;
        rc = check_host_path(p->cgroup_procs[p->n_cgroup_procs++]);
        c.p = c.end;
        break;
      case TAG_BIND_SOURCE:
        if ((rc = dup_string(payload, rlen, PLAN_MAX_STRING, &p->bind_sources[p->n_bind_sources]))) break;
        rc = check_host_path(p->bind_sources[p->n_bind_sources++]);
        c.p = c.end;
        break;
      case TAG_ROOT:
        if ((rc = take(&c, &p->root_kind, 4)) || (rc = take(&c, &p->root_src, 4))) break;
        if (p->root_kind > ROOT_IMAGE_OVERLAY) { rc = DEC_BAD_VALUE; break; }
        rc = take_string(&c, PLAN_MAX_STRING, &p->root_options);
        break;
      case TAG_MOUNT:
        rc = decode_mount(&c, &p->mounts[p->n_mounts++]);
        break;
      case TAG_RLIMIT: {
        struct rlimit_entry *r = &p->rlimits[p->n_rlimits++];
        if ((rc = take(&c, &r->resource, 4)) || (rc = take(&c, &r->soft, 8)) || (rc = take(&c, &r->hard, 8))) break;
        if (r->resource >= RLIM_NLIMITS || r->soft > r->hard) rc = DEC_BAD_VALUE;
        break;
      }
      case TAG_ENV:
        if ((rc = dup_string(payload, rlen, PLAN_MAX_ARG, &p->env[p->n_env]))) break;
        if (strchr(p->env[p->n_env], '=') == NULL || p->env[p->n_env][0] == '=') rc = DEC_BAD_STRING;
        p->n_env++;
        c.p = c.end;
        break;
      case TAG_CWD:
        if ((rc = dup_string(payload, rlen, PLAN_MAX_STRING, &p->cwd))) break;
        rc = check_sandbox_path(p->cwd);
        c.p = c.end;
        break;
      case TAG_ARGV:
        /* an empty argument is an ordinary argument (sh -c '...' sh '') */
        rc = dup_string_any(payload, rlen, PLAN_MAX_ARG, 1, &p->argv[p->n_argv++]);
        c.p = c.end;
        break;
      case TAG_SECCOMP:
        /* struct sock_filter is 8 bytes; the kernel accepts 1..BPF_MAXINSNS instructions */
        if (rlen == 0 || rlen % 8 != 0 || rlen / 8 > PLAN_MAX_SECCOMP_INSNS) { rc = DEC_BAD_VALUE; break; }
        p->seccomp = payload;
        p->seccomp_len = rlen;
        c.p = c.end;
        break;
      case TAG_UID_SLOTS:
        if ((rc = take(&c, &p->slot_first, 4)) || (rc = take(&c, &p->slot_count, 4))) break;
        /* never uid 0, never (uid_t)-1, no wrap-around: the last slot's uid, first + count - 1, is at
         * most 0xFFFFFFFE (computed in 64 bits: in 32, first 0xFFFFFFFF wrapped round to uid 0) */
        if (p->slot_first == 0 || p->slot_count == 0 || (uint64_t)p->slot_first + p->slot_count > UINT32_MAX) {
          rc = DEC_BAD_VALUE;
          break;
        }
        if ((rc = take_string(&c, PLAN_MAX_STRING, &p->slot_dir))) break;
        rc = check_host_path(p->slot_dir);
        break;
      case TAG_RELAY:
        if ((rc = take(&c, &p->relay, 4)) || (rc = take(&c, &p->relay_limit, 8))) break;
        if (p->relay == 0 || p->relay & ~(uint32_t)(RELAY_STDOUT | RELAY_STDERR)) rc = DEC_BAD_VALUE;
        break;
      case TAG_CPU_USAGE:
        if ((rc = dup_string(payload, rlen, PLAN_MAX_STRING, &p->cpu_usage))) break;
        rc = check_host_path(p->cpu_usage);
        c.p = c.end;
        break;
      case TAG_END:
        break;
      default:
        rc = DEC_UNKNOWN_TAG;
    }
    if (rc) return rc;
    if (c.p != c.end) return DEC_BAD_RECORD; /* payload longer than its kind */
    off += 8 + (size_t)rlen;
    index++;
  }
  *bad = index;
  if (!seen[TAG_NAMESPACES] || !seen[TAG_ID_MAP] || !seen[TAG_ROOT] || !seen[TAG_CWD] ||
      p->n_argv == 0 || !seen[TAG_HOSTNAME])
    return DEC_MISSING;
  return DEC_OK;
}

/* Cross-record checks: indexes into the bind-source list. */
static int check_references(const struct plan *p, uint32_t *bad) {
  if (p->root_kind != ROOT_TMPFS && p->root_src >= p->n_bind_sources) return DEC_BAD_VALUE;
  for (uint32_t i = 0; i < p->n_mounts; i++) {
    *bad = i;
    if (p->mounts[i].op == OP_BIND && p->mounts[i].src >= p->n_bind_sources) return DEC_BAD_VALUE;
  }
  return DEC_OK;
}

int plan_decode(uint8_t *buf, size_t len, struct plan *p, uint32_t *bad_index) {
  uint32_t magic, total;
  struct counts n;
  int rc;
  memset(p, 0, sizeof *p);
  *bad_index = 0;
  if (len < 8) return DEC_TRUNCATED;
  memcpy(&magic, buf, 4);
  memcpy(&total, buf + 4, 4);
  if (magic != PLAN_MAGIC) return DEC_BAD_MAGIC;
  if (total != len || len > PLAN_MAX_BYTES) return total > len ? DEC_TRUNCATED : DEC_BAD_LENGTH;
  if ((rc = scan(buf, len, &n, bad_index))) return rc;
  p->cgroup_procs = calloc(n.cgroup_procs + 1, sizeof(char *));
  p->bind_sources = calloc(n.bind_sources + 1, sizeof(char *));
  p->mounts = calloc(n.mounts + 1, sizeof(struct mount_entry));
  p->rlimits = calloc(n.rlimits + 1, sizeof(struct rlimit_entry));
  p->env = calloc(n.env + 1, sizeof(char *));
  p->argv = calloc(n.argv + 1, sizeof(char *));
  if (!p->cgroup_procs || !p->bind_sources || !p->mounts || !p->rlimits || !p->env || !p->argv)
    return DEC_BAD_LENGTH;
  if ((rc = decode_records(buf, len, p, bad_index))) return rc;
  return check_references(p, bad_index);
}

static void free_strings(const char **v, uint32_t n) {
  if (!v) return;
  for (uint32_t i = 0; i < n; i++) free((void *)v[i]);
  free(v);
}

void plan_free(struct plan *p) {
  free((void *)p->hostname);
  free((void *)p->cwd);
  free((void *)p->root_options);
  free((void *)p->slot_dir);
  free((void *)p->cpu_usage);
  free_strings(p->cgroup_procs, p->n_cgroup_procs);
  free_strings(p->bind_sources, p->n_bind_sources);
  free_strings(p->env, p->n_env);
  free_strings(p->argv, p->n_argv);
  if (p->mounts) {
    for (uint32_t i = 0; i < p->n_mounts; i++) {
      free((void *)p->mounts[i].dst);
      free((void *)p->mounts[i].data_str);
    }
    free(p->mounts);
  }
  free(p->rlimits);
  memset(p, 0, sizeof *p);
}
