// RingSet: the broker's named rings. Each ring has a spec file, the current Ring, a generation
// (bumped on every reload that changes the image), a sealed memfd of the image (RING_IMAGE by
// descriptor) and, with --shm-dir, a ShmPublisher. Reload = read + parse + build + validate the
// new image completely, publish it, then swap; on any error the old ring stays and the reason
// is kept (log, STATS, RELOAD reply). Single-threaded: the io_context thread owns it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config.hpp"
#include "samering/ring.hpp"
#include "shm_publisher.hpp"

namespace samering::broker {

struct RingEntry {
  std::string name, spec_path;
  std::optional<Ring> ring;
  std::uint64_t generation = 0;
  std::string spec_text;           // the spec file content the current ring was built from
  std::vector<std::string_view> addresses;  // "host:port" per index, into the current image
  int image_fd = -1;               // sealed memfd of the current image
  std::unique_ptr<ShmPublisher> shm;
  // counters
  std::uint64_t requests = 0, picks = 0;
  std::uint64_t reloads_ok = 0, reloads_unchanged = 0, reloads_failed = 0;
  std::string last_error;          // of the last failed reload ("" after a success)
};

struct ReloadOutcome {
  bool ok = false;
  bool changed = false;
  std::uint64_t generation = 0;
  std::string error;
};

class RingSet {
 public:
  explicit RingSet(const Config& config) : config_(config) {}
  ~RingSet();
  RingSet(const RingSet&) = delete;
  RingSet& operator=(const RingSet&) = delete;

  // Loads every configured ring; throws std::runtime_error naming the ring on the first failure.
  void load_all();
  // Rebuilds one ring from its spec file (see the class comment). `trigger` is logged.
  ReloadOutcome reload(RingEntry& ring, std::string_view trigger);

  RingEntry* find(std::string_view name) noexcept {
    for (auto& r : rings_)
      if (r->name == name) return r.get();
    return nullptr;
  }
  std::vector<std::unique_ptr<RingEntry>>& entries() { return rings_; }

  std::uint64_t reloads_ok = 0, reloads_failed = 0;
  std::string last_reload_error;

 private:
  // Builds and installs a ring from spec text; throws with the reason, leaving `ring` unchanged.
  bool install(RingEntry& ring, std::string spec_text);

  const Config& config_;
  std::vector<std::unique_ptr<RingEntry>> rings_;
};

// Reads a whole file; throws std::runtime_error "PATH: reason".
std::string read_spec_file(const std::string& path);

}  // namespace samering::broker
