// Flavor "libmemcached": libmemcached 1.1.4 as Debian ships it (src/libmemcached/hosts.cc
// update_continuum, hash.cc dispatch_host/_generate_hash_wrapper, behavior.cc, key.cc), the
// library under pylibmc, PHP memcached and Memcached::libmemcached.
//
// The flavor is defined as this call sequence (fixtures/peers/libmemcached does exactly it):
//   memcached_create; distribution behavior (see below); MEMCACHED_BEHAVIOR_HASH if `hash` is set;
//   memcached_server_add_with_weight(host, port, weight) per server, in spec order.
//   With servers_first the servers are added first and the behaviors after.
//   distribution: modula → (default); consistent → set_distribution(CONSISTENT);
//   ketama → KETAMA=1; ketama-weighted → KETAMA_WEIGHTED=1;
//   ketama-spy → KETAMA_WEIGHTED=1 then set_distribution(CONSISTENT_KETAMA_SPY).
// What that gives (the library's behaviour, not its docs):
//   - KETAMA keeps the key hash (one_at_a_time) and builds the unweighted ring: 100 points per
//     server, each the KEY hash of "host:port-j" ("host-j" when the port is 11211).
//   - KETAMA_WEIGHTED sets the key hash to MD5 and the weighted ring: float point counts, 4 points
//     per md5("host:port-j"). SPY names are "/host:port-j", always with the port.
//   - server_add: a weight > 1 added while a consistent distribution is set turns the weighted
//     ring on for good (pylibmc's order); servers_first: set_distribution(KETAMA/CONSISTENT) turns
//     it off again, so weights are ignored.
//   - MEMCACHED_BEHAVIOR_HASH does not rebuild the ring: with servers_first an unweighted ring keeps
//     one_at_a_time points and only the key hash follows `hash`.
//   - Keys of 0 or more than 250 bytes are refused (memcached_key_test); one server → hash 0.
#include <cstdio>

#include "../hash/key_hash.hpp"
#include "../layout.hpp"

namespace samering {
namespace {

constexpr HashName kHashes[] = {
    {"default", image::kOneAtATime}, {"md5", image::kMd5},         {"crc", image::kCrc32Hi15},
    {"fnv1_64", image::kFnv1_64},    {"fnv1a_64", image::kFnv1a_64}, {"fnv1_32", image::kFnv1_32},
    {"fnv1a_32", image::kFnv1a_32},  {"murmur", image::kMurmur},   {"murmur3", image::kMurmur3},
    {"jenkins", image::kJenkins},
};

image::KeyHash parse_hash(const std::string& name) {
  if (name == "hsieh")
    throw SpecError("options.hash", "hsieh is not built into Debian's libmemcached 1.1.4 (it returns an error), "
                                    "so no peer can be matched");
  return lookup_hash(name, kHashes, "libmemcached");
}

constexpr std::uint32_t kPointsPerServer = 100;  // MEMCACHED_POINTS_PER_SERVER
constexpr std::size_t kMaxKey = 250;             // MEMCACHED_MAX_KEY - 1
constexpr std::size_t kMaxHost = 1024;           // MEMCACHED_NI_MAXHOST - 1
constexpr std::size_t kMaxRingServers = 100;     // assert in update_continuum (continuum size)

}  // namespace

RingLayout build_libmemcached(const RingSpec& spec) {
  OptionReader options(spec);
  const std::string distribution = options.get_string("distribution", "modula");
  const bool hash_given = spec.options.count("hash") != 0;
  const image::KeyHash hash = parse_hash(options.get_string("hash", "default"));
  const bool servers_first = options.get_bool("servers_first", false);
  options.finish();
  forbid_names(spec);
  require_integer_weights(spec, "libmemcached weights are integers");
  for (std::size_t i = 0; i < spec.servers.size(); ++i)
    if (spec.servers[i].host.size() > kMaxHost)
      throw SpecError("servers[" + std::to_string(i) + "].host", "libmemcached keeps at most 1024 bytes of a host name");

  RingLayout layout;
  layout.min_key_length = 1;
  layout.max_key_length = kMaxKey;
  const auto n = static_cast<std::uint32_t>(spec.servers.size());

  if (distribution == "modula") {
    layout.algorithm = image::kModulo;  // hash % server_count: weights play no part
    layout.key_hash = hash;
    for (std::uint32_t i = 0; i < n; ++i) {
      layout.table.push_back(i);
      layout.server_points.push_back(1);
    }
    tabulate_15_bit_hashes(layout, n);  // hash "crc" has 15 bits
    return layout;
  }
  const bool spy = distribution == "ketama-spy";
  const bool md5_behavior = distribution == "ketama-weighted" || spy;  // KETAMA_WEIGHTED was set
  if (!md5_behavior && distribution != "ketama" && distribution != "consistent") {
    if (distribution == "random")
      throw SpecError("options.distribution", "random is not a deterministic choice: no ring can match it");
    throw SpecError("options.distribution", "unknown distribution \"" + distribution +
                                                "\" (libmemcached: modula, consistent, ketama, ketama-weighted, ketama-spy)");
  }
  if (n > kMaxRingServers)
    throw SpecError("servers", "libmemcached 1.1.4 aborts (assertion) on a consistent ring of more than 100 servers");

  bool any_heavy = false;
  std::uint64_t total_weight = 0;
  for (const auto& s : spec.servers) {
    any_heavy |= s.weight > 1;
    total_weight += static_cast<std::uint64_t>(s.weight);
  }
  const bool weighted = md5_behavior || (!servers_first && any_heavy);
  layout.algorithm = image::kContinuum;
  layout.key_hash = hash_given ? hash : (md5_behavior ? image::kMd5 : image::kOneAtATime);
  // MEMCACHED_BEHAVIOR_HASH only sets the function; it does not rebuild the continuum. With
  // servers_first the unweighted ring is built when the distribution is set, i.e. before `hash`,
  // with the default one_at_a_time, and only the key hash changes afterwards.
  const image::KeyHash point_hash = servers_first ? image::kOneAtATime : layout.key_hash;

  char name[kMaxHost + 64];
  for (std::uint32_t i = 0; i < n; ++i) {
    const auto& s = spec.servers[i];
    const std::uint32_t points =
        weighted ? ketama_md5_point_count(static_cast<std::uint64_t>(s.weight), total_weight, n) : kPointsPerServer;
    const std::uint32_t per_hash = weighted ? 4 : 1;
    for (std::uint32_t j = 0; j < points / per_hash; ++j) {
      int len;
      if (spy)
        len = std::snprintf(name, sizeof name, "/%s:%u-%u", s.host.c_str(), unsigned{s.port_number}, j);
      else if (s.port_number == 11211)  // MEMCACHED_DEFAULT_PORT is left out of the name
        len = std::snprintf(name, sizeof name, "%s-%u", s.host.c_str(), j);
      else
        len = std::snprintf(name, sizeof name, "%s:%u-%u", s.host.c_str(), unsigned{s.port_number}, j);
      const std::string_view point_name(name, static_cast<std::size_t>(len));
      if (weighted)
        add_md5_points(layout, point_name, i);
      else  // hashkit_digest: the key hash, whatever it is
        layout.points.push_back({hash::key_hash(point_hash, 0, point_name.data(), point_name.size()), i});
    }
    layout.server_points.push_back(weighted ? points / 4 * 4 : points);
  }
  if (layout.points.empty()) throw SpecError("servers", "no server gets a ring point");
  tabulate_15_bit_hashes(layout, n);  // hash "crc" has 15 bits
  return layout;
}

}  // namespace samering
