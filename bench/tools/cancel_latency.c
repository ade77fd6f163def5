/*
 * Measures how long a cancel takes end to end: on one session it starts
 * `SELECT pg_sleep(60)`, waits until the query has surely begun, then
 * times from PQcancel (which opens its own connection and sends the
 * CancelRequest) to the moment the session receives SQLSTATE 57014.
 * Prints one latency in microseconds per line.
 *
 *   cancel_latency CONNINFO SAMPLES
 *
 * Each wait is bounded: a cancel that has not ended the query within 10 s
 * fails the run.
 */
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Waits until a result is ready or the deadline passes. */
static int wait_readable(PGconn *conn, double deadline_us) {
  while (PQisBusy(conn)) {
    const double left_ms = (deadline_us - now_us()) / 1e3;
    if (left_ms <= 0) return 0;
    struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
    if (poll(&pfd, 1, (int)left_ms + 1) < 0) return 0;
    if (!PQconsumeInput(conn)) return 0;
  }
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s CONNINFO SAMPLES\n", argv[0]);
    return 2;
  }
  const long samples = strtol(argv[2], NULL, 10);
  PGconn *conn = PQconnectdb(argv[1]);
  if (PQstatus(conn) != CONNECTION_OK) {
    fprintf(stderr, "cancel_latency: %s", PQerrorMessage(conn));
    return 1;
  }
  PGcancel *cancel = PQgetCancel(conn);
  if (cancel == NULL) {
    fprintf(stderr, "cancel_latency: no cancel key for this session\n");
    return 1;
  }

  for (long i = 0; i < samples; i++) {
    if (!PQsendQuery(conn, "SELECT pg_sleep(60)")) {
      fprintf(stderr, "cancel_latency: %s", PQerrorMessage(conn));
      return 1;
    }
    /* Long enough for the query to be running at the server. */
    usleep(50 * 1000);

    const double start = now_us();
    char errbuf[256];
    if (!PQcancel(cancel, errbuf, sizeof errbuf)) {
      fprintf(stderr, "cancel_latency: PQcancel: %s\n", errbuf);
      return 1;
    }
    int cancelled = 0;
    for (;;) {
      if (!wait_readable(conn, start + 10e6)) {
        fprintf(stderr, "cancel_latency: sample %ld: no answer within 10 s of the cancel\n", i + 1);
        return 1;
      }
      PGresult *result = PQgetResult(conn);
      if (result == NULL) break;
      const char *sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
      if (sqlstate != NULL && strcmp(sqlstate, "57014") == 0 && !cancelled) {
        cancelled = 1;
        printf("%.0f\n", now_us() - start);
      }
      PQclear(result);
    }
    if (!cancelled) {
      fprintf(stderr, "cancel_latency: sample %ld: the query ended without 57014: %s", i + 1,
              PQerrorMessage(conn));
      return 1;
    }
  }
  fflush(stdout);
  PQfreeCancel(cancel);
  PQfinish(conn);
  return 0;
}
