/*
 * The floor: a TCP forwarder with no protocol logic at all, the least any
 * relay between pgbench and PostgreSQL must cost. The benchmarks measure it
 * beside pgvalve and PgBouncer so that every figure can be read against
 * what relaying bytes costs by itself.
 *
 *   floor_forwarder --listen PORT --upstream HOST:PORT [--threads N]
 *
 * It listens on 127.0.0.1:PORT and, for each client, opens a connection to
 * the upstream and copies bytes both ways until either side ends; then it
 * closes both. A CancelRequest is just another connection.
 *
 * Built to be as cheap as a userspace relay gets, so that nothing here is a
 * cost the proxies could be blamed for avoiding:
 * - One thread per core by default, each with its own epoll instance and
 *   its own SO_REUSEPORT listener on the same port. The kernel spreads new
 *   connections over the listeners, and a connection stays on the thread
 *   that accepted it: no hand-off between threads, no lock, no shared
 *   state on the data path.
 * - Level-triggered epoll, both sockets of a pair registered once for
 *   EPOLLIN: nothing to re-arm per transaction.
 * - On readiness exactly one recv into the thread's 64 KiB scratch buffer
 *   and one send to the other side. Only a partial send copies: the rest
 *   goes into a heap buffer of the pair, the source is no longer read
 *   (EPOLL_CTL_MOD without EPOLLIN) and the destination is watched for
 *   EPOLLOUT until the rest is out; then reading resumes. So an idle pair
 *   is two sockets and a small struct, and memory stays bounded.
 * - TCP_NODELAY on both sockets, like PostgreSQL and the proxies.
 *
 * Prints nothing unless something fails; exits with 0 on SIGINT or SIGTERM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

enum { kScratchSize = 64 * 1024, kMaxEvents = 256 };

/* Bytes read from one side that the other side's socket did not take yet. */
struct backlog {
  size_t offset;
  size_t length;
  unsigned char data[];
};

struct pair;

/* One socket of a pair. */
struct end {
  int fd;
  uint32_t events;         /* what epoll watches for this socket now */
  struct backlog *backlog; /* bytes waiting to be sent to fd, or NULL */
  struct end *peer;
  struct pair *pair;
};

struct pair {
  struct end client;
  struct end server;
  int closed;
  struct pair *next_closed;
};

struct worker {
  pthread_t thread;
  int epoll_fd;
  int listen_fd;
  int accepting; /* 0 while out of descriptors: see accept_clients */
  struct pair *closed;
  unsigned char scratch[kScratchSize];
};

/* Addresses of these tell the listener and the stop signal from ends. */
static char listener_tag, stop_tag;
static int stop_fd = -1;
static struct sockaddr_storage upstream;
static socklen_t upstream_len;

static int watch(struct worker *w, int op, int fd, uint32_t events, void *ptr) {
  struct epoll_event ev = {.events = events, .data.ptr = ptr};
  if (epoll_ctl(w->epoll_fd, op, fd, &ev) == 0) return 0;
  perror("floor_forwarder: epoll_ctl");
  return -1;
}

static void set_events(struct worker *w, struct end *e, uint32_t events) {
  if (e->events == events) return;
  e->events = events;
  watch(w, EPOLL_CTL_MOD, e->fd, events, e);
}

/* Closes both sockets at once; the struct is freed after the current batch
 * of events, which may still name it. */
static void close_pair(struct worker *w, struct pair *p) {
  if (p->closed) return;
  p->closed = 1;
  close(p->client.fd);
  close(p->server.fd);
  free(p->client.backlog);
  free(p->server.backlog);
  p->next_closed = w->closed;
  w->closed = p;
  if (!w->accepting) {
    /* Descriptors were just freed: take new clients again. */
    w->accepting = 1;
    watch(w, EPOLL_CTL_MOD, w->listen_fd, EPOLLIN, &listener_tag);
  }
}

