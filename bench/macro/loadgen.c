// The latency generator's engine in C: HTTP/1.1 GETs over keep-alive connections to 127.0.0.1,
// open loop (sends on a fixed schedule, latency from the scheduled time) or closed loop; it prints
// one line per request and computes nothing else (openloop.ts turns the lines into figures).
//
// Why C: the Node generator's own pauses (its GC, undici's work, the event loop) reached 10 ms at
// p99 against a direct upstream at 1,000 req/s, larger than what a proxy adds; here a request
// costs a write and a read, and the clock is a timerfd with 1 ns slack.
//
// Usage: loadgen PORT MODE RATE CONNECTIONS DURATION_S WARMUP REQUEST_FILE
//   MODE open|closed; RATE per second (open); WARMUP requests sent closed-loop first, not printed;
//   REQUEST_FILE holds the exact request bytes (the head, ending in an empty line).
// Output: a line "S" when the measured part starts, then per request "k lat_ns lag_ns outcome"
// (open: in scheduled order, lat -1 when not completed; outcome 0 ok, 1 network error or not
// completed, 2 non-2xx), then "E elapsed_ns".
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define BUF 65536
#define MAX_CONN 1024

typedef struct {
  int fd;
  int busy;           /* a request is out on it */
  long req;           /* its index (-1: warm-up) */
  int64_t sched;      /* scheduled (open) or sent (closed) time, ns */
  char buf[BUF];
  size_t len;
} conn_t;

static const char *request;
static size_t request_len;
static int port;
static conn_t conns[MAX_CONN];
static int nconn;
static int ep;

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void die(const char *what) {
  perror(what);
  exit(2);
}

static int dial(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static void attach(conn_t *c) {
  struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e) < 0) die("epoll_ctl");
}

static void redial(conn_t *c) {
  if (c->fd >= 0) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
  }
  c->fd = dial();
  c->len = 0;
  c->busy = 0;
  if (c->fd >= 0) attach(c);
}

/* Send the request on c; 0 when written whole. */
static int send_on(conn_t *c) {
  if (c->fd < 0) redial(c);
  if (c->fd < 0) return -1;
  size_t off = 0;
  while (off < request_len) {
    ssize_t n = write(c->fd, request + off, request_len - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    off += (size_t)n;
  }
  c->busy = 1;
  c->len = 0;
  return 0;
}

/*
 * Is c->buf one whole response? Returns its length, 0 when more is needed, -1 when it cannot be
 * read. Sets *status. Knows Content-Length and chunked bodies (the peers answer with one of them).
 */
static long whole_response(conn_t *c, int *status) {
  c->buf[c->len < BUF ? c->len : BUF - 1] = 0;
  char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
  if (end == NULL) return c->len >= BUF - 1 ? -1 : 0;
  size_t head = (size_t)(end - c->buf) + 4;
  if (c->len < 12 || memcmp(c->buf, "HTTP/1.", 7) != 0) return -1;
  *status = atoi(c->buf + 9);
  long body = -1;
  int chunked = 0;
  for (char *p = c->buf; p < end; ) {
    char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
    if (eol == NULL) eol = end;
    if (strncasecmp(p, "content-length:", 15) == 0) body = atol(p + 15);
    else if (strncasecmp(p, "transfer-encoding:", 18) == 0 && memmem(p, (size_t)(eol - p), "chunked", 7))
      chunked = 1;
    p = eol + 2;
  }
  if (*status == 204 || *status == 304) return (long)head;
  if (chunked) {
    size_t off = head;
    for (;;) {
      char *eol = memmem(c->buf + off, c->len - off, "\r\n", 2);
      if (eol == NULL) return 0;
      long size = strtol(c->buf + off, NULL, 16);
      size_t data = (size_t)(eol - c->buf) + 2;
      if (size == 0) {
        char *fin = memmem(c->buf + data - 2, c->len - (data - 2), "\r\n\r\n", 4);
        return fin == NULL ? 0 : (long)((size_t)(fin - c->buf) + 4);
      }
      if (data + (size_t)size + 2 > c->len) return c->len >= BUF - 1 ? -1 : 0;
      off = data + (size_t)size + 2;
    }
  }
  if (body < 0) return -1;
  return c->len >= head + (size_t)body ? (long)(head + (size_t)body) : 0;
}

/* Read what c has; returns 1 when a response completed (status in *status), 0 when not yet, -1 on
 * a network error (the connection is redialed). */
static int on_readable(conn_t *c, int *status) {
  ssize_t n = read(c->fd, c->buf + c->len, BUF - 1 - c->len);
  if (n <= 0) {
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 0;
    redial(c);
    return -1;
  }
  c->len += (size_t)n;
  long got = whole_response(c, status);
  if (got == 0) return 0;
  if (got < 0) {
    redial(c);
    return -1;
  }
  c->busy = 0;
  c->len = 0;
  return 1;
}

static conn_t *idle_conn(void) {
  for (int i = 0; i < nconn; i++)
    if (!conns[i].busy) return &conns[i];
  return NULL;
}

/* Closed loop: `total` requests (or until `until` when total < 0); print them when `print`. */
static long closed_loop(long total, int64_t until, int print) {
  long sent = 0, done = 0;
  for (int i = 0; i < nconn; i++) {
    if (total >= 0 && sent >= total) break;
    conns[i].req = sent;
    conns[i].sched = now_ns();
    if (send_on(&conns[i]) == 0) sent++;
  }
  struct epoll_event ev[64];
  while (done < sent) {
    int n = epoll_wait(ep, ev, 64, 1000);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int i = 0; i < n; i++) {
      conn_t *c = ev[i].data.ptr;
      if (!c->busy) {
        int st;
        on_readable(c, &st); /* unexpected bytes or a close on an idle connection */
        continue;
      }
      int status = 0;
      int r = on_readable(c, &status);
      if (r == 0) continue;
      int64_t t = now_ns();
      done++;
      if (print)
        printf("%ld %lld 0 %d\n", c->req, (long long)(r > 0 ? t - c->sched : -1),
               r < 0 ? 1 : (status >= 200 && status < 300 ? 0 : 2));
      int more = total >= 0 ? sent < total : t < until;
      if (more) {
        c->req = sent;
        c->sched = now_ns();
        if (send_on(c) == 0) sent++;
      }
    }
  }
  return done;
}

