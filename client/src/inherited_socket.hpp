// Dropping, in a forked child, the libmemcached connections inherited from the parent — without a
// single byte or a shutdown(2) on the parent's sockets.
#pragma once

#include <libmemcached/memcached.h>

#include <cstdint>
#include <span>

namespace samering::client_detail {

struct InheritedHandle {
  memcached_st* mc;           // a handle with one TCP server
  std::uint16_t server_port;  // that server's port
};

// Frees handles whose connections were opened by another process (the parent). libmemcached has
// no way to forget a socket without I/O: memcached_free() and memcached_quit() send "quit" and call
// shutdown(SHUT_RDWR), which would end the parent's connection too (libmemcached 1.1.4 quit.cc,
// io.cc close_socket). So each inherited descriptor is first found — the TCP socket whose local
// port is memcached_server_srcport() and whose peer port is the server's, one scan of
// /proc/self/fd for all handles — and replaced in place with an unconnected AF_UNIX socket
// (dup2); only then is the handle freed, and its "quit" fails with ENOTCONN on the placeholder.
//
// A handle whose descriptor cannot be identified with certainty (closed or reused by the child,
// or two candidates) is abandoned instead: its memory leaks and its descriptor stays open, unused.
// Returns how many handles were abandoned. Safe only in a single-threaded child (no other thread
// may open or close descriptors meanwhile).
std::size_t release_inherited(std::span<const InheritedHandle> handles) noexcept;

}  // namespace samering::client_detail
