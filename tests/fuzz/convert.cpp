// Fuzz target: every `samering convert` input format. The first byte picks the format; the rest is
// the text. Any input must give either a spec that builds and picks in range, or a SpecError whose
// message starts with its position ("line L, column C: ...").
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "samering/convert.hpp"
#include "samering/error.hpp"
#include "samering/ring.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    samering::RingSpec spec;
    switch (data[0] % 6) {
      case 0: spec = samering::convert_libmemcached(text); break;
      case 1: spec = samering::convert_twemproxy(text); break;
      case 2: spec = samering::convert_cmf(text); break;
      case 4: spec = samering::convert_php_memcache(text); break;
      case 5: spec = samering::convert_spymemcached(text); break;
      default: spec = samering::convert_gomemcache(text); break;
    }
    const samering::Ring ring = samering::ring_from_spec(spec);
    const std::int32_t i = ring.pick("fuzz:key");
    if (i >= static_cast<std::int32_t>(ring.size()) || i < -1) std::abort();
  } catch (const samering::SpecError& e) {
    if (std::string_view(e.what()).substr(0, 5) != "line ") std::abort();  // every error has a position
  }
  return 0;
}
