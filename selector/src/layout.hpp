// RingLayout: what a flavor computes from a spec; write_image turns it into RingImage bytes.
// Internal to the selector library.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "image_format.hpp"
#include "samering/error.hpp"
#include "samering/ring.hpp"
#include "samering/spec.hpp"

namespace samering {

struct RingPoint {
  std::uint32_t value;
  std::uint32_t server;
};

struct RingLayout {
  image::Algorithm algorithm = image::kContinuum;
  image::KeyHash key_hash = image::kCrc32;
  std::uint32_t key_seed = 0;
  std::uint32_t hashed_prefix_max = 0;
  std::uint32_t min_key_length = 0;
  std::uint32_t max_key_length = 0;
  // kContinuum / kCmfCompat: in the peer's insertion order; write_image sorts them stably by
  // value, so among equal values the point inserted first stays first (and wins the lookup).
  std::vector<RingPoint> points;
  std::vector<std::uint32_t> table;  // kModulo
  double total_weight = 0;           // kCmfCompat
  std::uint32_t modulus = 0;         // kCmfCompat
  std::vector<std::uint32_t> server_points;  // per server, for ServerInfo::points
};

RingImage write_image(const RingSpec& spec, RingLayout layout);

// Reads and checks the options of one flavor: every option must be consumed, or the leftover
// one is reported as unknown.
class OptionReader {
 public:
  explicit OptionReader(const RingSpec& spec) : spec_(spec), left_(spec.options) {}
  bool get_bool(const std::string& name, bool fallback);
  std::int64_t get_int(const std::string& name, std::int64_t fallback, std::int64_t min,
                       std::int64_t max = std::numeric_limits<std::int64_t>::max());
  std::string get_string(const std::string& name, const std::string& fallback);
  // Throws for the first option that no get_* asked for.
  void finish() const;

 private:
  const RingSpec& spec_;
  std::map<std::string, OptionValue> left_;
};

// Flavor-level server checks shared by several flavors.
void require_integer_weights(const RingSpec& spec, const char* why);
void forbid_names(const RingSpec& spec);

// The flavor builders (selector/src/flavors/*.cpp).
RingLayout build_cmf(const RingSpec& spec);
RingLayout build_cache_memcached(const RingSpec& spec);
RingLayout build_gomemcache(const RingSpec& spec);

}  // namespace samering
