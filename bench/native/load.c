// The bench's HTTP/1.1 load generator: N keep-alive connections to one URL for a fixed duration, one request in
// flight per connection, on one thread with epoll (on a 2-core machine the server needs the other core).
//   load -c <connections> -d <seconds> [-t <timeout seconds>] http://<IPv4>:<port>/<path>
// Prints one JSON line: completed responses, the duration, the bytes of those responses, every byte received
// (the response in flight at the deadline included: a rate for files too large to complete), non-2xx responses,
// socket errors (reset, or closed mid-exchange), connect errors, bad responses (no parsable status line or
// Content-Length, conflicting or malformed Content-Lengths, a chunked body, oversized headers, bytes beyond the
// body, whether they come with it or after it), timeouts, and latency percentiles in µs.
// A response is parsed by its status line and Content-Length, and its body skipped by count (recv MSG_TRUNC:
// TCP drops the bytes without copying them, so the client's CPU stays off the server's core, as a remote
// client's would); 1xx interim responses before it (100 Continue, 103 Early Hints) are skipped, as RFC 9110
// 15.2 asks of a client. A response counts once its last byte has arrived before the deadline: one still in
// flight then does not. A connection that fails is counted and replaced (a failed connect is retried at the next
// sweep). A connection that has not moved for the timeout is a timeout, and so is one that, at the deadline,
// has not moved for half the run or more: a server that stops answering is an error even in a run shorter than
// the timeout. The run ends at the deadline whatever the server does.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX 8192     // a response head larger than this is a bad response
#define MAX_CONNECTIONS 4096
#define MAX_EVENTS 256
#define SWEEP_SECONDS 0.1  // how often failed connects are retried and stalled connections looked for

enum state { DOWN, CONNECTING, SENDING, HEAD, BODY };  // DOWN: its connect failed, it retries at the next sweep

struct conn {
  int fd;
  enum state state;
  size_t sent;            // bytes of the request written
  char head[HEAD_MAX];    // the response head as it arrives
  size_t head_len;
  uint64_t body_left;     // body bytes still to come
  uint64_t response_len;  // head + body of the current response
  int close_after;        // the response said Connection: close
  int status;
  double started;         // when the current request began (its latency runs from here)
  double progressed;      // when the connection last moved (connected, wrote, or read a byte)
};

static struct {
  uint64_t requests, bytes, received, non2xx, socket_errors, connect_errors, bad_responses, timeouts;
} counts;

static uint32_t *latencies;  // µs per completed response
static size_t latency_len, latency_cap;

static struct sockaddr_in target;
static char request[1024];
static size_t request_len;
static int epfd;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void usage(void) {
  fprintf(stderr, "usage: load -c <connections 1-%d> -d <seconds> [-t <timeout seconds>] http://<IPv4>:<port>/<path>\n",
          MAX_CONNECTIONS);
  exit(2);
}

static double positive(const char *text) {
  char *end;
  double value = strtod(text, &end);
  if (end == text || *end != '\0' || !(value > 0) || value > 1e6) usage();
  return value;
}

/** http://a.b.c.d:port/path into `target` and the request text; anything else is a usage error. */
static void parse_url(const char *url) {
  const char *prefix = "http://";
  if (strncmp(url, prefix, strlen(prefix)) != 0) usage();
  const char *host = url + strlen(prefix);
  const char *colon = strchr(host, ':');
  const char *slash = strchr(host, '/');
  if (!colon || (slash && slash < colon) || colon - host >= 16) usage();
  char ip[16];
  memcpy(ip, host, (size_t)(colon - host));
  ip[colon - host] = '\0';
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (end == colon + 1 || port < 1 || port > 65535 || (*end != '\0' && *end != '/')) usage();
  target.sin_family = AF_INET;
  target.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, ip, &target.sin_addr) != 1) usage();
  const char *path = *end == '/' ? end : "/";
  int n = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: %s:%ld\r\n\r\n", path, ip, port);
  if (n < 0 || (size_t)n >= sizeof request) usage();
  request_len = (size_t)n;
}

static void watch(struct conn *c, int op, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.ptr = c};
  if (epoll_ctl(epfd, op, c->fd, &ev) < 0) {
    perror("epoll_ctl");
    exit(1);
  }
}

static void open_conn(struct conn *c, double t) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    perror("socket");
    exit(1);
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->state = CONNECTING;
  c->started = c->progressed = t;
  c->head_len = 0;
  // A connect refused at once leaves a closed socket, which epoll reports (EPOLLHUP): counted there, once.
  connect(c->fd, (struct sockaddr *)&target, sizeof target);
  watch(c, EPOLL_CTL_ADD, EPOLLOUT);
}

