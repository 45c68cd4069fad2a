// ShmPublisher: one ring's shared-memory publication (shm_format.hpp, docs/protocol.md
// "Shared memory"). Owns <dir>/<ring>.ctl (flock'ed for the broker's lifetime, reused across
// restarts so mapped readers keep following) and writes each generation's image as an immutable
// file (temporary name, then rename). Superseded images are unlinked after the grace period.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <span>
#include <string>

#include "shm_format.hpp"

namespace samering::broker {

class ShmPublisher {
 public:
  using Clock = std::chrono::steady_clock;

  // Creates the directory if missing. Throws std::runtime_error with the reason (including "in
  // use by another broker" when the control file is locked).
  ShmPublisher(std::string dir, std::string ring, unsigned file_mode, std::chrono::milliseconds grace);
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
  std::string path_of(const std::string& name) const { return dir_ + "/" + name; }

  std::string dir_, ring_;
  unsigned file_mode_;
  std::chrono::milliseconds grace_;
  int control_fd_ = -1;
  shm::Control* control_ = nullptr;
  struct Superseded {
    std::string file;
    Clock::time_point since;
  };
  std::deque<Superseded> old_;
};

// A sealed memfd holding `bytes` (F_SEAL_WRITE|SHRINK|GROW|SEAL): what RING_IMAGE sends by
// SCM_RIGHTS. Throws std::runtime_error.
int make_sealed_memfd(const std::string& name, std::span<const std::byte> bytes);

}  // namespace samering::broker
