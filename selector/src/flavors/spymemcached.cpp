// Flavor "spymemcached": spymemcached 2.12.3 (Debian libspymemcached-java 2.12.3+dfsg-3; upstream
// couchbase/spymemcached tag 2.12.3, net/spy/memcached/: ConnectionFactoryBuilder, KetamaNodeLocator,
// KetamaNodeKeyFormatter, ArrayModNodeLocator, DefaultHashAlgorithm, util/StringUtils).
// Options, in the peer's own names:
//   locator: ConnectionFactoryBuilder.Locator, "ARRAY_MOD" (the builder's default) or "CONSISTENT"
//            (new KetamaNodeLocator(nodes, hashAlg): DefaultKetamaNodeLocatorConfiguration);
//   hash:    DefaultHashAlgorithm, "NATIVE_HASH" (default), "CRC_HASH", "FNV1_64_HASH",
//            "FNV1A_64_HASH", "FNV1_32_HASH", "FNV1A_32_HASH", "KETAMA_HASH";
//   weighted: the public KetamaNodeLocator(nodes, hashAlg, Format.SPYMEMCACHED, weights) constructor
//            with each server's weight (the builder has no weights: without it weights must be 1).
// Per-server name: the node string spymemcached hashes, String.valueOf(InetSocketAddress) without
// its leading "/" (KetamaNodeKeyFormatter, Format.SPYMEMCACHED): "ip:port" for an address literal,
// "hostname/ip:port" for a name (the address it resolved to when the client was built), the port
// always present (11211 too). Without a name the host must be a dotted-quad IPv4 literal (then the
// name is "host:port"); a hostname needs its name, so the spec says which address was hashed and
// the selector never resolves anything.
// The peer's rules:
//   - key hashes over the key's Java String: NATIVE_HASH = String.hashCode(), FNV* over its UTF-16
//     code units (k.charAt(i)) in a 64-bit long, CRC_HASH = (crc32(UTF-8) >> 16) & 0x7fff (no 0 → 1),
//     KETAMA_HASH = the first little-endian word of md5(UTF-8); all read as unsigned 32 bits;
//   - ARRAY_MOD: nodes[hash % n];
//   - CONSISTENT unweighted: per node in list order, KETAMA_HASH: md5("name-j") for j < 40, its 4
//     little-endian words each a point (160); any other hash: hash("name-j") for j < 160;
//     weighted: libmemcached's float point count (with the 160 repetitions), md5 groups of 4 always,
//     whatever the key hash; points in a TreeMap: an equal point of a later node replaces the
//     earlier's (TreeMap.put); the node of the first point >= hash, wrapping to the first;
//   - no single-server short-cut, but one node gets every key either way;
//   - keys (StringUtils.validateKey): 1..250 UTF-8 bytes; a key must be a Java String, i.e.
//     well-formed UTF-8 (key transform utf8_required); the text protocol's ban on space, CR, LF and
//     NUL is left to the protocol (the binary protocol allows them, the locator does not care).
#include <fmt/format.h>

#include <map>

#include "../hash/key_hash.hpp"
#include "../layout.hpp"

