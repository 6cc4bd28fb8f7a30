// The native baseline: send a file `times` times to a TCP receiver on 127.0.0.1 the way a C server would, so that
// every Node path can be shown as a distance to the limit. Prints {"seconds":..,"cpu":..} (this process only).
//   send <readwrite|sendfile|splice|mmap> <port> <times> <file> [<file>...]
// With several files, each send opens, sends and closes the next file (many small files on one connection).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1 << 20)

static void die(const char *what) {
  perror(what);
  exit(1);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("write");
    buf += n;
    len -= (size_t)n;
  }
}

static void send_readwrite(int sock, int fd, off_t size, char *buf) {
  for (off_t off = 0; off < size;) {
    ssize_t n = pread(fd, buf, size - off < CHUNK ? (size_t)(size - off) : CHUNK, off);
    if (n <= 0) die("pread");
    write_all(sock, buf, (size_t)n);
    off += n;
  }
}

static void send_sendfile(int sock, int fd, off_t size) {
  off_t off = 0;
  while (off < size) {
    ssize_t n = sendfile(sock, fd, &off, size - off < (4 << 20) ? (size_t)(size - off) : (4 << 20));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die("sendfile");
  }
}

static void send_splice(int sock, int fd, off_t size, int pipefd[2]) {
  loff_t off = 0;
  while (off < size) {
    ssize_t n = splice(fd, &off, pipefd[1], NULL, size - off < CHUNK ? (size_t)(size - off) : CHUNK, SPLICE_F_MOVE);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die("splice in");
    while (n > 0) {
      ssize_t m = splice(pipefd[0], NULL, sock, NULL, (size_t)n, SPLICE_F_MOVE | SPLICE_F_MORE);
      if (m < 0 && errno == EINTR) continue;
      if (m <= 0) die("splice out");
      n -= m;
    }
  }
}

// write(2) straight from a read-only mapping of the whole file: one copy, into socket memory.
static void send_mmap(int sock, int fd, off_t size) {
  if (size == 0) return;
  char *map = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) die("mmap");
  write_all(sock, map, (size_t)size);
  munmap(map, (size_t)size);
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: send <readwrite|sendfile|splice|mmap> <port> <times> <file>...\n");
    return 2;
  }
  const char *mode = argv[1];
  int port = atoi(argv[2]);
  long times = atol(argv[3]);
  char **files = argv + 4;
  int nfiles = argc - 4;

  int sock = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect");
  char *buf = malloc(CHUNK);
  int pipefd[2];
  if (pipe(pipefd) < 0) die("pipe");
  fcntl(pipefd[1], F_SETPIPE_SZ, CHUNK);

  double t0 = now(), c0 = cpu();
  for (long i = 0; i < times; i++) {
    int fd = open(files[i % nfiles], O_RDONLY);
    if (fd < 0) die("open");
    struct stat st;
    fstat(fd, &st);
    if (strcmp(mode, "readwrite") == 0) send_readwrite(sock, fd, st.st_size, buf);
    else if (strcmp(mode, "sendfile") == 0) send_sendfile(sock, fd, st.st_size);
    else if (strcmp(mode, "mmap") == 0) send_mmap(sock, fd, st.st_size);
    else send_splice(sock, fd, st.st_size, pipefd);
    close(fd);
  }
  shutdown(sock, SHUT_WR);
  // Wait for the receiver to close: everything sent has been read.
  while (read(sock, buf, CHUNK) > 0) {
  }
  printf("{\"seconds\":%.6f,\"cpu\":%.6f}\n", now() - t0, cpu() - c0);
  return 0;
}
