// RingSet: the broker's named rings. Each ring has a spec file, the current Ring, a generation
// (bumped on every reload that changes the image), a sealed memfd of the image (RING_IMAGE by
// descriptor) and, with --shm-dir, a ShmPublisher. Reload = read + parse + build + validate the
// new image completely, publish it, then swap; on any error the old ring stays and the reason
// is kept (log, STATS, RELOAD reply). Single-threaded: the io_context thread owns it.
//
// Generations never name two different rings of one name on one host, across broker restarts
// too: a process's first generation is the wall clock in microseconds, or the published one + 1
// when that is larger (docs/protocol.md "Opcodes"), and every later one is the previous + 1.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config.hpp"
#include "samering/ring.hpp"
#include "samering/unique_fd.hpp"
#include "shm_publisher.hpp"

namespace samering::broker {

struct RingEntry {
  std::string name, spec_path;
  std::shared_ptr<const Ring> ring;  // the current ring; queued RING_IMAGE replies share it
  std::uint64_t generation = 0;
  std::string spec_text;                     // the spec file content the current ring was built from
  std::vector<std::string_view> addresses;   // "host:port" per index, into *ring's image
  std::shared_ptr<const UniqueFd> image_fd;  // sealed memfd of *ring's image, shared the same way
  std::unique_ptr<ShmPublisher> shm;
  // counters
  std::uint64_t requests = 0, picks = 0;
  std::uint64_t reloads_ok = 0, reloads_unchanged = 0, reloads_failed = 0;
  std::string last_error;         // of the last failed reload ("" after a success): kind and file only
  std::string last_error_detail;  // the same with the reason (quotes the spec: log and RELOAD only)
};

struct ReloadOutcome {
  bool ok = false;
  bool changed = false;
  std::uint64_t generation = 0;
  std::string error;  // the whole reason (for the log and the RELOAD reply)
};

// A spec that cannot be (re)loaded. what() is the whole reason, which may quote the file (a JSON
// string, a key name): it goes to the log and to the RELOAD reply, which only the broker's uid and
// root may ask for. public_reason() says only the kind of failure and the file: it goes to STATS,
// which every client may ask for (the spec path may name a file the client cannot read).
class LoadError : public std::runtime_error {
 public:
  LoadError(const std::string& detail, std::string public_reason)
      : std::runtime_error(detail), public_reason_(std::move(public_reason)) {}
  const std::string& public_reason() const noexcept { return public_reason_; }

 private:
  std::string public_reason_;
};

class RingSet {
 public:
  explicit RingSet(const Config& config) : config_(config) {}
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
  std::string last_reload_error;  // "ring NAME: " + the public reason

 private:
  // Builds and installs a ring from spec text; throws LoadError (or std::runtime_error for a
  // publication failure), leaving `ring` unchanged. False: the image is the one installed.
  bool install(RingEntry& ring, std::string spec_text);

  const Config& config_;
  std::vector<std::unique_ptr<RingEntry>> rings_;
};

// Reads a whole spec file: a regular file of at most 64 MiB, opened without blocking (a FIFO or
// a device at the path is refused, never waited on). Throws LoadError "PATH: reason".
std::string read_spec_file(const std::string& path);

}  // namespace samering::broker
