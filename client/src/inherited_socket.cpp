#include "inherited_socket.hpp"

#include <dirent.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "samering/unique_fd.hpp"

namespace samering::client_detail {
namespace {

// The port of a TCP/IPv4 or IPv6 address, or -1.
int port_of(const sockaddr_storage& a) noexcept {
  if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
  if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
  return -1;
}

struct Wanted {
  int local_port;  // 0: the handle has no socket
  int peer_port;
  int fd = -1;  // found; -2: found twice (ambiguous)
};

// Matches descriptor fd against every wanted connection.
void consider(int fd, std::vector<Wanted>& wanted) noexcept {
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return;
  const int local = port_of(a);
  if (local < 0) return;
  int peer = -2;  // asked for at most once
  for (Wanted& w : wanted) {
    if (w.local_port != local) continue;
    if (peer == -2) {
      len = sizeof a;
      int type = 0;
      socklen_t type_len = sizeof type;
      peer = (::getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0 &&
              ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) == 0 && type == SOCK_STREAM)
                 ? port_of(a)
                 : -1;
    }
    if (w.peer_port == peer) w.fd = w.fd == -1 ? fd : -2;
  }
}

void scan(std::vector<Wanted>& wanted) noexcept {
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    const int own = ::dirfd(dir);
    while (const dirent* e = ::readdir(dir)) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      const int fd = std::atoi(e->d_name);
      if (fd != own) consider(fd, wanted);
    }
    ::closedir(dir);
    return;
  }
  // No /proc: every possible descriptor number up to the soft limit (bounded).
  rlimit lim{};
  rlim_t max = 65536;
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < max) max = lim.rlim_cur;
  for (int fd = 0; fd < static_cast<int>(max); ++fd) consider(fd, wanted);
}

}  // namespace

std::size_t release_inherited(std::span<const InheritedHandle> handles) noexcept {
  std::vector<Wanted> wanted;
  bool any_socket = false;
  try {
    wanted.reserve(handles.size());
  } catch (...) {
    return handles.size();  // out of memory: abandon them all, the safe choice
  }
  for (const InheritedHandle& h : handles) {
    const memcached_instance_st* instance = memcached_server_instance_by_position(h.mc, 0);
    // srcport is 0 when the instance has no socket (libmemcached 1.1.4 server.cc: no system call
    // then): nothing to drop, and memcached_free does no I/O without a socket.
    const int local = instance ? memcached_server_srcport(instance) : 0;
    wanted.push_back(Wanted{local, h.server_port});
    any_socket = any_socket || local != 0;
  }
  if (any_socket) scan(wanted);

  std::size_t abandoned = 0;
  for (std::size_t i = 0; i < handles.size(); ++i) {
    if (wanted[i].local_port != 0) {
      // Not found (closed or reused by the child, or getsockname failed: srcport 65535) or
      // ambiguous: freeing would write "quit" to whatever that descriptor number is now.
      bool swapped = false;
      if (wanted[i].fd >= 0) {
        const UniqueFd placeholder(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        // dup2 swaps the descriptor atomically: the child's reference to the parent's socket is
        // released (no FIN: the parent still holds it) and the number now names the placeholder.
        if (placeholder) swapped = ::dup2(placeholder.get(), wanted[i].fd) == wanted[i].fd;
      }
      if (!swapped) {
        ++abandoned;
        continue;
      }
    }
    memcached_free(handles[i].mc);
  }
  return abandoned;
}

}  // namespace samering::client_detail