namespace samering {
namespace {

constexpr HashName kHashes[] = {
    {"NATIVE_HASH", image::kJavaStringHashCode}, {"CRC_HASH", image::kCrc32Hi15},
    {"FNV1_64_HASH", image::kJavaFnv1_64},       {"FNV1A_64_HASH", image::kJavaFnv1a_64},
    {"FNV1_32_HASH", image::kJavaFnv1_32},       {"FNV1A_32_HASH", image::kJavaFnv1a_32},
    {"KETAMA_HASH", image::kMd5},
};

constexpr std::uint32_t kRepetitions = 160;  // DefaultKetamaNodeLocatorConfiguration.getNodeRepetitions
constexpr std::uint32_t kMaxKey = 250;       // StringUtils.validateKey: KEY_TOO_LONG beyond 250 bytes

// A dotted-quad IPv4 literal as Java prints it back (four decimal parts 0-255, no leading zeros):
// then the node string of host:port is "host:port". Java also accepts "127.1" and similar forms,
// but prints them differently, so those need an explicit name.
bool canonical_ipv4(const std::string& host) {
  int parts = 0;
  std::size_t i = 0;
  while (i <= host.size()) {
    std::size_t j = i;
    while (j < host.size() && host[j] >= '0' && host[j] <= '9') ++j;
    const std::size_t digits = j - i;
    if (digits == 0 || digits > 3 || (digits > 1 && host[i] == '0') || std::stoi(host.substr(i, digits)) > 255) return false;
    ++parts;
    if (j == host.size()) break;
    if (host[j] != '.') return false;
    i = j + 1;
  }
  return parts == 4;
}

// The node string of server i (see the header comment); throws SpecError when it cannot be known.
std::string node_name(const RingSpec& spec, std::uint32_t i) {
  const auto& s = spec.servers[i];
  const std::string field = fmt::format("servers[{}].name", i);
  const std::string port = fmt::format(":{}", s.port_number);
  if (!s.name) {
    if (!canonical_ipv4(s.host))
      throw SpecError(field, fmt::format("spymemcached hashes the address \"{0}\" resolves to: give the node as it prints "
                                         "it, \"{0}/ADDRESS{1}\" (String.valueOf(InetSocketAddress) without the leading /)",
                                         s.host, port));
    return s.host + port;
  }
  const std::string& name = *s.name;
  // InetSocketAddress.toString always ends with ":" + port; a created-by-name address starts with
  // the name as given, then "/".
  if (!name.ends_with(port) || name.size() == port.size())
    throw SpecError(field, fmt::format("must end with the port, \"{}\" (spymemcached's node string)", port));
  if (!canonical_ipv4(s.host) && !name.starts_with(s.host + "/"))
    throw SpecError(field, fmt::format("must start with the host as written, \"{}/\" (spymemcached's node string)", s.host));
  return name;
}

}  // namespace

RingLayout build_spymemcached(const RingSpec& spec) {
  OptionReader options(spec);
  const std::string locator = options.get_string("locator", "ARRAY_MOD");
  const image::KeyHash hash = lookup_hash(options.get_string("hash", "NATIVE_HASH"), kHashes, "spymemcached");
  const bool weighted = options.get_bool("weighted", false);
  options.finish();
  if (locator == "VBUCKET")
    throw SpecError("options.locator", "VBUCKET takes its nodes from a Couchbase vbucket map, not a server list");
  if (locator != "ARRAY_MOD" && locator != "CONSISTENT")
    throw SpecError("options.locator", fmt::format("unknown locator \"{}\" (spymemcached: ARRAY_MOD, CONSISTENT)", locator));
  if (weighted && locator != "CONSISTENT")
    throw SpecError("options.weighted", "only the KetamaNodeLocator (locator CONSISTENT) has weights");
  require_integer_weights(spec, "spymemcached weights are Integers");
  if (!weighted)
    for (std::size_t i = 0; i < spec.servers.size(); ++i)
      if (spec.servers[i].weight != 1.0)
        throw SpecError(fmt::format("servers[{}].weight", i),
                        "spymemcached's ConnectionFactoryBuilder has no weights: set options.weighted for the "
                        "weighted KetamaNodeLocator constructor");

  RingLayout layout;
  layout.key_hash = hash;
  layout.key_transform = image::kUtf8Required;
  layout.min_key_length = 1;
  layout.max_key_length = kMaxKey;
  const auto n = static_cast<std::uint32_t>(spec.servers.size());

  if (locator == "ARRAY_MOD") {
    // ArrayModNodeLocator.getServerForKey: (int) (hash % nodes.length) on the unsigned hash
    layout.algorithm = image::kModulo;
    for (std::uint32_t i = 0; i < n; ++i) {
      layout.table.push_back(i);
      layout.server_points.push_back(1);
    }
    tabulate_15_bit_hashes(layout, n);  // CRC_HASH
    return layout;
  }

  std::uint64_t total_weight = 0;
  for (const auto& s : spec.servers) total_weight += static_cast<std::uint64_t>(s.weight);
  // Every count is computed first, so that a huge weight is refused before any point is made.
  std::vector<std::uint32_t> counts(n, kRepetitions);
  std::uint64_t total = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    if (weighted) counts[i] = ketama_md5_point_count(static_cast<std::uint64_t>(spec.servers[i].weight), total_weight, n);
    total += counts[i];
  }
  check_ring_size(total, "ring points");
  // TreeMap<Long, MemcachedNode>.put: a later node's equal point replaces the earlier node's.
  std::map<std::uint32_t, std::uint32_t> ring;
  const bool md5_groups = weighted || hash == image::kMd5;
  for (std::uint32_t i = 0; i < n; ++i) {
    const std::string name = node_name(spec, i);
    if (md5_groups) {  // ketamaNodePositionsAtIteration: the 4 words of md5("name-j")
      for (std::uint32_t j = 0; j < counts[i] / 4; ++j) {
        const std::string point_name = fmt::format("{}-{}", name, j);
        std::uint32_t words[4];
        hash::md5_words(point_name.data(), point_name.size(), words);
        for (std::uint32_t w : words) ring[w] = i;
      }
    } else {
      for (std::uint32_t j = 0; j < counts[i]; ++j) {
        const std::string point_name = fmt::format("{}-{}", name, j);
        ring[hash::key_hash(hash, 0, point_name.data(), point_name.size())] = i;
      }
    }
  }
  layout.algorithm = image::kContinuum;
  layout.server_points.assign(n, 0);
  for (const auto& [value, server] : ring) {
    layout.points.push_back({value, server});
    ++layout.server_points[server];
  }
  if (layout.points.empty()) throw SpecError("servers", "no server gets a ring point");
  tabulate_15_bit_hashes(layout, n);  // CRC_HASH: 15-bit points and keys
  return layout;
}

}  // namespace samering
