// The native baseline for a relay: accept one connection, connect to 127.0.0.1:<target>, and copy what
// arrives with read+write (1 MiB buffer) until the client ends. Prints the port, then {"cpu":..} at the end.
//   relay <target-port>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK (1 << 20)

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET};
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  socklen_t len = sizeof addr;
  if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listener, 1) < 0) return 1;
  getsockname(listener, (struct sockaddr *)&addr, &len);
  printf("%d\n", ntohs(addr.sin_port));
  fflush(stdout);
  int in = accept(listener, NULL, NULL);
  int out = socket(AF_INET, SOCK_STREAM, 0);
  addr.sin_port = htons(atoi(argv[1]));
  if (connect(out, (struct sockaddr *)&addr, sizeof addr) < 0) return 1;
  char *buf = malloc(CHUNK);
  for (;;) {
    ssize_t n = read(in, buf, CHUNK);
    if (n <= 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(out, buf + off, (size_t)(n - off));
      if (w <= 0) return 1;
      off += w;
    }
  }
  shutdown(out, SHUT_WR);
  while (read(out, buf, CHUNK) > 0) {
  }
  shutdown(in, SHUT_WR);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("{\"cpu\":%.6f}\n", ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
  return 0;
}
