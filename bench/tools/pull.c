/*
 * Pulls one large result through a target as fast as the wire allows and
 * reports its size and duration. It speaks just enough of the v3 protocol
 * (startup with trust authentication, one simple Query) to read the reply in
 * 1 MiB chunks without building rows, so the client costs little next to
 * the server and the proxy being measured.
 *
 *   pull HOST PORT USER DBNAME SQL
 *
 * Prints "BYTES SECONDS ROWS": the bytes received from sending the Query to
 * ReadyForQuery (headers included), the time that took, and the number of
 * DataRow or CopyData messages. Fails on an ErrorResponse, on any
 * authentication request other than AuthenticationOk, or after 300 s.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { kChunk = 1 << 20 };

static int sock = -1;
static unsigned char buffer[kChunk];
static size_t filled;  /* bytes in buffer */
static size_t start;   /* first unconsumed byte */

static void die(const char *what) {
  fprintf(stderr, "pull: %s\n", what);
  exit(1);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void send_all(const void *data, size_t len) {
  const unsigned char *p = data;
  while (len > 0) {
    ssize_t n = send(sock, p, len, MSG_NOSIGNAL);
    if (n <= 0) die("send failed");
    p += n;
    len -= (size_t)n;
  }
}

static void put32(unsigned char *p, uint32_t v) {
  v = htonl(v);
  memcpy(p, &v, 4);
}

static uint32_t get32(const unsigned char *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return ntohl(v);
}

/* Reads more into the buffer, moving the unconsumed tail to the front. */
static size_t read_more(void) {
  if (start > 0) {
    memmove(buffer, buffer + start, filled - start);
    filled -= start;
    start = 0;
  }
  if (filled == sizeof buffer) die("message header does not fit");
  ssize_t n = recv(sock, buffer + filled, sizeof buffer - filled, 0);
  if (n <= 0) die("connection closed by the server");
  filled += (size_t)n;
  return (size_t)n;
}

/*
 * Reads messages until ReadyForQuery. Bodies of DataRow and CopyData are
 * skipped without being kept whole; other messages (small) are kept whole so
 * that errors and authentication requests can be read.
 */
static void read_until_ready(uint64_t *bytes, uint64_t *rows, int startup) {
  for (;;) {
    while (filled - start < 5) *bytes += read_more();
    const unsigned char tag = buffer[start];
    const uint32_t length = get32(buffer + start + 1);
    if (length < 4) die("invalid message length");
    if (tag == 'D' || tag == 'd') {
      ++*rows;
      uint64_t left = (uint64_t)length + 1;
      for (;;) {
        const size_t here = filled - start;
        if (here >= left) {
          start += left;
          break;
        }
        left -= here;
        start = filled;
        *bytes += read_more();
      }
      continue;
    }
    while (filled - start < (size_t)length + 1) *bytes += read_more();
    const unsigned char *body = buffer + start + 5;
    const size_t body_len = length - 4;
    start += (size_t)length + 1;
    if (tag == 'E') {
      fprintf(stderr, "pull: server error:");
      for (size_t i = 0; i + 1 < body_len; i += strlen((const char *)body + i) + 1) {
        if (body[i] == 'M' || body[i] == 'C') fprintf(stderr, " %s", (const char *)body + i + 1);
      }
      fprintf(stderr, "\n");
      exit(1);
    }
    if (startup && tag == 'R' && (body_len < 4 || get32(body) != 0)) {
      die("the server asked for a password; pull needs trust authentication");
    }
    if (tag == 'Z') return;
  }
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s HOST PORT USER DBNAME SQL\n", argv[0]);
    return 2;
  }
  const char *host = argv[1], *port = argv[2], *user = argv[3], *dbname = argv[4], *sql = argv[5];
  alarm(300);

  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  struct addrinfo *addresses;
  if (getaddrinfo(host, port, &hints, &addresses) != 0) die("cannot resolve the host");
  sock = socket(addresses->ai_family, SOCK_STREAM, 0);
  if (sock < 0 || connect(sock, addresses->ai_addr, addresses->ai_addrlen) != 0) die("cannot connect");
  freeaddrinfo(addresses);
  int one = 1;
  setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  /* StartupMessage: length, protocol 3.0, name/value pairs, final NUL. */
  unsigned char startup[1024];
  size_t len = 8;
  const char *pairs[] = {"user", user, "database", dbname};
  for (size_t i = 0; i < 4; i++) {
    const size_t n = strlen(pairs[i]) + 1;
    if (len + n + 1 > sizeof startup) die("user or database name too long");
    memcpy(startup + len, pairs[i], n);
    len += n;
  }
  startup[len++] = 0;
  put32(startup, (uint32_t)len);
  put32(startup + 4, 3u << 16);
  send_all(startup, len);
  uint64_t ignored_bytes = 0, ignored_rows = 0;
  read_until_ready(&ignored_bytes, &ignored_rows, 1);

  const size_t sql_len = strlen(sql) + 1;
  unsigned char *query = malloc(sql_len + 5);
  if (query == NULL) die("out of memory");
  query[0] = 'Q';
  put32(query + 1, (uint32_t)(sql_len + 4));
  memcpy(query + 5, sql, sql_len);

  /* Whatever is already buffered belongs to the startup, not the result. */
  uint64_t bytes = 0, rows = 0;
  const double began = now_s();
  send_all(query, sql_len + 5);
  read_until_ready(&bytes, &rows, 0);
  const double seconds = now_s() - began;

  const unsigned char terminate[5] = {'X', 0, 0, 0, 4};
  send_all(terminate, sizeof terminate);
  close(sock);
  free(query);
  printf("%llu %.6f %llu\n", (unsigned long long)bytes, seconds, (unsigned long long)rows);
  return 0;
}
