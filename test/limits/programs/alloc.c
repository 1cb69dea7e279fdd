/* Allocates argv[1] MiB, touches every page, reports, exits. For the memory measurement tests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
  size_t n = mib << 20;
  char *p = malloc(n);
  if (!p) { perror("malloc"); return 2; }
  memset(p, 1, n);
  printf("touched %zu MiB\n", mib);
  return p[n - 1] == 1 ? 0 : 3;
}
