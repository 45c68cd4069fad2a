// ShmPublisher: one ring's shared-memory publication (shm_format.hpp, docs/protocol.md
// "Shared memory"). Every file is made relative to the shm dir's descriptor (openat with
// O_NOFOLLOW / O_EXCL, renameat, unlinkat), never by path, so a directory swapped or symlinked
// after start-up cannot redirect a write. Owns <dir>/.<ring>.lock (mode 0600, flock'ed for the
// broker's lifetime: a second broker on the same dir and ring refuses to start, and no reader can
// hold it) and <dir>/<ring>.ctl (reused across restarts, so mapped readers keep following), and
// writes each generation's image as an immutable file (temporary name, then rename). Superseded
// images are unlinked after the grace period.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <span>
#include <string>

#include "samering/unique_fd.hpp"
#include "shm_format.hpp"

namespace samering::broker {

// The broker's shm dir `path` (absolute, lexically normal), opened O_DIRECTORY|O_NOFOLLOW and
// created (with `mode`) where missing. Refused, with the rule in the message: a symbolic link; a
// directory not owned by the broker's effective uid, or writable by group or others; creating a
// component inside a directory not owned by root or that uid, or writable by group or others and
// not sticky. Throws std::runtime_error.
UniqueFd open_shm_dir(const std::string& path, mode_t mode);

class ShmPublisher {
 public:
  using Clock = std::chrono::steady_clock;

  // `dir` is open_shm_dir's descriptor (duplicated; `dir_path` only names it in messages).
  // Throws std::runtime_error with the reason (including "in use by another running broker" when
  // the lock file is locked).
  ShmPublisher(const UniqueFd& dir, std::string dir_path, std::string ring, unsigned file_mode,
               std::chrono::milliseconds grace);
  ~ShmPublisher();
  ShmPublisher(const ShmPublisher&) = delete;
  ShmPublisher& operator=(const ShmPublisher&) = delete;

  // The generation the control block names (0 = none) and whether its image file holds `image`.
  std::uint64_t published_generation() const;
  bool published_image_equals(std::span<const std::byte> image) const;

  // Writes the image of `generation` and makes it current. Throws std::runtime_error; on error the
  // control block is unchanged.
  void publish(std::uint64_t generation, std::span<const std::byte> image);
  // Unlinks superseded images whose grace period is over.
  void collect(Clock::time_point now);

 private:
  std::string path_of(const std::string& name) const { return dir_path_ + "/" + name; }

  UniqueFd dir_;
  std::string dir_path_, ring_;
  unsigned file_mode_;
  std::chrono::milliseconds grace_;
  UniqueFd lock_;
  shm::Control* control_ = nullptr;
  struct Superseded {
    std::string file;
    Clock::time_point since;
  };
  std::deque<Superseded> old_;
};

// A sealed memfd holding `bytes` (F_SEAL_WRITE|SHRINK|GROW|SEAL): what RING_IMAGE sends by
// SCM_RIGHTS. Throws std::runtime_error.
UniqueFd make_sealed_memfd(const std::string& name, std::span<const std::byte> bytes);

}  // namespace samering::broker
