// samering/unique_fd.hpp — UniqueFd, a move-only owner of one POSIX file descriptor: closed when
// the owner goes, so that no path (an exception, an early return) leaks or double-closes one.
// Used by the broker daemon, the broker clients and the memcached client; header-only.
//
//   samering::UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
//   if (!fd) throw ...;               // -1: nothing owned
//   ::fstat(fd.get(), &st);           // borrow
//   int raw = fd.release();           // hand it to something else that closes it
//
// Fork: a child inherits the descriptor and its own UniqueFd copy in memory; each process closes
// its own copy (close() on a shared socket is what the fork rule wants: never shutdown()).
// Threads: one owner per descriptor; the object itself is not synchronised.
#pragma once

#include <unistd.h>

#include <utility>

namespace samering {

class UniqueFd {
 public:
  UniqueFd() noexcept = default;
  // Takes ownership of `fd` (-1 or any negative value: owns nothing).
  explicit UniqueFd(int fd) noexcept : fd_(fd < 0 ? -1 : fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  // Gives up ownership without closing; returns the descriptor (-1 if none).
  int release() noexcept { return std::exchange(fd_, -1); }
  // Closes the owned descriptor (its close() error is ignored: the descriptor is gone either way
  // on Linux) and takes `fd` instead.
  void reset(int fd = -1) noexcept {
    const int old = std::exchange(fd_, fd < 0 ? -1 : fd);
    if (old >= 0) ::close(old);
  }

 private:
  int fd_ = -1;
};

}  // namespace samering
