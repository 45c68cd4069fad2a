// spymemcached 2.12.3's key hashes (DefaultHashAlgorithm.hash) over Java Strings, i.e. over the
// UTF-16 code units of the key, computed from its UTF-8 bytes on the fly (no buffer, no
// allocation), and the well-formed UTF-8 check of key transform 2 (docs/ring-image.md).
// Hand-written: no kept library hashes UTF-16 units of UTF-8 text; checked against the JVM by
// tests/hash_test.cpp (values printed by String.hashCode and by spymemcached itself) and against
// spymemcached by the fixtures.
#include <cstring>

#include "key_hash.hpp"

namespace samering::hash {
namespace {

// Calls unit(u) for every UTF-16 code unit of the UTF-8 text key[0, len). Exact for well-formed
// UTF-8 (the only keys key transform 2 lets through); on anything else it stays in bounds and
// passes a byte that starts no complete sequence on as one unit.
template <class F>
inline void for_each_utf16_unit(const char* key, std::size_t len, F&& unit) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(key);
  const auto* end = p + len;
  while (p < end) {
    const std::uint32_t c = *p;
    const auto left = end - p;
    if (c < 0x80) {
      unit(c);
      p += 1;
    } else if (c >= 0xF0 && left >= 4) {  // U+10000..U+10FFFF: a surrogate pair
      const std::uint32_t cp = ((c & 0x07) << 18 | (p[1] & 0x3Fu) << 12 | (p[2] & 0x3Fu) << 6 | (p[3] & 0x3Fu)) - 0x10000;
      unit(0xD800 + ((cp >> 10) & 0x3FF));
      unit(0xDC00 + (cp & 0x3FF));
      p += 4;
    } else if (c >= 0xE0 && left >= 3) {
      unit((c & 0x0F) << 12 | (p[1] & 0x3Fu) << 6 | (p[2] & 0x3Fu));
      p += 3;
    } else if (c >= 0xC0 && left >= 2) {
      unit((c & 0x1F) << 6 | (p[1] & 0x3Fu));
      p += 2;
    } else {
      unit(c);
      p += 1;
    }
  }
}

constexpr std::uint64_t kFnv64Init = 0xcbf29ce484222325ull;   // DefaultHashAlgorithm.FNV_64_INIT
constexpr std::uint64_t kFnv64Prime = 0x100000001b3ull;       // FNV_64_PRIME
constexpr std::uint32_t kFnv32Init = 0x811c9dc5u;             // FNV_32_INIT (a long in Java: 2166136261L)
constexpr std::uint32_t kFnv32Prime = 0x01000193u;            // FNV_32_PRIME (16777619)

}  // namespace

bool utf8_well_formed(const char* key, std::size_t len) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(key);
  const auto* end = p + len;
  while (p < end) {
    // ASCII fast path, 8 bytes at a time: most keys are ASCII.
    while (end - p >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, 8);
      if (w & 0x8080808080808080ull) break;
      p += 8;
    }
    if (p == end) break;
    const unsigned c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    // RFC 3629 table 3-7: the allowed second byte depends on the first (no overlong forms, no
    // surrogates, nothing above U+10FFFF).
    unsigned lo = 0x80, hi = 0xBF;
    std::ptrdiff_t n;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;  // a continuation byte, C0/C1 (overlong) or F5..FF
    }
    if (end - p < n) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (std::ptrdiff_t k = 2; k < n; ++k)
      if ((p[k] & 0xC0) != 0x80) return false;
    p += n;
  }
  return true;
}

std::uint32_t java_string_hashcode(const char* key, std::size_t len) noexcept {
  // String.hashCode: s[0]*31^(n-1) + ... + s[n-1] in int arithmetic; the (long) & 0xffffffff of
  // DefaultHashAlgorithm.hash makes it the same bits read unsigned.
  std::uint32_t h = 0;
  for_each_utf16_unit(key, len, [&](std::uint32_t u) { h = 31 * h + u; });
  return h;
}

std::uint32_t java_fnv1_64(const char* key, std::size_t len) noexcept {
  std::uint64_t h = kFnv64Init;
  for_each_utf16_unit(key, len, [&](std::uint32_t u) {
    h *= kFnv64Prime;
    h ^= u;
  });
  return static_cast<std::uint32_t>(h);
}

std::uint32_t java_fnv1a_64(const char* key, std::size_t len) noexcept {
  std::uint64_t h = kFnv64Init;
  for_each_utf16_unit(key, len, [&](std::uint32_t u) {
    h ^= u;
    h *= kFnv64Prime;
  });
  return static_cast<std::uint32_t>(h);
}

// The 32-bit variants multiply in a 64-bit long; the low 32 bits of a product depend only on the
// low 32 bits of its factors, so 32-bit arithmetic gives the bits DefaultHashAlgorithm returns.
std::uint32_t java_fnv1_32(const char* key, std::size_t len) noexcept {
  std::uint32_t h = kFnv32Init;
  for_each_utf16_unit(key, len, [&](std::uint32_t u) {
    h *= kFnv32Prime;
    h ^= u;
  });
  return h;
}

std::uint32_t java_fnv1a_32(const char* key, std::size_t len) noexcept {
  std::uint32_t h = kFnv32Init;
  for_each_utf16_unit(key, len, [&](std::uint32_t u) {
    h ^= u;
    h *= kFnv32Prime;
  });
  return h;
}

}  // namespace samering::hash
