/*
 * The new network namespace starts with only a loopback interface, down. Bring it up so the workload
 * can use 127.0.0.1 for itself; there is no other interface, so it reaches neither the host nor
 * another sandbox (each sandbox has its own namespace and its own lo).
 */
#define _GNU_SOURCE
#include "launcher.h"

#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

void bring_up_loopback(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) fail(STEP_LOOPBACK, errno, 0);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) fail(STEP_LOOPBACK, errno, 1);
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) fail(STEP_LOOPBACK, errno, 2);
  close(s);
}
