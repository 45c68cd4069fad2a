#include "listen_socket.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "log.hpp"

namespace samering::broker {

namespace {

[[noreturn]] void fail(const std::string& what, int e) { throw std::runtime_error(what + ": " + std::strerror(e)); }

sockaddr_un address_of(const std::string& path) {
  sockaddr_un addr{};
  if (path.empty() || path.size() >= sizeof addr.sun_path)
    throw std::runtime_error("socket path \"" + path + "\" is empty or longer than " +
                             std::to_string(sizeof addr.sun_path - 1) + " bytes");
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

}  // namespace

ListenSocket open_listen_socket(const std::string& path, unsigned mode, int backlog) {
  const sockaddr_un addr = address_of(path);
  ListenSocket s;
  const std::string lock_path = path + ".lock";
  s.lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (s.lock_fd < 0) fail("lock file " + lock_path, errno);
  if (::flock(s.lock_fd, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    ::close(s.lock_fd);
    if (e == EWOULDBLOCK) throw std::runtime_error(path + ": in use by a live broker (" + lock_path + " is locked)");
    fail("flock " + lock_path, e);
  }
  try {
    struct stat st{};
    if (::lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) throw std::runtime_error(path + ": exists and is not a socket; not removing it");
      const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (probe < 0) fail("socket", errno);
      const int rc = ::connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
      const int e = errno;
      ::close(probe);
      if (rc == 0 || e == EAGAIN) throw std::runtime_error(path + ": a live process is listening on it");
      if (e != ECONNREFUSED && e != ENOENT) fail(path + ": cannot probe the existing socket", e);
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) fail(path + ": cannot remove the stale socket", errno);
      log_info("removed stale socket " + path);
    } else if (errno != ENOENT) {
      fail(path, errno);
    }
    s.fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s.fd < 0) fail("socket", errno);
    // The file is created by bind() with mode 0777 & ~umask: set the umask so that it never
    // exists with wider permissions than asked, even for an instant.
    const mode_t old = ::umask(static_cast<mode_t>(~mode & 0777));
    const int rc = ::bind(s.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    const int e = errno;
    ::umask(old);
    if (rc != 0) fail("bind " + path, e);
    if (::chmod(path.c_str(), mode) != 0) fail("chmod " + path, errno);
    if (::listen(s.fd, backlog) != 0) fail("listen " + path, errno);
    if (::stat(path.c_str(), &st) != 0) fail("stat " + path, errno);
    s.dev = st.st_dev;
    s.ino = st.st_ino;
  } catch (...) {
    if (s.fd >= 0) ::close(s.fd);
    ::close(s.lock_fd);
    throw;
  }
  return s;
}

void remove_listen_socket(const std::string& path, const ListenSocket& s) {
  struct stat st{};
  if (::lstat(path.c_str(), &st) == 0 && st.st_dev == s.dev && st.st_ino == s.ino) ::unlink(path.c_str());
}

}  // namespace samering::broker
