// What a lease needs to know about a socket whose send queue may still reference the leased file's pages
// (sendfile queues page references, not copies): how much the peer has not acknowledged yet, and a reset that
// discards it. Plain syscall code returning -errno.
#pragma once
#include <stdint.h>

namespace zc {
namespace sock {

// Bytes queued on the socket and not yet acknowledged by its peer (SIOCOUTQ), or -errno.
int64_t Unacked(int fd);

// Resets a TCP connection through any fd of it, even while others (libuv's) stay open: connect(AF_UNSPEC) runs
// tcp_disconnect, which sends RST and frees the send queue. Closing a duplicate does neither while another fd
// remains, and shutdown() keeps the queue. 0 or -errno.
int Reset(int fd);

}  // namespace sock
}  // namespace zc