static void close_conn(struct conn *c) {
  close(c->fd);  // also removes it from the epoll set
  c->fd = -1;
}

/** A connect that failed: counted, and retried at the next sweep rather than at once (no busy loop on a dead port). */
static void connect_failed(struct conn *c) {
  counts.connect_errors++;
  close_conn(c);
  c->state = DOWN;
}

/** Drops the connection (counting why) and opens a new one in its place. */
static void replace(struct conn *c, uint64_t *counter, double t) {
  (*counter)++;
  close_conn(c);
  open_conn(c, t);
}

static void start_request(struct conn *c, double t) {
  c->state = SENDING;
  c->sent = 0;
  c->head_len = 0;
  c->started = c->progressed = t;
}

/** Writes what is left of the request; on completion waits for the response. 0 when the socket failed. */
static int send_request(struct conn *c) {
  while (c->sent < request_len) {
    ssize_t n = send(c->fd, request + c->sent, request_len - c->sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EAGAIN) {
      watch(c, EPOLL_CTL_MOD, EPOLLOUT);
      return 1;
    }
    if (n <= 0) return 0;
    c->sent += (size_t)n;
  }
  c->state = HEAD;
  watch(c, EPOLL_CTL_MOD, EPOLLIN);
  return 1;
}

enum head { BAD, INTERIM, FINAL };

static int is_ows(char c) { return c == ' ' || c == '\t'; }

/** A Content-Length value: one decimal number, or a list of equal ones (RFC 9112 6.3). 0 when malformed. */
static int parse_length(const char *p, const char *end, uint64_t *length) {
  for (int first = 1;; first = 0) {
    while (p < end && is_ows(*p)) p++;
    if (p == end || *p < '0' || *p > '9') return 0;
    uint64_t value = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
      if (value > (UINT64_MAX - 9) / 10) return 0;
      value = value * 10 + (uint64_t)(*p - '0');
    }
    if (!first && value != *length) return 0;
    *length = value;
    while (p < end && is_ows(*p)) p++;
    if (p == end) return 1;
    if (*p++ != ',') return 0;
  }
}

/** Whether the comma-separated list [p, end) holds `token` (case-insensitive), as Connection: keep-alive, close. */
static int has_token(const char *p, const char *end, const char *token) {
  size_t n = strlen(token);
  while (p < end) {
    while (p < end && (is_ows(*p) || *p == ',')) p++;
    const char *start = p;
    while (p < end && *p != ',') p++;
    const char *stop = p;
    while (stop > start && is_ows(stop[-1])) stop--;
    if ((size_t)(stop - start) == n && strncasecmp(start, token, n) == 0) return 1;
  }
  return 0;
}

/**
 * Parses a complete head: FINAL for a response we can count, INTERIM for a 1xx before it (no body; 101 is not
 * one: the connection would speak another protocol), BAD for garbage or framing that cannot be trusted.
 */
static enum head parse_head(struct conn *c, size_t head_end) {
  const char *h = c->head;
  if (head_end < 13 || strncmp(h, "HTTP/1.", 7) != 0 || (h[7] != '0' && h[7] != '1') || h[8] != ' ') return BAD;
  for (int i = 9; i < 12; i++)
    if (h[i] < '0' || h[i] > '9') return BAD;
  if (h[12] != ' ' && h[12] != '\r') return BAD;  // a status code is three digits
  c->status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
  if (c->status / 100 == 1) return c->status == 101 ? BAD : INTERIM;
  int has_length = 0, close = 0, keep_alive = 0;
  uint64_t length = 0;
  for (const char *line = memchr(h, '\n', head_end) + 1; line < h + head_end;) {
    const char *eol = memchr(line, '\n', (size_t)(h + head_end - line));
    if (!eol) break;
    const char *end = eol;
    while (end > line && (end[-1] == '\r' || is_ows(end[-1]))) end--;
    const char *colon = memchr(line, ':', (size_t)(eol - line));
    if (colon) {
      size_t name_len = (size_t)(colon - line);
      const char *value = colon + 1;
      if (name_len == 14 && strncasecmp(line, "content-length", 14) == 0) {
        uint64_t this_length = 0;
        if (!parse_length(value, end, &this_length) || (has_length && this_length != length)) return BAD;
        length = this_length;
        has_length = 1;
      } else if (name_len == 10 && strncasecmp(line, "connection", 10) == 0) {
        close |= has_token(value, end, "close");
        keep_alive |= has_token(value, end, "keep-alive");
      } else if (name_len == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
        return BAD;  // chunked bodies are not counted by length: the bench's servers all send Content-Length
      }
    }
    line = eol + 1;
  }
  c->close_after = close || (h[7] == '0' && !keep_alive);
  int bodiless = c->status == 204 || c->status == 304;
  if (!has_length && !bodiless) return BAD;
  c->body_left = bodiless ? 0 : length;
  c->response_len = head_end + c->body_left;
  return FINAL;
}

