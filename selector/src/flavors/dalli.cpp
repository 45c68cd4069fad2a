// Flavor "dalli": Ruby Dalli 3.0.6 as Debian ships it (ruby-dalli; gem lib/dalli/ring.rb
// build_continuum, entry_count_for, server_for_hash_key; key_manager.rb validate_key;
// protocol/binary.rb #name).
//   - point names "host:port:i": the host as written, the port as a decimal integer, always present
//     (11211 too); point value = the first 4 bytes of SHA-1(name), big-endian (Integer("0x" + 8 hex));
//   - points per server, in spec order: floor(n * 160 * weight / Float(total weight)) — an exact
//     integer product divided as a double; weights are integers (Dalli parses them with Integer());
//   - the continuum is sorted with Ruby's sort_by, which on Debian 12 (Ruby 3.1, glibc 2.36 qsort_r,
//     a merge sort) is stable: equal values keep server order (fixtures dalli-2srv-tie*);
//   - lookup: the GREATEST point <= crc32(wire key) (bsearch_index for the first point > hash, minus
//     one), the greatest point of all when the hash is below every point; with equal values that is
//     the last of them, i.e. the server listed later;
//   - one server: Dalli builds no ring and sends every key to it;
//   - the wire key (what is hashed and stored): namespace ":" key, shortened past 250 characters to
//     212 (213 with a namespace) characters + ":md5:" + MD5 hex — the image's key transform `dalli`
//     (ring.cpp); a wire key of more than 250 bytes is refused (memcached refuses it).
// Option: namespace (Dalli's own option; "" is a namespace too: the key becomes ":key").
// The predecessor lookup is turned into the image's ordinary continuum at build time (no new
// algorithm, the same pick loop): each distinct point value v_i owning [v_i, v_{i+1} - 1] becomes a
// point at v_{i+1} - 1 (the last at 0xffffffff), and a point at v_0 - 1 takes the hashes below v_0
// to the greatest point's server.
#include <algorithm>
#include <cmath>

#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include "../layout.hpp"

namespace samering {
namespace {

constexpr std::uint64_t kPointsPerServer = 160;  // Ring::POINTS_PER_SERVER

std::uint32_t sha1_point(const std::string& name) {
  unsigned char d[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(name.data()), name.size(), d);
  return std::uint32_t{d[0]} << 24 | std::uint32_t{d[1]} << 16 | std::uint32_t{d[2]} << 8 | d[3];
}

}  // namespace

RingLayout build_dalli(const RingSpec& spec) {
  OptionReader options(spec);
  const bool has_namespace = spec.options.count("namespace") != 0;
  const std::string ns = options.get_string("namespace", "");
  options.finish();
  forbid_names(spec);
  require_integer_weights(spec, "Dalli reads weights with Integer()");

  RingLayout layout;
  layout.key_hash = image::kCrc32;
  layout.key_transform = image::kDalliKey;
  if (has_namespace) layout.params = ns + ":";  // KeyManager#key_with_namespace
  layout.min_key_length = 1;                     // validate_key: "key cannot be blank"
  const auto n = static_cast<std::uint64_t>(spec.servers.size());
  std::uint64_t total_weight = 0;
  for (const auto& s : spec.servers) total_weight += static_cast<std::uint64_t>(s.weight);
  std::vector<std::uint32_t> counts(n);
  std::uint64_t total_points = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const auto w = static_cast<std::uint64_t>(spec.servers[i].weight);
    counts[i] = static_cast<std::uint32_t>(
        std::floor(static_cast<double>(n * kPointsPerServer * w) / static_cast<double>(total_weight)));
    total_points += counts[i];
  }
  check_ring_size(total_points, "ring points");
  layout.server_points = counts;
  if (n == 1) return layout;  // Ring#initialize: no continuum for one server

  std::vector<RingPoint> dalli;
  dalli.reserve(total_points);
  for (std::uint32_t i = 0; i < n; ++i) {
    const std::string prefix = spec.servers[i].host + ":" + std::to_string(spec.servers[i].port_number) + ":";
    for (std::uint32_t j = 0; j < counts[i]; ++j) dalli.push_back({sha1_point(prefix + std::to_string(j)), i});
  }
  sort_points(dalli);  // stable, as Ruby's sort_by is here
  // Distinct values, each owned by the LAST point of its run (the greatest index <= hash).
  std::vector<RingPoint> owned;
  for (std::size_t k = 0; k < dalli.size(); ++k)
    if (k + 1 == dalli.size() || dalli[k + 1].value != dalli[k].value) owned.push_back(dalli[k]);
  const std::uint32_t last_owner = owned.back().server;
  if (owned.front().value > 0) layout.points.push_back({owned.front().value - 1, last_owner});
  for (std::size_t k = 0; k + 1 < owned.size(); ++k) layout.points.push_back({owned[k + 1].value - 1, owned[k].server});
  layout.points.push_back({0xffffffffu, last_owner});
  return layout;
}

}  // namespace samering