static void arm(int tfd, int64_t at) {
  struct itimerspec its = {0};
  its.it_value.tv_sec = at / 1000000000;
  its.it_value.tv_nsec = at % 1000000000;
  if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0) die("timerfd_settime");
}

static void open_loop(double rate, double duration) {
  long total = (long)(rate * duration + 0.5);
  double interval = 1e9 / rate;
  int64_t *lat = malloc(sizeof(int64_t) * (size_t)total);
  int64_t *lag = malloc(sizeof(int64_t) * (size_t)total);
  unsigned char *outcome = malloc((size_t)total);
  long *queue = malloc(sizeof(long) * (size_t)total); /* due, waiting for a connection */
  if (!lat || !lag || !outcome || !queue) die("malloc");
  for (long k = 0; k < total; k++) {
    lat[k] = -1;
    lag[k] = 0;
    outcome[k] = 1;
  }
  long qhead = 0, qtail = 0, next = 0, inflight = 0;
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (tfd < 0) die("timerfd_create");
  struct epoll_event te = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &te);
  int64_t start = now_ns() + 20000000;
  arm(tfd, start);
  printf("S\n");
  struct epoll_event ev[64];
  int64_t drain_until = -1;
  for (;;) {
    if (next == total && inflight == 0 && qhead == qtail) break;
    if (drain_until >= 0 && now_ns() > drain_until) break;
    int n = epoll_wait(ep, ev, 64, 100);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    int64_t t = now_ns();
    for (int i = 0; i < n; i++) {
      conn_t *c = ev[i].data.ptr;
      if (c == NULL) {
        uint64_t ticks;
        if (read(tfd, &ticks, sizeof ticks) < 0 && errno != EAGAIN) die("read timerfd");
        while (next < total && start + (int64_t)(next * interval) <= t) queue[qtail++] = next++;
        if (next < total) arm(tfd, start + (int64_t)(next * interval));
        else drain_until = t + 10000000000LL;
        continue;
      }
      if (!c->busy) {
        int st;
        on_readable(c, &st);
        continue;
      }
      int status = 0;
      int r = on_readable(c, &status);
      if (r == 0) continue;
      inflight--;
      long k = c->req;
      int64_t sched = start + (int64_t)(k * interval);
      if (r > 0) lat[k] = t - sched;
      outcome[k] = r < 0 ? 1 : (status >= 200 && status < 300 ? 0 : 2);
    }
    /* Send what is due on idle connections, oldest first. */
    conn_t *c;
    while (qhead < qtail && (c = idle_conn()) != NULL) {
      long k = queue[qhead++];
      int64_t sched = start + (int64_t)(k * interval);
      c->req = k;
      c->sched = sched;
      lag[k] = now_ns() - sched;
      if (send_on(c) == 0) inflight++;
      else outcome[k] = 1;
    }
  }
  int64_t elapsed = now_ns() - start;
  for (long k = 0; k < total; k++)
    printf("%ld %lld %lld %d\n", k, (long long)lat[k], (long long)lag[k], outcome[k]);
  printf("E %lld\n", (long long)elapsed);
}

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: loadgen PORT open|closed RATE CONNECTIONS DURATION_S WARMUP REQUEST_FILE\n");
    return 2;
  }
  port = atoi(argv[1]);
  int open_mode = strcmp(argv[2], "open") == 0;
  double rate = atof(argv[3]);
  nconn = atoi(argv[4]);
  double duration = atof(argv[5]);
  long warmup = atol(argv[6]);
  if (port <= 0 || nconn <= 0 || nconn > MAX_CONN || duration <= 0 || (open_mode && rate <= 0)) {
    fprintf(stderr, "loadgen: bad arguments\n");
    return 2;
  }
  FILE *f = fopen(argv[7], "rb");
  if (f == NULL) die("request file");
  static char req[16384];
  request_len = fread(req, 1, sizeof req, f);
  fclose(f);
  request = req;
  prctl(PR_SET_TIMERSLACK, 1UL);
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  for (int i = 0; i < nconn; i++) {
    conns[i].fd = -1;
    redial(&conns[i]);
    if (conns[i].fd < 0) die("connect");
  }
  if (warmup > 0) closed_loop(warmup, 0, 0);
  if (open_mode) {
    open_loop(rate, duration);
  } else {
    printf("S\n");
    int64_t t0 = now_ns();
    closed_loop(-1, t0 + (int64_t)(duration * 1e9), 1);
    printf("E %lld\n", (long long)(now_ns() - t0));
  }
  return 0;
}