/**
 * Looks for the response's head in what has arrived, skipping 1xx interim responses: 1 once the final head is
 * complete (state BODY, the body bytes that came with it taken off body_left), 0 while more is needed, -1 for a
 * bad response.
 */
static int take_head(struct conn *c, size_t scanned) {
  for (;;) {
    char *end = memmem(c->head + scanned, c->head_len - scanned, "\r\n\r\n", 4);
    if (!end) return c->head_len < HEAD_MAX ? 0 : -1;
    size_t head_end = (size_t)(end - c->head) + 4;
    enum head kind = parse_head(c, head_end);
    if (kind == BAD) return -1;
    size_t extra = c->head_len - head_end;  // bytes that came after this head
    if (kind == INTERIM) {
      memmove(c->head, c->head + head_end, extra);
      c->head_len = extra;
      scanned = 0;
      continue;
    }
    if (extra > c->body_left) return -1;  // more than the response holds, and only one request was sent
    c->body_left -= extra;
    c->state = BODY;
    return 1;
  }
}

/** The response is complete: counts it, then sends the next request (or reconnects after Connection: close). */
static void complete(struct conn *c, double t) {
  // Bytes already waiting when no request is out belong to none: an unsolicited answer, which would otherwise be
  // taken as the answer to the next request.
  int waiting = 0;
  if (ioctl(c->fd, FIONREAD, &waiting) == 0 && waiting > 0) {
    replace(c, &counts.bad_responses, t);
    return;
  }
  counts.requests++;
  counts.bytes += c->response_len;
  if (c->status / 100 != 2) counts.non2xx++;
  if (latency_len == latency_cap) {
    latency_cap = latency_cap ? latency_cap * 2 : 65536;
    latencies = realloc(latencies, latency_cap * sizeof *latencies);
    if (!latencies) {
      perror("realloc");
      exit(1);
    }
  }
  double us = (t - c->started) * 1e6;
  latencies[latency_len++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
  if (c->close_after) {
    close_conn(c);
    open_conn(c, t);
    return;
  }
  start_request(c, t);
  if (!send_request(c)) replace(c, &counts.socket_errors, t);
}

/** Reads what the socket has for the current response. */
static void on_readable(struct conn *c, double t) {
  for (;;) {
    if (c->state == HEAD) {
      ssize_t n = recv(c->fd, c->head + c->head_len, HEAD_MAX - c->head_len, 0);
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0) {
        replace(c, &counts.socket_errors, t);  // reset, or closed before (or while) answering
        return;
      }
      c->progressed = t;
      counts.received += (uint64_t)n;
      size_t scanned = c->head_len >= 3 ? c->head_len - 3 : 0;
      c->head_len += (size_t)n;
      int took = take_head(c, scanned);
      if (took == 0) continue;
      if (took < 0) {
        replace(c, &counts.bad_responses, t);
        return;
      }
    }
    if (c->body_left == 0) {
      complete(c, t);
      return;
    }
    // Never more than the body: the bytes after it would belong to no request.
    size_t want = c->body_left > (1u << 30) ? (1u << 30) : (size_t)c->body_left;
    ssize_t n = recv(c->fd, NULL, want, MSG_TRUNC);
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      replace(c, &counts.socket_errors, t);
      return;
    }
    c->body_left -= (uint64_t)n;
    counts.received += (uint64_t)n;
    c->progressed = t;
  }
}

static void on_event(struct conn *c, uint32_t events, double t) {
  if (c->state == CONNECTING) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0 || (events & (EPOLLERR | EPOLLHUP))) {
      connect_failed(c);
      return;
    }
    start_request(c, t);
    if (!send_request(c)) replace(c, &counts.socket_errors, t);
    return;
  }
  if (c->state == SENDING) {
    if (!send_request(c)) replace(c, &counts.socket_errors, t);
    return;
  }
  on_readable(c, t);
}

