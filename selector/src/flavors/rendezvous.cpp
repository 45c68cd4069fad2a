// Flavor "rendezvous": pymemcache 3.5.2 HashClient with its default hasher RendezvousHash, as
// Debian ships it (python3-pymemcache; pymemcache/client/hash.py HashClient._make_client_key,
// _get_client; client/rendezvous.py get_node; client/murmur3.py; client/base.py check_key_helper).
//   - node name: '%s:%s' % (host, port) — the spec address "host:port" as written (HashClient
//     names a (host, port) server so; a "host:port" string becomes (host, int(port)));
//   - get_node(key): score = murmur3_32("%s-%s" % (node, key), seed 0) per node; the highest wins;
//     equal scores go to the greater node name (max(str(node), str(winner))), in any order;
//   - murmur3_32 reads characters and keeps ord(c) & 0xff: a str key hashes the low byte of each
//     code point (key transform pymemcache_str: U+65E5 hashes 0xE5, U+1F600 hashes 0x00); a bytes
//     key is formatted by %s as its repr "b'...'" (option bytes_keys: transform pymemcache_bytes);
//   - the key_prefix is sent but never hashed (_get_client hashes the key as given); it counts in
//     check_key_helper's 250-byte limit. No weights. One node: every key to it.
// Options: key_prefix (string), bytes_keys (bool: the application passes bytes, not str).
#include <algorithm>
#include <numeric>

#include "../layout.hpp"

namespace samering {

RingLayout build_rendezvous(const RingSpec& spec) {
  OptionReader options(spec);
  const std::string prefix = options.get_string("key_prefix", "");
  const bool bytes_keys = options.get_bool("bytes_keys", false);
  options.finish();
  forbid_names(spec);
  for (std::size_t i = 0; i < spec.servers.size(); ++i)
    if (spec.servers[i].weight != 1.0)
      throw SpecError("servers[" + std::to_string(i) + "].weight", "pymemcache's RendezvousHash has no weights");
  if (prefix.size() > 249) throw SpecError("options.key_prefix", "must leave room for a key: at most 249 bytes");

  RingLayout layout;
  layout.algorithm = image::kRendezvous;
  layout.key_hash = image::kMurmur3_32;
  layout.key_transform = bytes_keys ? image::kPymemcacheBytes : image::kPymemcacheStr;
  layout.max_key_length = static_cast<std::uint32_t>(250 - prefix.size());  // check_key_helper
  const auto n = static_cast<std::uint32_t>(spec.servers.size());
  std::vector<std::string> names(n);
  for (std::uint32_t i = 0; i < n; ++i) names[i] = spec.servers[i].address();
  std::vector<std::uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  // Python compares str by code point; UTF-8 bytes compare in the same order.
  std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) { return names[a] < names[b]; });
  layout.table.resize(n);
  for (std::uint32_t r = 0; r < n; ++r) layout.table[order[r]] = r;  // tie rank of each server
  layout.server_points.assign(n, 0);
  return layout;
}

}  // namespace samering
