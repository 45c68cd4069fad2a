// Flavor "cmf": Cache::Memcached::Fast 0.28 (src/dispatch_key.c, Fast.xs, src/client.c).
//   ketama_points > 0: the crc32-chain ring (ketama_crc32_add_server / ketama_crc32_get_server);
//   ketama_points = 0 (CMF's default): the Cache::Memcached-compatible continuum
//   (compatible_add_server / compatible_get_server), written as the 32,768-entry table of its
//   answer for every 15-bit key hash (the only inputs compatible_get_server can see).
// Options: ketama_points, namespace, hash_namespace. Weights may be fractional.
#include "../layout.hpp"
#include "samering/hash.hpp"

namespace samering {
namespace {

constexpr std::int64_t kMaxPoints = 10'000'000;

// CMF: `count = state->ketama_points * weight + 0.5;` int * double, truncated to int. Checked
// before the conversion: a weight like 1e50 must be an error, not an undefined cast.
std::uint32_t ketama_point_count(const ServerSpec& s, std::int64_t ketama_points, std::uint32_t index) {
  const double wanted = static_cast<double>(ketama_points) * s.weight + 0.5;
  if (!(wanted <= static_cast<double>(kMaxPoints)))
    throw SpecError("servers[" + std::to_string(index) + "].weight", "ketama_points x weight gives more than " +
                                                                         std::to_string(kMaxPoints) + " points");
  return static_cast<std::uint32_t>(static_cast<int>(wanted));
}

void add_ketama_points(RingLayout& layout, const ServerSpec& s, std::uint32_t count, std::uint32_t index) {
  // CMF inserts a point equal to existing ones after them; write_image's stable sort of this
  // insertion order gives the same array, so the server added first wins a tie.
  add_crc32_chain(layout, s, count, index);
  layout.server_points.push_back(count);
}

}  // namespace

RingLayout build_cmf(const RingSpec& spec) {
  OptionReader options(spec);
  // Fast.xs reads ketama_points and hash_namespace before servers and namespace, so the order in
  // which a user lists them does not matter.
  const auto ketama_points = options.get_int("ketama_points", 0, 0, kMaxPoints);
  const auto ns = options.get_string("namespace", "");
  const bool hash_namespace = options.get_bool("hash_namespace", false);
  options.finish();
  forbid_names(spec);

  RingLayout layout;
  layout.key_hash = image::kCrc32;
  // client_set_prefix / dispatch_set_prefix: the key hash starts from crc32(namespace) when
  // hash_namespace is on; the namespace is always sent, but hashed only then.
  layout.key_seed = hash_namespace ? hash::crc32(ns) : 0;

  const auto n = static_cast<std::uint32_t>(spec.servers.size());
  if (ketama_points > 0) {
    layout.algorithm = image::kContinuum;
    std::vector<std::uint32_t> counts(n);
    std::uint64_t total = 0;
    for (std::uint32_t i = 0; i < n; ++i) total += counts[i] = ketama_point_count(spec.servers[i], ketama_points, i);
    check_ring_size(total, "ketama points");
    for (std::uint32_t i = 0; i < n; ++i) add_ketama_points(layout, spec.servers[i], counts[i], i);
    // With one server CMF returns it without looking at the ring; with more and no point at all it
    // would read an empty array.
    if (n > 1 && layout.points.empty())
      throw SpecError("options.ketama_points", "ketama_points x weight rounds to 0 points for every server");
    return layout;
  }

  // compatible_add_server: each server occupies a share of [0, 2^32-1] proportional to its weight;
  // adding one rescales the existing points with the exact C conversions:
  //   `p->point -= (double) p->point * scale;`  (unsigned -= double: truncation)
  layout.key_hash = image::kCrc32Hi15;  // `(crc32 >> 16) & 0x7fff`, from the same prefix state
  std::vector<std::uint32_t> points;
  double total = 0.0;
  for (std::uint32_t i = 0; i < n; ++i) {
    const double weight = spec.servers[i].weight;
    total += weight;
    const double scale = weight / total;
    for (auto& p : points) p = static_cast<std::uint32_t>(static_cast<double>(p) - static_cast<double>(p) * scale);
    points.push_back(0xFFFFFFFFu);
    layout.server_points.push_back(1);
  }
  // compatible_get_server divides by (unsigned)(total_weight + 0.5): CMF crashes when that is 0.
  if (n > 1 && !(total >= 0.5))
    throw SpecError("servers", "the weights add up to less than 0.5: Cache::Memcached::Fast's compatible mode "
                               "divides by zero here");
  if (total >= 4e9) throw SpecError("servers", "the weights add up to more than 4e9");
  std::vector<RingPoint> continuum;
  for (std::uint32_t i = 0; i < n; ++i) continuum.push_back({points[i], i});
  sort_points(continuum);
  // compatible_get_server, with the exact C conversions, for every hash the key can have:
  //   point = hash % (unsigned)(total_weight + 0.5);
  //   point = (double) point / total_weight * 0xFFFFFFFF + 0.5;  ++point;  then the continuum.
  const auto modulus = static_cast<std::uint32_t>(total + 0.5);
  layout.algorithm = image::kModulo;
  layout.table.resize(n == 1 ? 1 : 32768);  // one server: picked without hashing
  for (std::uint32_t h = 0; n > 1 && h < layout.table.size(); ++h) {
    std::uint32_t point = h % modulus;
    point = static_cast<std::uint32_t>(static_cast<double>(point) / total * 4294967295.0 + 0.5);
    point += 1;
    layout.table[h] = continuum_lookup(continuum, point);
  }
  return layout;
}

}  // namespace samering