static void set_nodelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void open_pair(struct worker *w, int client_fd) {
  int server_fd = socket(upstream.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (server_fd < 0) {
    perror("floor_forwarder: socket");
    close(client_fd);
    return;
  }
  set_nodelay(client_fd);
  set_nodelay(server_fd);
  /* Bytes the client sends before the connection is up meet EAGAIN and wait
   * in a backlog for EPOLLOUT, like any other partial send. */
  if (connect(server_fd, (struct sockaddr *)&upstream, upstream_len) < 0 && errno != EINPROGRESS) {
    perror("floor_forwarder: connect to upstream");
    close(server_fd);
    close(client_fd);
    return;
  }
  struct pair *p = calloc(1, sizeof *p);
  if (p == NULL) {
    close(server_fd);
    close(client_fd);
    return;
  }
  p->client = (struct end){.fd = client_fd, .events = EPOLLIN, .peer = &p->server, .pair = p};
  p->server = (struct end){.fd = server_fd, .events = EPOLLIN, .peer = &p->client, .pair = p};
  if (watch(w, EPOLL_CTL_ADD, client_fd, EPOLLIN, &p->client) < 0 ||
      watch(w, EPOLL_CTL_ADD, server_fd, EPOLLIN, &p->server) < 0) {
    /* close() takes a descriptor out of the epoll set; the pair is freed
     * with the other closed ones. */
    close_pair(w, p);
  }
}

static void accept_clients(struct worker *w) {
  /* A bounded batch, so that a burst of connections does not starve the
   * pairs this thread already relays. */
  for (int i = 0; i < 64; i++) {
    int fd = accept4(w->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      open_pair(w, fd);
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    if (errno == EMFILE || errno == ENFILE) {
      /* The listener stays readable and level-triggered epoll would spin
       * on it: stop watching it until a pair closes. */
      w->accepting = 0;
      watch(w, EPOLL_CTL_MOD, w->listen_fd, 0, &listener_tag);
      fprintf(stderr, "floor_forwarder: accept: %s; waiting for a session to end\n", strerror(errno));
      return;
    }
    perror("floor_forwarder: accept");
    return;
  }
}

/* Sends the rest of e's backlog; when it is all out, reading its peer
 * resumes. */
static void flush_backlog(struct worker *w, struct end *e) {
  struct backlog *b = e->backlog;
  ssize_t n;
  do {
    n = send(e->fd, b->data + b->offset, b->length - b->offset, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) close_pair(w, e->pair);
    return;
  }
  b->offset += (size_t)n;
  if (b->offset < b->length) return;
  free(b);
  e->backlog = NULL;
  set_events(w, e, e->events & ~(uint32_t)EPOLLOUT);
  set_events(w, e->peer, e->peer->events | EPOLLIN);
}

/* One recv from e, one send to its peer. */
static void forward(struct worker *w, struct end *e) {
  ssize_t got;
  do {
    got = recv(e->fd, w->scratch, sizeof w->scratch, 0);
  } while (got < 0 && errno == EINTR);
  if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  if (got <= 0) {
    close_pair(w, e->pair);
    return;
  }
  struct end *to = e->peer;
  ssize_t sent;
  do {
    sent = send(to->fd, w->scratch, (size_t)got, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      close_pair(w, e->pair);
      return;
    }
    sent = 0;
  }
  if (sent == got) return;
  const size_t rest = (size_t)(got - sent);
  struct backlog *b = malloc(sizeof *b + rest);
  if (b == NULL) {
    close_pair(w, e->pair);
    return;
  }
  b->offset = 0;
  b->length = rest;
  memcpy(b->data, w->scratch + sent, rest);
  to->backlog = b;
  set_events(w, e, e->events & ~(uint32_t)EPOLLIN);
  set_events(w, to, to->events | EPOLLOUT);
}

static void handle(struct worker *w, struct end *e, uint32_t revents) {
  if (e->pair->closed) return;
  if (revents & EPOLLERR) {
    close_pair(w, e->pair);
    return;
  }
  if ((revents & EPOLLOUT) && e->backlog != NULL) {
    flush_backlog(w, e);
    if (e->pair->closed) return;
  }
  if ((revents & EPOLLIN) && (e->events & EPOLLIN)) {
    forward(w, e);
  } else if ((revents & EPOLLHUP) && !(revents & EPOLLIN)) {
    /* Hung up with nothing left to read, or while not being read: no
     * further byte can go either way. */
    close_pair(w, e->pair);
  }
}

static void *run_worker(void *arg) {
  struct worker *w = arg;
  struct epoll_event events[kMaxEvents];
  for (;;) {
    int n = epoll_wait(w->epoll_fd, events, kMaxEvents, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("floor_forwarder: epoll_wait");
      return NULL;
    }
    for (int i = 0; i < n; i++) {
      void *ptr = events[i].data.ptr;
      if (ptr == &stop_tag) return NULL;
      if (ptr == &listener_tag) {
        accept_clients(w);
      } else {
        handle(w, ptr, events[i].events);
      }
    }
    while (w->closed != NULL) {
      struct pair *p = w->closed;
      w->closed = p->next_closed;
      free(p);
    }
  }
}

static int listen_on(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int one = 1;
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
      bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, SOMAXCONN) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int resolve_upstream(const char *spec) {
  const char *colon = strrchr(spec, ':');
  char host[256];
  const size_t host_len = colon == NULL ? 0 : (size_t)(colon - spec);
  if (host_len == 0 || host_len >= sizeof host || colon[1] == '\0') {
    fprintf(stderr, "floor_forwarder: --upstream wants HOST:PORT, not %s\n", spec);
    return -1;
  }
  memcpy(host, spec, host_len);
  host[host_len] = '\0';
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  struct addrinfo *found = NULL;
  const int rc = getaddrinfo(host, colon + 1, &hints, &found);
  if (rc != 0) {
    fprintf(stderr, "floor_forwarder: %s: %s\n", spec, gai_strerror(rc));
    return -1;
  }
  memcpy(&upstream, found->ai_addr, found->ai_addrlen);
  upstream_len = found->ai_addrlen;
  freeaddrinfo(found);
  return 0;
}

static void usage(void) {
  fprintf(stderr, "usage: floor_forwarder --listen PORT --upstream HOST:PORT [--threads N]\n");
}

int main(int argc, char **argv) {
  long port = 0;
  long threads = sysconf(_SC_NPROCESSORS_ONLN);
  if (threads <= 0) threads = 1;
  const char *upstream_spec = NULL;
  for (int i = 1; i < argc; i++) {
    if (i + 1 >= argc) {
      usage();
      return 2;
    }
    if (strcmp(argv[i], "--listen") == 0) {
      port = strtol(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--upstream") == 0) {
      upstream_spec = argv[++i];
    } else if (strcmp(argv[i], "--threads") == 0) {
      threads = strtol(argv[++i], NULL, 10);
    } else {
      usage();
      return 2;
    }
  }
  if (port <= 0 || port > 65535 || upstream_spec == NULL || threads <= 0 || threads > 1024) {
    usage();
    return 2;
  }
  if (resolve_upstream(upstream_spec) < 0) return 2;

  /* Two descriptors per session: take all the hard limit allows. */
  struct rlimit files;
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }

  /* The signals are taken by sigwait below; workers inherit the mask. */
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

  /* Never read: once written, it stays readable and wakes every worker. */
  stop_fd = eventfd(0, EFD_CLOEXEC);
  struct worker *workers = calloc((size_t)threads, sizeof *workers);
  if (stop_fd < 0 || workers == NULL) {
    perror("floor_forwarder");
    return 1;
  }
  /* Every listener is bound before any thread runs, so the port accepts
   * connections as soon as it can be reached at all. */
  for (long i = 0; i < threads; i++) {
    struct worker *w = &workers[i];
    w->accepting = 1;
    w->listen_fd = listen_on((int)port);
    if (w->listen_fd < 0) {
      fprintf(stderr, "floor_forwarder: listen on 127.0.0.1:%ld: %s\n", port, strerror(errno));
      return 1;
    }
    w->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (w->epoll_fd < 0 || watch(w, EPOLL_CTL_ADD, w->listen_fd, EPOLLIN, &listener_tag) < 0 ||
        watch(w, EPOLL_CTL_ADD, stop_fd, EPOLLIN, &stop_tag) < 0) {
      perror("floor_forwarder: epoll");
      return 1;
    }
  }
  for (long i = 0; i < threads; i++) {
    const int rc = pthread_create(&workers[i].thread, NULL, run_worker, &workers[i]);
    if (rc != 0) {
      fprintf(stderr, "floor_forwarder: pthread_create: %s\n", strerror(rc));
      return 1;
    }
  }

  int signo = 0;
  sigwait(&stop_signals, &signo);
  const uint64_t one = 1;
  if (write(stop_fd, &one, sizeof one) != (ssize_t)sizeof one) {
    perror("floor_forwarder: eventfd");
    return 1;
  }
  for (long i = 0; i < threads; i++) pthread_join(workers[i].thread, NULL);
  /* Sessions still open end with the process, which closes their sockets. */
  return 0;
}
