// Key rules of memcached's text protocol, checked before a key is routed or sent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace samering::client_detail {

// memcached 1.6 memcached.h KEY_MAX_LENGTH: a key (namespace included) is at most 250 bytes.
inline constexpr std::size_t kMaxKeyLength = 250;
// libmemcached 1.1.4 limits.h MEMCACHED_MAX_NAMESPACE (128, NUL included).
inline constexpr std::size_t kMaxNamespaceLength = 127;

// memcached's text protocol splits a command line on spaces and ends it at "\n"; libmemcached
// 1.1.4 response.cc ends a key in a VALUE line at the first space or control byte. So no byte
// <= 0x20 and no DEL; bytes >= 0x80 (UTF-8) are allowed, as memcached allows them.
inline bool key_bytes_ok(std::string_view key) noexcept {
  // Eight bytes at a time (every key is checked on every call: bytewise it cost ~8 instructions
  // per byte). "Has a byte < n" and "has a zero byte" are the exact word tests of Bit Twiddling
  // Hacks (hasless for n <= 128, haszero), applied to x and to x ^ 0x7f7f...
  constexpr std::uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  auto word_ok = [](const char* p) {
    std::uint64_t x;
    std::memcpy(&x, p, 8);
    const std::uint64_t del = x ^ (ones * 0x7f);
    return (((x - ones * 0x21) & ~x) | ((del - ones) & ~del)) & highs ? false : true;
  };
  const char* p = key.data();
  const std::size_t n = key.size();
  if (n >= 8) {
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      if (!word_ok(p + i)) return false;
    }
    return i == n || word_ok(p + n - 8);  // the tail, overlapping bytes already checked
  }
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(p[i]);
    if (c <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace samering::client_detail
