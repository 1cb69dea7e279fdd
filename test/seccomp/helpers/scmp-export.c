/*
 * Test and benchmark helper: builds a filter with libseccomp (the reference compiler) from a
 * line-based description on stdin and writes the BPF program (struct sock_filter[]) to stdout.
 *
 *   arch x86_64|aarch64
 *   default ACTION            ACTION is the raw 32-bit return value (0x7fff0000 = allow, 0x50001 = errno 1)
 *   badarch ACTION
 *   optimize 1|2              SCMP_FLTATR_CTL_OPTIMIZE (2 = binary tree)
 *   rule ACTION NAME N [IDX OP A B]...   OP: 1 NE, 2 LT, 3 LE, 4 EQ, 5 GE, 6 GT, 7 MASKED_EQ (A = mask, B = datum)
 *
 * On stderr: "unknown NAME" for names libseccomp cannot resolve, "rule-error NAME ERRNO" for rules
 * it refuses. Exit 1 on other errors.
 */
#include <errno.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t parse_action(const char *s) { return (uint32_t)strtoul(s, NULL, 0); }

int main(void) {
  char line[4096];
  scmp_filter_ctx ctx = NULL;
  uint32_t def = SCMP_ACT_KILL_PROCESS, badarch = SCMP_ACT_KILL_PROCESS;
  int optimize = 2;
  char arch[32] = "x86_64";
  /* First pass: header lines until the first rule (default must be known to create the context). */
  while (fgets(line, sizeof line, stdin)) {
    char *tok = strtok(line, " \t\n");
    if (!tok) continue;
    if (strcmp(tok, "arch") == 0) { snprintf(arch, sizeof arch, "%s", strtok(NULL, " \t\n")); continue; }
    if (strcmp(tok, "default") == 0) { def = parse_action(strtok(NULL, " \t\n")); continue; }
    if (strcmp(tok, "badarch") == 0) { badarch = parse_action(strtok(NULL, " \t\n")); continue; }
    if (strcmp(tok, "optimize") == 0) { optimize = atoi(strtok(NULL, " \t\n")); continue; }
    if (strcmp(tok, "rule") != 0) { fprintf(stderr, "bad line: %s\n", tok); return 1; }
    if (!ctx) {
      ctx = seccomp_init(def);
      if (!ctx) { fprintf(stderr, "seccomp_init failed\n"); return 1; }
      if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, badarch) != 0 ||
          seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, (uint32_t)optimize) != 0) {
        fprintf(stderr, "seccomp_attr_set failed\n");
        return 1;
      }
      if (strcmp(arch, "aarch64") == 0) {
        if (seccomp_arch_add(ctx, SCMP_ARCH_AARCH64) != 0 || seccomp_arch_remove(ctx, SCMP_ARCH_NATIVE) != 0) {
          fprintf(stderr, "cannot target aarch64\n");
          return 1;
        }
      }
    }
    uint32_t act = parse_action(strtok(NULL, " \t\n"));
    const char *name = strtok(NULL, " \t\n");
    int n = atoi(strtok(NULL, " \t\n"));
    struct scmp_arg_cmp cmp[6];
    for (int i = 0; i < n && i < 6; i++) {
      cmp[i].arg = (unsigned)atoi(strtok(NULL, " \t\n"));
      cmp[i].op = (enum scmp_compare)atoi(strtok(NULL, " \t\n"));
      cmp[i].datum_a = strtoull(strtok(NULL, " \t\n"), NULL, 0);
      cmp[i].datum_b = strtoull(strtok(NULL, " \t\n"), NULL, 0);
    }
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) { fprintf(stderr, "unknown %s\n", name); continue; }
    int rc = seccomp_rule_add_array(ctx, act, nr, (unsigned)n, cmp);
    if (rc != 0) fprintf(stderr, "rule-error %s %d\n", name, -rc);
  }
  if (!ctx) {
    ctx = seccomp_init(def);
    seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, badarch);
    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, (uint32_t)optimize);
  }
  int rc = seccomp_export_bpf(ctx, 1);
  seccomp_release(ctx);
  if (rc != 0) { fprintf(stderr, "export failed: %d\n", rc); return 1; }
  return 0;
}
