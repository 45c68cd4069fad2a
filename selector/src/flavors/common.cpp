// Ring-building pieces shared by several flavors (declared in layout.hpp).
#include <algorithm>
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

void repeat_servers_by_weight(RingLayout& layout, const RingSpec& spec, std::span<const std::uint32_t> order) {
  std::uint64_t entries = 0;
  for (const auto& s : spec.servers) entries += static_cast<std::uint64_t>(s.weight);
  check_ring_size(entries, "table entries (one per unit of weight)");
  layout.algorithm = image::kModulo;
  layout.server_points.assign(spec.servers.size(), 0);
  const auto add = [&](std::uint32_t i) {
    const auto times = static_cast<std::uint32_t>(spec.servers[i].weight);
    layout.table.insert(layout.table.end(), times, i);
    layout.server_points[i] = times;
  };
  if (order.empty()) {
    for (std::uint32_t i = 0; i < spec.servers.size(); ++i) add(i);
  } else {
    for (std::uint32_t i : order) add(i);
  }
}

void sort_points(std::vector<RingPoint>& points) {
  std::stable_sort(points.begin(), points.end(), [](const RingPoint& a, const RingPoint& b) { return a.value < b.value; });
}

std::uint32_t continuum_lookup(std::span<const RingPoint> sorted, std::uint32_t h) {
  const auto it = std::lower_bound(sorted.begin(), sorted.end(), h,
                                   [](const RingPoint& p, std::uint32_t v) { return p.value < v; });
  return (it == sorted.end() ? sorted.front() : *it).server;
}

void tabulate_15_bit_hashes(RingLayout& layout, std::size_t servers) {
  if (!hash::is_15_bit(layout.key_hash) || servers < 2) return;
  std::vector<std::uint32_t> table(32768);
  if (layout.algorithm == image::kModulo) {
    for (std::uint32_t h = 0; h < table.size(); ++h) table[h] = layout.table[h % layout.table.size()];
  } else {
    sort_points(layout.points);
    for (std::uint32_t h = 0; h < table.size(); ++h) table[h] = continuum_lookup(layout.points, h);
    layout.points.clear();
  }
  layout.algorithm = image::kModulo;
  layout.table = std::move(table);
}

image::KeyHash lookup_hash(const std::string& name, std::span<const HashName> table, const char* peer) {
  for (const auto& h : table)
    if (name == h.name) return h.id;
  std::string known;
  for (const auto& h : table) known += (known.empty() ? "" : ", ") + std::string(h.name);
  throw SpecError("options.hash", "unknown hash \"" + name + "\" (" + peer + ": " + known + ")");
}

}  // namespace samering
