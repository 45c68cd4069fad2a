// Ring-building pieces shared by several flavors (declared in layout.hpp).
#include <cmath>

#include "../hash/key_hash.hpp"
#include "../layout.hpp"
#include "samering/hash.hpp"

namespace samering {

void add_crc32_chain(RingLayout& layout, const ServerSpec& server, std::uint32_t count, std::uint32_t index) {
  // CMF 0.28 dispatch_key.c ketama_crc32_add_server; nginx 1.22.1
  // ngx_http_upstream_hash_module.c ngx_http_upstream_init_chash ("compatible with
  // Cache::Memcached::Fast: crc32(HOST \0 PORT PREV_HASH)"). Host and port text as written.
  static constexpr char delim = '\0';
  std::uint32_t seed = hash::crc32(server.host);
  seed = hash::crc32_add(seed, &delim, 1);
  seed = hash::crc32_add(seed, server.port.data(), server.port.size());
  std::uint32_t point = 0;
  for (std::uint32_t i = 0; i < count; ++i) {
    const unsigned char le[4] = {static_cast<unsigned char>(point), static_cast<unsigned char>(point >> 8),
                                 static_cast<unsigned char>(point >> 16), static_cast<unsigned char>(point >> 24)};
    point = hash::crc32_add(seed, le, sizeof le);
    layout.points.push_back({point, index});
  }
}

std::uint32_t ketama_md5_point_count(std::uint64_t weight, std::uint64_t total_weight, std::uint32_t servers) {
  // libmemcached 1.1.4 hosts.cc update_continuum:
  //   float pct = (float) weight / (float) total_weight;
  //   (uint32_t)((::floor((float)(pct * 160 / 4 * (float) live_servers + 0.0000000001F))) * 4)
  // twemproxy 0.5.0 nc_ketama.c ketama_update: the same with a double 1e-10 and floorf; adding
  // 1e-10 in double to a float value and rounding back to float gives the same float, so one
  // function serves both. Every step is a float operation (-ffp-contract=off: no FMA).
  const float pct = static_cast<float>(weight) / static_cast<float>(total_weight);
  float v = pct * 160;
  v = v / 4;
  v = v * static_cast<float>(servers);
  v = v + 0.0000000001F;
  return static_cast<std::uint32_t>(std::floor(v) * 4);
}

void add_md5_points(RingLayout& layout, std::string_view name, std::uint32_t index) {
  std::uint32_t words[4];
  hash::md5_words(name.data(), name.size(), words);
  for (std::uint32_t w : words) layout.points.push_back({w, index});
}

image::KeyHash lookup_hash(const std::string& name, std::span<const HashName> table, const char* peer) {
  for (const auto& h : table)
    if (name == h.name) return h.id;
  std::string known;
  for (const auto& h : table) known += (known.empty() ? "" : ", ") + std::string(h.name);
  throw SpecError("options.hash", "unknown hash \"" + name + "\" (" + peer + ": " + known + ")");
}

}  // namespace samering
