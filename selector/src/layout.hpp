// RingLayout: what a flavor computes from a spec; write_image turns it into RingImage bytes.
// Internal to the selector library.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
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
  std::uint32_t hash_tag = 0;  // image::Header::hash_tag
  image::KeyTransform key_transform = image::kNoTransform;
  std::string params;          // bytes the key transform reads at pick time (image strings area)
  std::uint32_t min_key_length = 0;
  std::uint32_t max_key_length = 0;
  // kContinuum: in the peer's insertion order; write_image sorts them stably by value, so among
  // equal values the point inserted first stays first (and wins the lookup).
  std::vector<RingPoint> points;
  std::vector<std::uint32_t> table;  // kModulo
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

// The most ring points or table entries a spec may ask for (≈ 16 MB of image; 1,000 servers at 160
// points take 160,000): a bound on what a
// spec file can make a broker or a worker allocate. Throws SpecError naming the total.
// The fuzz build (SAMERING_FUZZ) lowers it so that the fuzzer spends its time on parsing and
// building logic rather than on legal multi-million-point rings (10 s each under its
// instrumentation); the bound itself is exercised either way.
#ifndef SAMERING_MAX_RING_ENTRIES
#define SAMERING_MAX_RING_ENTRIES 2'000'000
#endif
inline constexpr std::uint64_t kMaxRingEntries = SAMERING_MAX_RING_ENTRIES;
void check_ring_size(std::uint64_t entries, const char* what);

// Flavor-level server checks shared by several flavors.
void require_integer_weights(const RingSpec& spec, const char* why);
void forbid_names(const RingSpec& spec);

// The modulo table of the flavors that list each server `weight` times (Cache::Memcached,
// gomemcache's repeated addresses, twemproxy modula): server order[k] (spec order when `order` is
// empty) appears weight times, consecutively. Weights must be integers (require_integer_weights);
// checks the table size. Sets algorithm, table and server_points.
void repeat_servers_by_weight(RingLayout& layout, const RingSpec& spec, std::span<const std::uint32_t> order = {});

// For a layout whose key hash has 15 bits (hash::is_15_bit: crc32_hi15, fnv1a_32_hi15) and more than one server: replaces
// its continuum or table by the 32,768-entry modulo table of its answer for every hash value, so
// a pick is one table read (docs/ring-image.md). With one server the layout stays as it is (the
// pick never hashes).
void tabulate_15_bit_hashes(RingLayout& layout, std::size_t servers);

// The first point >= h in points sorted by value (stably), wrapping to 0: the continuum lookup,
// for flavors that compute a table from a ring at build time.
std::uint32_t continuum_lookup(std::span<const RingPoint> sorted, std::uint32_t h);
// Sorts points by value, keeping the insertion order of equal values (what write_image does).
void sort_points(std::vector<RingPoint>& points);

// The CRC-32 chain of Cache::Memcached::Fast ketama and nginx `hash ... consistent`: `count`
// points, each crc32(host ‖ 0x00 ‖ port ‖ le32(previous point)), the first from previous = 0.
void add_crc32_chain(RingLayout& layout, const ServerSpec& server, std::uint32_t count, std::uint32_t index);
// libmemcached's weighted ring and twemproxy's ketama: the points of a server, in single-precision
// float exactly as both compute it: floor((float)(pct * 160 / 4 * n + 1e-10)) * 4.
std::uint32_t ketama_md5_point_count(std::uint64_t weight, std::uint64_t total_weight, std::uint32_t servers);
// The 4 points of one ring name: the 4 little-endian words of md5(name).
void add_md5_points(RingLayout& layout, std::string_view name, std::uint32_t index);

// A flavor's hash names: the peer's own spelling → the image key hash.
struct HashName {
  const char* name;
  image::KeyHash id;
};
// The id of `name` in `table`, or a SpecError on options.hash listing the peer's names.
image::KeyHash lookup_hash(const std::string& name, std::span<const HashName> table, const char* peer);

// The flavor builders (selector/src/flavors/*.cpp).
RingLayout build_cmf(const RingSpec& spec);
RingLayout build_cache_memcached(const RingSpec& spec);
RingLayout build_gomemcache(const RingSpec& spec);
RingLayout build_libmemcached(const RingSpec& spec);
RingLayout build_twemproxy(const RingSpec& spec);
RingLayout build_nginx(const RingSpec& spec);
// the PHP and Java peers
RingLayout build_php_memcache(const RingSpec& spec);
RingLayout build_spymemcached(const RingSpec& spec);
// wave 2, Ruby and Python peers (issue 18)
RingLayout build_dalli(const RingSpec& spec);
RingLayout build_python_memcached(const RingSpec& spec);
RingLayout build_rendezvous(const RingSpec& spec);

}  // namespace samering
