// Fuzz target: spec JSON → parse_spec → build_ring → picks. Any input must give either a ring
// whose picks are in range, or a SpecError; nothing else (no crash, no other exception, no hang).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "samering/error.hpp"
#include "samering/ring.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const samering::Ring ring = samering::ring_from_json(text);
    for (std::size_t cut = 0; cut <= size && cut < 64; cut += 7) {
      const std::int32_t i = ring.pick(text.substr(0, cut));
      if (i >= static_cast<std::int32_t>(ring.size()) || i < -1) std::abort();
      if (i >= 0) (void)ring.server(static_cast<std::size_t>(i));
    }
    (void)ring.shares();
  } catch (const samering::SpecError&) {
  }
  return 0;
}
