// Fuzz target: arbitrary bytes as a RingImage (as read from a shared-memory file). The validator
// must refuse anything it cannot serve; whatever it accepts must pick indices < server count.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "samering/error.hpp"
#include "samering/ring.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint64_t> aligned((size + 7) / 8);  // images live 8-byte aligned
  if (size) std::memcpy(aligned.data(), data, size);
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(aligned.data()), size);
  try {
    const samering::Ring ring = samering::Ring::view(bytes, nullptr);
    static const char* const keys[] = {"", "a", "foo", "user:1234", "{tag}key", "\xe6\x97\xa5\xe6\x9c\xac"};
    for (const char* k : keys) {
      const std::int32_t i = ring.pick(k);
      if (i >= static_cast<std::int32_t>(ring.size()) || i < -1) std::abort();
    }
    for (std::size_t i = 0; i < ring.size(); ++i) (void)ring.server(i);
    (void)ring.flavor();
    (void)ring.spec_json();
    (void)ring.shares();
  } catch (const samering::ImageError&) {
  }
  return 0;
}
