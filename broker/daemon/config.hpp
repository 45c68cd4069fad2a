// The daemon's settings (samering-broker --help; docs/protocol.md "Running the broker").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "protocol.hpp"

namespace samering::broker {

struct RingSource {
  std::string name;
  std::string spec_path;  // absolute
};

struct Config {
  std::string socket_path;
  unsigned socket_mode = 0660;
  std::vector<RingSource> rings;
  std::string shm_dir;            // empty: no shared-memory publication
  double shm_grace_s = 30;        // superseded images stay this long
  std::uint32_t max_frame = kDefaultMaxFrame;
  std::uint32_t max_keys = kDefaultMaxKeys;
  std::uint32_t max_connections = 4096;
  double idle_timeout_s = 300;    // 0 = never
  bool watch = true;              // reload when a spec file changes
  bool quiet = false;
};

}  // namespace samering::broker
