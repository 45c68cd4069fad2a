// Flavor "twemproxy": nutcracker 0.5.0 (src/nc_conf.c conf_add_server/conf_validate_server,
// src/nc_server.c server_pool_idx, src/hashkit/nc_ketama.c, nc_modula.c, nc_*.c hashes).
//   - ring name of a server: its `name`, else host when the port is 11211 ("backward compatibility
//     with libmemcached"), else "host:port" as written;
//   - servers are sorted by ring name (shorter first, then bytewise) and that order is the pool's:
//     modula counts in it and equal ketama points resolve in it (glibc's qsort is a stable merge
//     sort). Indices returned are still spec indices;
//   - ketama: libmemcached's float point count, 4 points per md5("name-j"), the name cut to 272
//     bytes (KETAMA_MAX_HOSTLEN 273 with its NUL); modula: each server `weight` times;
//   - hash_tag: hash only the bytes between the tags; keys of 1..250 bytes (its memcache parser).
#include <algorithm>
#include <cstdio>
#include <numeric>

#include "../layout.hpp"

namespace samering {
namespace {

constexpr HashName kHashes[] = {
    {"one_at_a_time", image::kOneAtATime}, {"md5", image::kMd5},           {"crc16", image::kTwemproxyCrc16},
    {"crc32", image::kCrc32Hi15},          {"crc32a", image::kCrc32},      {"fnv1_64", image::kFnv1_64},
    {"fnv1a_64", image::kFnv1a_64},        {"fnv1_32", image::kFnv1_32},   {"fnv1a_32", image::kFnv1a_32},
    {"hsieh", image::kTwemproxyHsieh},     {"murmur", image::kMurmur},     {"jenkins", image::kJenkins},
};

image::KeyHash parse_hash(const std::string& name) {
  return lookup_hash(name, kHashes, "twemproxy");
}

constexpr std::size_t kMaxNameHashed = 272;  // KETAMA_MAX_HOSTLEN - 1

}  // namespace

RingLayout build_twemproxy(const RingSpec& spec) {
  OptionReader options(spec);
  const std::string distribution = options.get_string("distribution", "ketama");
  const image::KeyHash hash = parse_hash(options.get_string("hash", "fnv1a_64"));
  const std::string hash_tag = options.get_string("hash_tag", "");
  options.finish();
  require_integer_weights(spec, "twemproxy weights are integers");
  if (distribution == "random")
    throw SpecError("options.distribution", "random is not a deterministic choice: no ring can match it");
  if (distribution != "ketama" && distribution != "modula")
    throw SpecError("options.distribution", "unknown distribution \"" + distribution + "\" (twemproxy: ketama, modula)");
  if (spec.options.count("hash_tag") && hash_tag.size() != 2)
    throw SpecError("options.hash_tag", "must be exactly two characters, e.g. \"{}\" (twemproxy's rule)");

  const auto n = static_cast<std::uint32_t>(spec.servers.size());
  std::vector<std::string> names(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    const auto& s = spec.servers[i];
    names[i] = s.name ? *s.name : (s.port_number == 11211 ? s.host : s.host + ":" + s.port);
  }
  std::vector<std::uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  // conf_server_name_cmp → string_compare: shorter first, then bytewise. qsort is stable here.
  std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
    if (names[a].size() != names[b].size()) return names[a].size() < names[b].size();
    return names[a] < names[b];
  });
  for (std::uint32_t k = 1; k < n; ++k)
    if (names[order[k]] == names[order[k - 1]])
      throw SpecError("servers[" + std::to_string(order[k]) + "]",
                      "has the same ring name \"" + names[order[k]] + "\" as servers[" + std::to_string(order[k - 1]) +
                          "] (twemproxy refuses such a pool)");

  RingLayout layout;
  layout.key_hash = hash;
  layout.min_key_length = 1;
  layout.max_key_length = 250;
  if (!hash_tag.empty())
    layout.hash_tag = static_cast<unsigned char>(hash_tag[0]) | static_cast<unsigned char>(hash_tag[1]) << 8 |
                      image::kHashTagOn;

  if (distribution == "modula") {
    repeat_servers_by_weight(layout, spec, order);
    tabulate_15_bit_hashes(layout, n);  // hash "crc32" has 15 bits
    return layout;
  }
  layout.server_points.assign(n, 0);

  layout.algorithm = image::kContinuum;
  std::uint64_t total_weight = 0;
  for (const auto& s : spec.servers) total_weight += static_cast<std::uint64_t>(s.weight);
  for (std::uint32_t i : order) {
    const std::uint32_t points =
        ketama_md5_point_count(static_cast<std::uint64_t>(spec.servers[i].weight), total_weight, n);
    for (std::uint32_t j = 0; j < points / 4; ++j) {
      std::string point_name = names[i] + "-" + std::to_string(j);
      if (point_name.size() > kMaxNameHashed) point_name.resize(kMaxNameHashed);  // snprintf into host[273]
      add_md5_points(layout, point_name, i);
    }
    layout.server_points[i] = points / 4 * 4;
  }
  if (layout.points.empty()) throw SpecError("servers", "no server gets a ring point");
  tabulate_15_bit_hashes(layout, n);  // hash "crc32" has 15 bits
  return layout;
}

}  // namespace samering
