// The key hashes of every flavor, by image::KeyHash id: one table (key_hash.cpp) maps an id to its
// name (docs/ring-image.md) and its function. Internal to the selector.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "../image_format.hpp"

namespace samering::hash {

// twemproxy 0.5.0 src/hashkit/nc_crc16.c: XMODEM table, a 32-bit state never masked to 16 bits.
std::uint32_t twemproxy_crc16(const char* key, std::size_t len) noexcept;
// twemproxy 0.5.0 src/hashkit/nc_hsieh.c: SuperFastHash with twemproxy's signed-char 3-byte tail.
std::uint32_t twemproxy_hsieh(const char* key, std::size_t len) noexcept;
// spymemcached 2.12.3 DefaultHashAlgorithm over the UTF-16 code units of UTF-8 text (java.cpp):
// NATIVE_HASH (String.hashCode), FNV1_64_HASH, FNV1A_64_HASH, FNV1_32_HASH, FNV1A_32_HASH. Exact
// for well-formed UTF-8; in bounds for any bytes.
std::uint32_t java_string_hashcode(const char* key, std::size_t len) noexcept;
std::uint32_t java_fnv1_64(const char* key, std::size_t len) noexcept;
std::uint32_t java_fnv1a_64(const char* key, std::size_t len) noexcept;
std::uint32_t java_fnv1_32(const char* key, std::size_t len) noexcept;
std::uint32_t java_fnv1a_32(const char* key, std::size_t len) noexcept;
// Whether key[0, len) is well-formed UTF-8 (RFC 3629: no overlong form, surrogate or code point
// above U+10FFFF, no truncated sequence): key transform 2.
bool utf8_well_formed(const char* key, std::size_t len) noexcept;
// Whether the key hash `id` has 15 bits (its values are < 32768): such rings are tabulated.
bool is_15_bit(std::uint32_t id) noexcept;

// md5(data) as 4 little-endian words: word(i) = md5w(data, i) (libhashkit md5 signature).
void md5_words(const char* data, std::size_t len, std::uint32_t out[4]) noexcept;

// A key hash of key[0, len). `seed` is a CRC state, used by the crc32 hashes only.
using KeyHashFn = std::uint32_t (*)(std::uint32_t seed, const char* key, std::size_t len) noexcept;

struct KeyHashInfo {
  image::KeyHash id;
  const char* name;  // as docs/ring-image.md names it
  KeyHashFn fn;
};

// Every key hash this build knows, in id order.
std::span<const KeyHashInfo> key_hashes() noexcept;
// The entry of `id`, or nullptr when this build does not know it (an image from a newer writer).
const KeyHashInfo* find_key_hash(std::uint32_t id) noexcept;

// The key hash `id` (which must be known) of key[0, len).
inline std::uint32_t key_hash(std::uint32_t id, std::uint32_t seed, const char* key, std::size_t len) noexcept {
  return find_key_hash(id)->fn(seed, key, len);
}

}  // namespace samering::hash
