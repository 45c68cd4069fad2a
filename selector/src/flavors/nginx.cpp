// Flavor "nginx": nginx 1.22.1 `upstream { hash $key consistent; }`
// (src/http/modules/ngx_http_upstream_hash_module.c ngx_http_upstream_init_chash,
// ngx_http_upstream_find_chash_point). The CMF ketama chain with 160 points per unit of weight,
// sorted (ngx_qsort = glibc's stable qsort) and with duplicate values removed keeping the first.
// The server name is the address as written: host = before the last ':' that ends a run of
// digits, port = those digits — our host and port fields, unchanged.
// An empty key makes nginx use round-robin, so keys must have at least one byte.
#include <algorithm>

#include "../layout.hpp"

namespace samering {

RingLayout build_nginx(const RingSpec& spec) {
  OptionReader options(spec);
  options.finish();
  forbid_names(spec);
  require_integer_weights(spec, "nginx weights are integers");

  std::uint64_t total = 0;
  for (const auto& s : spec.servers) total += static_cast<std::uint64_t>(s.weight) * 160;
  check_ring_size(total, "ring points (160 per unit of weight)");
  RingLayout layout;
  layout.algorithm = image::kContinuum;
  layout.key_hash = image::kCrc32;
  layout.min_key_length = 1;
  for (std::uint32_t i = 0; i < spec.servers.size(); ++i) {
    const auto count = static_cast<std::uint32_t>(spec.servers[i].weight) * 160;
    add_crc32_chain(layout, spec.servers[i], count, i);
  }
  // Remove duplicate values keeping the first of each run, as nginx does after its sort.
  std::stable_sort(layout.points.begin(), layout.points.end(),
                   [](const RingPoint& a, const RingPoint& b) { return a.value < b.value; });
  layout.points.erase(std::unique(layout.points.begin(), layout.points.end(),
                                  [](const RingPoint& a, const RingPoint& b) { return a.value == b.value; }),
                      layout.points.end());
  layout.server_points.assign(spec.servers.size(), 0);
  for (const auto& p : layout.points) ++layout.server_points[p.server];
  return layout;
}

}  // namespace samering
