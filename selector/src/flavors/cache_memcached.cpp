// Flavor "cache-memcached": Cache::Memcached 1.30 (lib/Cache/Memcached.pm) with no_rehash.
//   _hashfunc = (crc32(key) >> 16) & 0x7fff; init_buckets repeats each server int(weight) times;
//   get_sock = buckets[hash % bucketcount]; exactly one server → it, without hashing.
// Option: namespace (accepted because Cache::Memcached takes it; it is never hashed).
// Integer weights only: Cache::Memcached truncates a fractional weight (`for (1..$w)`), which
// silently changes the distribution, so we ask for the integer the peer really uses.
#include "../layout.hpp"

namespace samering {

RingLayout build_cache_memcached(const RingSpec& spec) {
  OptionReader options(spec);
  options.get_string("namespace", "");  // only prefixed on the wire, never part of the hash
  options.finish();
  forbid_names(spec);
  require_integer_weights(spec, "Cache::Memcached repeats a server int(weight) times");

  RingLayout layout;
  layout.key_hash = image::kCrc32Hi15;
  repeat_servers_by_weight(layout, spec);
  tabulate_15_bit_hashes(layout, spec.servers.size());
  return layout;
}

}  // namespace samering
