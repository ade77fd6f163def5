/*
 * Opens N sessions with libpq, runs one query on each so that a pooler in
 * session mode has linked every client to a server connection, prints
 * "ready N" on stdout, and holds the sessions idle until SIGTERM or SIGINT
 * (or until MAX_SECONDS have passed). Then it closes them all and exits.
 *
 *   hold_sessions CONNINFO N [MAX_SECONDS]
 *
 * The benchmark reads the proxy's VmRSS while the sessions are held.
 */
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int signo) {
  (void)signo;
  stop_requested = 1;
}

int main(int argc, char **argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: %s CONNINFO N [MAX_SECONDS]\n", argv[0]);
    return 2;
  }
  const char *conninfo = argv[1];
  const long n = strtol(argv[2], NULL, 10);
  const unsigned max_seconds = argc == 4 ? (unsigned)strtoul(argv[3], NULL, 10) : 600;
  if (n <= 0) {
    fprintf(stderr, "hold_sessions: N must be positive\n");
    return 2;
  }

  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, NULL);
  sigaction(SIGINT, &action, NULL);
  sigaction(SIGALRM, &action, NULL);
  /* The whole run, opening included, is bounded. */
  alarm(max_seconds);

  PGconn **sessions = calloc((size_t)n, sizeof *sessions);
  if (sessions == NULL) return 1;
  int status = 0;
  long opened = 0;
  for (; opened < n && !stop_requested; opened++) {
    PGconn *conn = PQconnectdb(conninfo);
    sessions[opened] = conn;
    if (PQstatus(conn) != CONNECTION_OK) {
      fprintf(stderr, "hold_sessions: session %ld: %s", opened + 1, PQerrorMessage(conn));
      status = 1;
      opened++;
      break;
    }
    PGresult *result = PQexec(conn, "SELECT 1");
    const int ok = PQresultStatus(result) == PGRES_TUPLES_OK;
    PQclear(result);
    if (!ok) {
      fprintf(stderr, "hold_sessions: session %ld: %s", opened + 1, PQerrorMessage(conn));
      status = 1;
      opened++;
      break;
    }
  }

  if (status == 0 && !stop_requested) {
    printf("ready %ld\n", opened);
    fflush(stdout);
    sigset_t none;
    sigemptyset(&none);
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGINT);
    sigaddset(&blocked, SIGALRM);
    sigprocmask(SIG_BLOCK, &blocked, NULL);
    while (!stop_requested) sigsuspend(&none);
  }

  for (long i = 0; i < opened; i++) PQfinish(sessions[i]);
  free(sessions);
  return status;
}
