#include "socket.h"

#include <errno.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

namespace zc {
namespace sock {

int64_t Unacked(int fd) {
  int queued = 0;
  return ioctl(fd, SIOCOUTQ, &queued) == -1 ? -errno : queued;
}

int Reset(int fd) {
  struct sockaddr unspec {};
  unspec.sa_family = AF_UNSPEC;
  int r;
  do r = connect(fd, &unspec, sizeof unspec);
  while (r == -1 && errno == EINTR);
  return r == -1 ? -errno : 0;
}

}  // namespace sock
}  // namespace zc
