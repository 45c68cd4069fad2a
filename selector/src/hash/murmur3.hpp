// MurmurHash3_x86_32 (Austin Appleby, public domain algorithm) in pieces, for the rendezvous pick,
// which hashes "node-key" for every node and so precomputes each node's state after the whole
// 4-byte blocks of "node-" at attach time and mixes the key's blocks once per pick for all nodes
// (bench/README.md: faster than hashing every "node-key" string with the library). Written by hand
// for that split; bit-exact with Debian's libmurmurhash MurmurHash3_x86_32 (tests/hash_test.cpp).
// Internal to the selector.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace samering::hash::murmur3 {

inline constexpr std::uint32_t kC1 = 0xcc9e2d51, kC2 = 0x1b873593;

inline std::uint32_t rotl(std::uint32_t x, int r) noexcept { return x << r | x >> (32 - r); }
// The block mix: k1 *= c1; k1 = ROTL32(k1, 15); k1 *= c2.
inline std::uint32_t mix(std::uint32_t k) noexcept { return rotl(k * kC1, 15) * kC2; }
// One whole block into the state: h1 ^= k1; h1 = ROTL32(h1, 13); h1 = h1 * 5 + 0xe6546b64.
inline std::uint32_t step(std::uint32_t h, std::uint32_t mixed) noexcept { return rotl(h ^ mixed, 13) * 5 + 0xe6546b64; }
inline std::uint32_t fmix(std::uint32_t h) noexcept {
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  h ^= h >> 16;
  return h;
}
// Little-endian 32-bit load of 4 bytes (blocks are read little-endian on every host).
inline std::uint32_t load(const unsigned char* p) noexcept {
  return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 | std::uint32_t{p[3]} << 24;
}
// The tail block of 1..3 bytes, as the reference assembles it (p[0] lowest).
inline std::uint32_t load_tail(const unsigned char* p, std::size_t n) noexcept {
  std::uint32_t k = 0;
  for (std::size_t i = n; i-- > 0;) k = k << 8 | p[i];
  return k;
}

// The whole hash of data[0, len), seed 0.
inline std::uint32_t hash32(const char* data, std::size_t len) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(data);
  std::uint32_t h = 0;
  const std::size_t blocks = len / 4;
  for (std::size_t i = 0; i < blocks; ++i) h = step(h, mix(load(p + 4 * i)));
  if (len & 3) h ^= mix(load_tail(p + 4 * blocks, len & 3));
  return fmix(h ^ static_cast<std::uint32_t>(len));
}

}  // namespace samering::hash::murmur3
