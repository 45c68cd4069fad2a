// Flavor "gomemcache": bradfitz/gomemcache memcache/selector.go ServerList.PickServer
// (Debian golang-github-bradfitz-gomemcache-dev 0.0~git20141109).
//   one server → it; else addrs[crc32.ChecksumIEEE(key[:256]) % len(addrs)] — the key is copied
//   into a pooled 256-byte buffer, so only its first 256 bytes are hashed.
// gomemcache has no weights; its users list a server several times. Option repeat_by_weight:
// server i appears weight times, consecutively, in spec order.
#include "../layout.hpp"

namespace samering {

RingLayout build_gomemcache(const RingSpec& spec) {
  OptionReader options(spec);
  const bool repeat_by_weight = options.get_bool("repeat_by_weight", false);
  options.finish();
  forbid_names(spec);
  if (repeat_by_weight) {
    require_integer_weights(spec, "repeat_by_weight lists a server weight times");
  } else {
    for (std::size_t i = 0; i < spec.servers.size(); ++i)
      if (spec.servers[i].weight != 1.0)
        throw SpecError("servers[" + std::to_string(i) + "].weight",
                        "gomemcache has no weights: set options.repeat_by_weight to list a server weight times");
  }

  RingLayout layout;
  layout.key_hash = image::kCrc32;
  layout.hashed_prefix_max = 256;
  repeat_servers_by_weight(layout, spec);
  return layout;
}

}  // namespace samering
