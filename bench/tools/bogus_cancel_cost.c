/*
 * The CPU a proxy spends on a CancelRequest that matches no session (a
 * flood of them is a cheap attack: no authentication, one packet each).
 * Sends COUNT such requests to HOST:PORT, one connection each, and waits
 * for the proxy to close every connection; reads the CPU ticks (user +
 * system) of process PID from /proc/PID/stat before and after, and prints
 * the CPU microseconds per request and the rate achieved.
 *
 *   bogus_cancel_cost HOST PORT PID COUNT
 *
 * Up to 32 requests are in flight at once, so that the rate is bounded by
 * the proxy rather than by this client's round trips, and below a proxy's
 * bound on connections still in startup. Each connection waits at most 5 s
 * for the proxy to close it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { kInFlight = 32, kCloseTimeoutMs = 5000 };

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* utime + stime of PID in clock ticks, or -1. Fields 14 and 15 of
 * /proc/PID/stat, counted after the command name's closing parenthesis
 * (the name may contain spaces). */
static long long cpu_ticks(long pid) {
  char path[64], buffer[4096];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE *file = fopen(path, "r");
  if (file == NULL) return -1;
  size_t length = fread(buffer, 1, sizeof buffer - 1, file);
  fclose(file);
  buffer[length] = '\0';
  char *p = strrchr(buffer, ')');
  if (p == NULL) return -1;
  unsigned long long utime = 0, stime = 0;
  /* After ")": state (3) ... utime (14), stime (15). */
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) {
    return -1;
  }
  return (long long)(utime + stime);
}

/* Length 16, code 80877102, a pid no session has, a 4-byte secret. */
static void cancel_packet(unsigned char out[16], uint32_t pid) {
  const uint32_t words[4] = {htonl(16), htonl(80877102), htonl(pid), htonl(0x5aa53cc3)};
  memcpy(out, words, sizeof words);
}

static int open_and_send(const struct sockaddr_in *address, uint32_t pid) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  unsigned char packet[16];
  cancel_packet(packet, pid);
  if (connect(fd, (const struct sockaddr *)address, sizeof *address) != 0 ||
      send(fd, packet, sizeof packet, MSG_NOSIGNAL) != (ssize_t)sizeof packet) {
    close(fd);
    return -1;
  }
  return fd;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s HOST PORT PID COUNT\n", argv[0]);
    return 2;
  }
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
  if (inet_pton(AF_INET, argv[1], &address.sin_addr) != 1) {
    fprintf(stderr, "bogus_cancel_cost: %s is not an IPv4 address\n", argv[1]);
    return 2;
  }
  const long pid = strtol(argv[3], NULL, 10);
  const long count = strtol(argv[4], NULL, 10);
  const long ticks_per_second = sysconf(_SC_CLK_TCK);

  const long long ticks_before = cpu_ticks(pid);
  if (ticks_before < 0) {
    fprintf(stderr, "bogus_cancel_cost: cannot read /proc/%ld/stat\n", pid);
    return 1;
  }
  const double started = now_s();
  struct pollfd open_fds[kInFlight];
  double opened_at[kInFlight];
  int in_flight = 0;
  long sent = 0, failed = 0;
  while (sent < count || in_flight > 0) {
    while (sent < count && in_flight < kInFlight) {
      const int fd = open_and_send(&address, (uint32_t)(0x7f000000u + (uint32_t)sent));
      ++sent;
      if (fd < 0) {
        ++failed;
        continue;
      }
      open_fds[in_flight] = (struct pollfd){.fd = fd, .events = POLLIN};
      opened_at[in_flight++] = now_s();
    }
    if (in_flight == 0) continue;
    if (poll(open_fds, (nfds_t)in_flight, 100) < 0 && errno != EINTR) {
      perror("bogus_cancel_cost: poll");
      return 1;
    }
    for (int i = 0; i < in_flight;) {
      char byte;
      const int closed = open_fds[i].revents != 0 && recv(open_fds[i].fd, &byte, 1, 0) <= 0;
      const int stale = now_s() - opened_at[i] > kCloseTimeoutMs / 1e3;
      if (closed || stale) {
        if (stale) ++failed;
        close(open_fds[i].fd);
        open_fds[i] = open_fds[--in_flight];
        opened_at[i] = opened_at[in_flight];
      } else {
        ++i;
      }
    }
  }
  const double seconds = now_s() - started;
  const long long ticks = cpu_ticks(pid) - ticks_before;
  const long answered = count - failed;
  printf("requests\t%ld\n", count);
  printf("failed\t%ld\n", failed);
  printf("seconds\t%.3f\n", seconds);
  printf("rate_per_s\t%.0f\n", answered / seconds);
  printf("proxy_cpu_ticks\t%lld\n", ticks);
  printf("cpu_us_per_request\t%.2f\n",
         answered > 0 ? (double)ticks * 1e6 / (double)ticks_per_second / (double)answered : 0.0);
  return failed == 0 ? 0 : 1;
}
