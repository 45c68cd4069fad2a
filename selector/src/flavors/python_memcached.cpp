// Flavor "python-memcached": python-memcached 1.59 memcache.Client as Debian ships it
// (python3-memcache 1.59; the module still says __version__ 1.58; memcache.py cmemcache_hash,
// Client._init_buckets, Client._get_server, Client.check_key, Client._map_and_prefix_keys).
//   bucket hash = ((crc32(key) & 0xffffffff) >> 16) & 0x7fff, and 0 becomes 1 (`... or 1`);
//   buckets: each server `weight` times, in the given order; server = buckets[hash % len(buckets)];
//   no short cut for one server (hash % 1 is 0 anyway). Hosts and ports never enter the hash.
// It is Cache::Memcached's rule (flavor cache-memcached) except for the "or 1": the two part on the
// ~1/32,768 keys whose hash is 0 (fixtures: every python-memcached file has such keys).
// Option key_prefix (get_multi/set_multi/delete_multi's key_prefix): sent and hashed in front of the
// key. Keys: check_key refuses more than 250 bytes with the prefix and an empty key (bytes other
// than 0x21-0x7e and 0x80-0xff are refused too; the ring does not check characters).
#include "../layout.hpp"
#include "samering/hash.hpp"

namespace samering {

RingLayout build_python_memcached(const RingSpec& spec) {
  OptionReader options(spec);
  const std::string prefix = options.get_string("key_prefix", "");
  options.finish();
  forbid_names(spec);
  require_integer_weights(spec, "python-memcached repeats a server range(weight) times");
  if (prefix.size() > 249) throw SpecError("options.key_prefix", "must leave room for a key: at most 249 bytes");
  for (unsigned char c : prefix)
    if (c <= 0x20 || c == 0x7f)
      throw SpecError("options.key_prefix", "python-memcached refuses a key_prefix with spaces or control bytes");

  RingLayout layout;
  layout.key_hash = image::kCrc32Hi15;
  layout.key_seed = hash::crc32(prefix);  // _get_server(key_prefix + key)
  layout.min_key_length = 1;
  layout.max_key_length = static_cast<std::uint32_t>(250 - prefix.size());  // SERVER_MAX_KEY_LENGTH
  repeat_servers_by_weight(layout, spec);
  if (spec.servers.size() > 1) {
    // The 15-bit hash tabulated with its "or 1": entry h holds buckets[max(h, 1) % len(buckets)].
    std::vector<std::uint32_t> table(32768);
    for (std::uint32_t h = 0; h < table.size(); ++h) table[h] = layout.table[(h ? h : 1) % layout.table.size()];
    layout.table = std::move(table);
  }
  return layout;
}

}  // namespace samering