static int by_value(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

static uint32_t percentile(double p) {
  if (latency_len == 0) return 0;
  size_t i = (size_t)(p * (double)(latency_len - 1) + 0.5);
  return latencies[i];
}

int main(int argc, char **argv) {
  long connections = 0;
  double seconds = 0, timeout = 10;
  for (int opt; (opt = getopt(argc, argv, "c:d:t:")) != -1;) {
    if (opt == 'c') {
      char *end;
      connections = strtol(optarg, &end, 10);
      if (end == optarg || *end != '\0' || connections < 1 || connections > MAX_CONNECTIONS) usage();
    } else if (opt == 'd') {
      seconds = positive(optarg);
    } else if (opt == 't') {
      timeout = positive(optarg);
    } else {
      usage();
    }
  }
  if (connections == 0 || seconds == 0 || optind != argc - 1) usage();
  parse_url(argv[optind]);

  // One fd per connection, plus epoll's and stdio's: the soft limit is raised to that, within the hard one.
  rlim_t fds = (rlim_t)connections + 16;
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < fds) {
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < fds) {
      fprintf(stderr, "load: -c %ld needs %llu file descriptors; the hard limit (ulimit -Hn) is %llu\n", connections,
              (unsigned long long)fds, (unsigned long long)limit.rlim_max);
      usage();
    }
    limit.rlim_cur = fds;
    if (setrlimit(RLIMIT_NOFILE, &limit) < 0) {
      perror("setrlimit");
      return 1;
    }
  }

  epfd = epoll_create1(EPOLL_CLOEXEC);
  struct conn *conns = calloc((size_t)connections, sizeof *conns);
  if (epfd < 0 || !conns) {
    perror("setup");
    return 1;
  }
  double start = now();
  double deadline = start + seconds;
  for (long i = 0; i < connections; i++) open_conn(&conns[i], start);

  struct epoll_event events[MAX_EVENTS];
  double next_sweep = start + SWEEP_SECONDS;
  for (double t = start; t < deadline;) {
    double wait_until = deadline < next_sweep ? deadline : next_sweep;
    int ms = (int)((wait_until - t) * 1000) + 1;
    int n = epoll_wait(epfd, events, MAX_EVENTS, ms);
    if (n < 0 && errno != EINTR) {
      perror("epoll_wait");
      return 1;
    }
    t = now();
    if (t >= deadline) break;  // whatever arrived after the deadline is not counted
    for (int i = 0; i < n; i++) on_event(events[i].data.ptr, events[i].events, t);
    if (t >= next_sweep) {
      // A failed connect is retried; a connection that has not moved for the timeout (a server that stopped
      // answering) is replaced.
      for (long i = 0; i < connections; i++) {
        struct conn *c = &conns[i];
        if (c->state == DOWN) open_conn(c, t);
        else if (t - c->progressed <= timeout) continue;
        else if (c->state == CONNECTING) connect_failed(c);
        else replace(c, &counts.timeouts, t);
      }
      next_sweep = t + SWEEP_SECONDS;
    }
  }
  // A connection that has not moved for half the run (or the timeout, if shorter) stalled: a server that stopped
  // answering is an error even in a run shorter than the timeout. One that is moving is not (a large response).
  double end = now();
  double stalled = seconds / 2 < timeout ? seconds / 2 : timeout;
  for (long i = 0; i < connections; i++) {
    struct conn *c = &conns[i];
    if (c->fd < 0) continue;
    if (end - c->progressed >= stalled) {
      if (c->state == CONNECTING) counts.connect_errors++;
      else counts.timeouts++;
    }
    close_conn(c);
  }

  qsort(latencies, latency_len, sizeof *latencies, by_value);
  printf("{\"requests\":%llu,\"seconds\":%.6f,\"bytes\":%llu,\"received\":%llu,\"non2xx\":%llu,\"socketErrors\":%llu,"
         "\"connectErrors\":%llu,\"badResponses\":%llu,\"timeouts\":%llu,\"connections\":%ld,"
         "\"latencyUs\":{\"p50\":%u,\"p90\":%u,\"p99\":%u,\"max\":%u}}\n",
         (unsigned long long)counts.requests, seconds, (unsigned long long)counts.bytes, (unsigned long long)counts.received,
         (unsigned long long)counts.non2xx, (unsigned long long)counts.socket_errors,
         (unsigned long long)counts.connect_errors, (unsigned long long)counts.bad_responses,
         (unsigned long long)counts.timeouts, connections, percentile(0.5), percentile(0.9), percentile(0.99),
         latency_len ? latencies[latency_len - 1] : 0);
  return 0;
}
