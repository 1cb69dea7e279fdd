/* burn-threads N MS: N threads (the main one included) each burn MS ms of their own CPU time
 * (CLOCK_THREAD_CPUTIME_ID), then exit; MS = 0 burns until killed. For the multi-threaded CPU tests. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

static long budget_ms;

static long thread_cpu_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *burn(void *arg) {
  volatile unsigned long x = 0;
  while (budget_ms == 0 || thread_cpu_ms() < budget_ms) x++;
  return arg;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 4;
  budget_ms = argc > 2 ? atol(argv[2]) : 0;
  pthread_t t[64];
  if (n > 64) n = 64;
  for (int i = 1; i < n; i++) pthread_create(&t[i], NULL, burn, NULL);
  burn(NULL);
  for (int i = 1; i < n; i++) pthread_join(t[i], NULL);
  return 0;
}
