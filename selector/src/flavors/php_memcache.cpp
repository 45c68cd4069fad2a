// Flavor "php-memcache": pecl memcache 4.0.5.2 for PHP 8 (Debian php8.2-memcache 8.0+4.0.5.2+...-8;
// upstream websupport-sk/pecl-memcache tag 8.0: src/memcache_pool.c, memcache_standard_hash.c,
// memcache_consistent_hash.c), PHP's `Memcache` class.
// Options, as its ini settings (read when the pool is created, i.e. at the first addServer):
//   hash_strategy: memcache.hash_strategy, "consistent" (this build's default) or "standard";
//   hash_function: memcache.hash_function, "crc32" (default) or "fnv".
// The peer's rules:
//   - the key (mmc_prepare_key_ex): every byte <= 0x20 becomes '_', the result is cut to 250 bytes
//     (MMC_MAX_KEY_LEN); that key is hashed and sent ("a b" and "a_b" are one key, a 300-byte key
//     is its first 250 bytes); an empty key is an error;
//   - crc32 = zlib's; fnv = 32-bit FNV-1a over bytes read as signed char (mmc_hash_fnv1a_combine:
//     `seed ^= (unsigned int)*(p++)`), which is libhashkit's fnv1a_32;
//   - standard (mmc_standard_find_server): each server weight times in addServer order;
//     h = (hash(key) >> 16) & 0x7fff, 0 becomes 1 ("hash ? hash : 1"), server = buckets[h % n];
//   - consistent (mmc_consistent_add_server / _populate_buckets / _find): 160 × weight points per
//     server, point i = hash("host:port-i") (`"%s:%d-"` then `"%d"`: the host as given, the port as
//     a number), qsort (glibc's merge sort: equal points stay in insertion order); 1024 buckets,
//     bucket b = the server of the first point >= b × (0xffffffff / 1024), the lowest point past
//     the last; a key goes to bucket[hash(key) % 1024] — only the low 10 bits of its hash matter;
//   - one server: it, without hashing (both strategies);
//   - weights: addServer's integer weight >= 1 (0 or less: the server is not added).
// Both strategies become modulo tables at build time: 32,768 entries for standard (the 15-bit hash
// with 0 → 1 folded in), the 1,024 buckets for consistent.
#include <fmt/format.h>

#include "../hash/key_hash.hpp"
#include "../layout.hpp"

namespace samering {
namespace {

constexpr std::uint32_t kPoints = 160;   // MMC_CONSISTENT_POINTS
constexpr std::uint32_t kBuckets = 1024;  // MMC_CONSISTENT_BUCKETS
constexpr std::size_t kMaxHost = 1024;    // a bound of ours, not the peer's (a DNS name has at most 253 bytes)

}  // namespace

RingLayout build_php_memcache(const RingSpec& spec) {
  OptionReader options(spec);
  const std::string strategy = options.get_string("hash_strategy", "consistent");
  const std::string function = options.get_string("hash_function", "crc32");
  options.finish();
  forbid_names(spec);
  require_integer_weights(spec, "pecl memcache's addServer takes an integer weight");
  if (strategy != "consistent" && strategy != "standard")
    throw SpecError("options.hash_strategy",
                    fmt::format("unknown hash_strategy \"{}\" (memcache.hash_strategy: consistent, standard)", strategy));
  if (function != "crc32" && function != "fnv")
    throw SpecError("options.hash_function",
                    fmt::format("unknown hash_function \"{}\" (memcache.hash_function: crc32, fnv)", function));
  const bool fnv = function == "fnv";
  for (std::size_t i = 0; i < spec.servers.size(); ++i)
    if (spec.servers[i].host.size() > kMaxHost)
      throw SpecError(fmt::format("servers[{}].host", i), "is longer than 1024 bytes");

  RingLayout layout;
  layout.key_transform = image::kPhpMemcacheKey;
  layout.hashed_prefix_max = image::kPhpMemcacheMaxKey;
  layout.min_key_length = 1;  // mmc_prepare_key_ex: "if (key_len == 0) return MMC_REQUEST_FAILURE"
  const auto n = static_cast<std::uint32_t>(spec.servers.size());

  if (strategy == "standard") {
    layout.key_hash = fnv ? image::kFnv1a32Hi15 : image::kCrc32Hi15;
    repeat_servers_by_weight(layout, spec);
    if (n > 1) {
      // Fold "hash ? hash : 1" into the 32,768 answers: one table read per pick.
      std::vector<std::uint32_t> table(32768);
      for (std::uint32_t h = 0; h < table.size(); ++h) table[h] = layout.table[(h ? h : 1) % layout.table.size()];
      layout.table = std::move(table);
    }
    return layout;
  }

  layout.key_hash = fnv ? image::kFnv1a_32 : image::kCrc32;
  std::uint64_t total = 0;
  for (const auto& s : spec.servers) total += static_cast<std::uint64_t>(s.weight) * kPoints;
  check_ring_size(total, "ring points (160 per unit of weight)");
  layout.server_points.assign(n, 0);
  std::vector<RingPoint> points;
  points.reserve(total);
  std::string name;
  for (std::uint32_t i = 0; i < n; ++i) {
    const auto& s = spec.servers[i];
    const auto count = static_cast<std::uint32_t>(s.weight) * kPoints;
    for (std::uint32_t j = 0; j < count; ++j) {
      // the peer's sprintf("%s:%d-", host, port) then sprintf("%d", i): the host as given, the port
      // as a number
      name.clear();
      fmt::format_to(std::back_inserter(name), "{}:{}-{}", s.host, s.port_number, j);
      points.push_back({hash::key_hash(layout.key_hash, 0, name.data(), name.size()), i});
    }
  }
  sort_points(points);
  // mmc_consistent_find(state, step * b) is a lower bound that wraps to the lowest point.
  constexpr std::uint32_t step = 0xffffffffu / kBuckets;
  layout.algorithm = image::kModulo;
  layout.table.resize(kBuckets);
  for (std::uint32_t b = 0; b < kBuckets; ++b) {
    layout.table[b] = continuum_lookup(points, step * b);
    ++layout.server_points[layout.table[b]];
  }
  return layout;
}

}  // namespace samering
