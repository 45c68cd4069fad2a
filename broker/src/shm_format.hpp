// The shared-memory publication of a broker's rings (docs/protocol.md "Shared memory").
//
//   <shm-dir>/<ring>.ctl                 control file (4096 bytes), mapped read-only by readers
//   <shm-dir>/<ring>.<generation>.img    one immutable RingImage per generation (written to a
//                                        dot-prefixed temporary name, then rename()d)
//
// The control block is a seqlock: the broker makes `seq` odd, stores the fields, makes it even.
// A reader copies the fields between two equal even reads of `seq`. Readers compare `seq` with
// the value they last followed on every pick (one load, no syscall) and re-map only when it moved.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace samering::broker::shm {

inline constexpr char kControlMagic[8] = {'S', 'R', 'N', 'G', 'C', 'T', 'L', '1'};
inline constexpr std::uint32_t kControlVersion = 1;
inline constexpr std::size_t kControlFileSize = 4096;

struct Control {
  char magic[8];
  std::uint32_t version;
  std::uint32_t size;                         // sizeof(Control)
  std::atomic<std::uint64_t> seq;             // odd while the broker writes
  std::atomic<std::uint64_t> generation;      // 0 = nothing published yet
  std::atomic<std::uint64_t> image_size;      // bytes of <ring>.<generation>.img
  std::atomic<std::uint64_t> image_checksum;  // the image header's checksum (cross-check)
  std::atomic<std::uint64_t> broker_pid;      // the publisher (informational)
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "the seqlock needs lock-free 64-bit atomics");
static_assert(sizeof(Control) <= kControlFileSize);

// The RingImage header's checksum field (docs/ring-image.md: magic 8, version 4, header size 4,
// total size 8, then the checksum): the control block repeats it as a cross-check.
inline constexpr std::size_t kImageChecksumOffset = 24;

struct Snapshot {
  std::uint64_t seq = 0, generation = 0, image_size = 0, image_checksum = 0, broker_pid = 0;
};

inline std::string control_file_name(std::string_view ring) { return std::string(ring) + ".ctl"; }
inline std::string image_file_name(std::string_view ring, std::uint64_t generation) {
  return std::string(ring) + "." + std::to_string(generation) + ".img";
}

// Writer side (the broker; single writer per control file, held with flock).
inline void publish(Control& c, const Snapshot& s) {
  const std::uint64_t seq = c.seq.load(std::memory_order_relaxed);
  c.seq.store(seq + 1, std::memory_order_relaxed);  // odd: writing
  std::atomic_thread_fence(std::memory_order_release);
  c.generation.store(s.generation, std::memory_order_relaxed);
  c.image_size.store(s.image_size, std::memory_order_relaxed);
  c.image_checksum.store(s.image_checksum, std::memory_order_relaxed);
  c.broker_pid.store(s.broker_pid, std::memory_order_relaxed);
  c.seq.store(seq + 2, std::memory_order_release);  // even: done
}

// Reader side: false if the writer was mid-update `tries` times in a row.
inline bool read_snapshot(const Control& c, Snapshot& s, int tries = 100000) {
  for (int i = 0; i < tries; ++i) {
    const std::uint64_t s1 = c.seq.load(std::memory_order_acquire);
    if (s1 & 1) continue;
    s.generation = c.generation.load(std::memory_order_relaxed);
    s.image_size = c.image_size.load(std::memory_order_relaxed);
    s.image_checksum = c.image_checksum.load(std::memory_order_relaxed);
    s.broker_pid = c.broker_pid.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (c.seq.load(std::memory_order_relaxed) == s1) {
      s.seq = s1;
      return true;
    }
  }
  return false;
}

}  // namespace samering::broker::shm
