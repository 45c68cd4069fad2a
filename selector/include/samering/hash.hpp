// samering/hash.hpp — key hashes used by the flavors. Pure functions: no allocation, no state,
// safe from any thread and after fork.
#pragma once

#include "samering/common.h"  // SAMERING_API

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace samering::hash {

// IEEE 802.3 CRC-32 (= zlib crc32, Perl String::CRC32, Go crc32.ChecksumIEEE), continued from a
// finished CRC `crc`: crc32_add(crc32(A), B) == crc32(A‖B); crc32_add(0, B) == crc32(B).
// Slicing-by-8, hand-written because it is measured ~4–8× faster than Debian's zlib on short keys
// (bench/bench_pick.cpp BM_Crc32*) and tested bit-exact against zlib (tests/hash_test.cpp).
SAMERING_API std::uint32_t crc32_add(std::uint32_t crc, const void* data, std::size_t len) noexcept;

inline std::uint32_t crc32(const void* data, std::size_t len) noexcept { return crc32_add(0, data, len); }
inline std::uint32_t crc32(std::string_view s) noexcept { return crc32_add(0, s.data(), s.size()); }

}  // namespace samering::hash
