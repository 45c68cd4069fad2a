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

#include <fmt/format.h>

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
  s.lock.reset(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!s.lock) fail("lock file " + lock_path, errno);
  // flock needs no write access: a lock file others can open is a lock others can hold.
  struct stat st{};
  if (::fstat(s.lock.get(), &st) != 0) fail("fstat " + lock_path, errno);
  if (st.st_uid != ::geteuid())
    throw std::runtime_error(fmt::format("{}: owned by uid {}, not by the broker's uid {}: refused", lock_path,
                                         st.st_uid, ::geteuid()));
  if ((st.st_mode & 077) != 0 && ::fchmod(s.lock.get(), 0600) != 0) fail("chmod " + lock_path, errno);
  if (::flock(s.lock.get(), LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    if (e == EWOULDBLOCK) throw std::runtime_error(path + ": in use by a live broker (" + lock_path + " is locked)");
    fail("flock " + lock_path, e);
  }
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) throw std::runtime_error(path + ": exists and is not a socket; not removing it");
    const UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!probe) fail("socket", errno);
    const int rc = ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    const int e = errno;
    if (rc == 0 || e == EAGAIN) throw std::runtime_error(path + ": a live process is listening on it");
    if (e != ECONNREFUSED && e != ENOENT) fail(path + ": cannot probe the existing socket", e);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) fail(path + ": cannot remove the stale socket", errno);
    log_info("removed stale socket " + path);
  } else if (errno != ENOENT) {
    fail(path, errno);
  }
  s.fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!s.fd) fail("socket", errno);
  // The file is created by bind() with mode 0777 & ~umask: set the umask so that it never
  // exists with wider permissions than asked, even for an instant.
  const mode_t old = ::umask(static_cast<mode_t>(~mode & 0777));
  const int rc = ::bind(s.fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int e = errno;
  ::umask(old);
  if (rc != 0) fail("bind " + path, e);
  if (::chmod(path.c_str(), mode) != 0) fail("chmod " + path, errno);
  if (::listen(s.fd.get(), backlog) != 0) fail("listen " + path, errno);
  if (::stat(path.c_str(), &st) != 0) fail("stat " + path, errno);
  s.dev = st.st_dev;
  s.ino = st.st_ino;
  return s;
}

void remove_listen_socket(const std::string& path, const ListenSocket& s) {
  struct stat st{};
  if (::lstat(path.c_str(), &st) == 0 && st.st_dev == s.dev && st.st_ino == s.ino) ::unlink(path.c_str());
}

}  // namespace samering::broker
