// The key hashes of every flavor, by image::KeyHash id. Internal to the selector.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../image_format.hpp"

namespace samering::hash {

// twemproxy 0.5.0 src/hashkit/nc_crc16.c: XMODEM table, a 32-bit state never masked to 16 bits.
std::uint32_t twemproxy_crc16(const char* key, std::size_t len) noexcept;
// twemproxy 0.5.0 src/hashkit/nc_hsieh.c: SuperFastHash with twemproxy's signed-char 3-byte tail.
std::uint32_t twemproxy_hsieh(const char* key, std::size_t len) noexcept;
// md5(data) as 4 little-endian words: word(i) = md5w(data, i) (libhashkit md5 signature).
void md5_words(const char* data, std::size_t len, std::uint32_t out[4]) noexcept;

// The key hash `id` of key[0, len). `seed` is a CRC state for kCrc32/kCrc32Hi15 only.
std::uint32_t key_hash(std::uint32_t id, std::uint32_t seed, const char* key, std::size_t len) noexcept;

// Whether `id` is a known key hash.
bool known_key_hash(std::uint32_t id) noexcept;

}  // namespace samering::hash
