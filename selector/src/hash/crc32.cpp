// IEEE CRC-32, slicing-by-8 (Intel's "Slicing-by-8", Kounavis & Berry 2005). Tables are built at
// compile time. Bit-exact with zlib's crc32 (tests/hash_test.cpp compares them on random data).
#include <array>
#include <bit>
#include <cstring>

#include "samering/hash.hpp"

namespace samering::hash {
namespace {

constexpr std::uint32_t kPoly = 0xEDB88320u;

constexpr std::array<std::array<std::uint32_t, 256>, 8> make_tables() {
  std::array<std::array<std::uint32_t, 256>, 8> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[0][i] = c;
  }
  for (std::uint32_t i = 0; i < 256; ++i)
    for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
  return t;
}

constexpr auto kTables = make_tables();

}  // namespace

std::uint32_t crc32_add(std::uint32_t crc, const void* data, std::size_t len) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint32_t c = ~crc;
  while (len >= 8) {
    std::uint32_t lo, hi;
    std::memcpy(&lo, p, 4);  // little-endian hosts only (checked in image_format.hpp's users)
    std::memcpy(&hi, p + 4, 4);
    lo ^= c;
    c = kTables[7][lo & 0xff] ^ kTables[6][(lo >> 8) & 0xff] ^ kTables[5][(lo >> 16) & 0xff] ^
        kTables[4][lo >> 24] ^ kTables[3][hi & 0xff] ^ kTables[2][(hi >> 8) & 0xff] ^
        kTables[1][(hi >> 16) & 0xff] ^ kTables[0][hi >> 24];
    p += 8;
    len -= 8;
  }
  if (len >= 4) {  // slicing-by-4 for a 4..7-byte tail: keys are rarely a multiple of 8 long
    std::uint32_t w;
    std::memcpy(&w, p, 4);
    w ^= c;
    c = kTables[3][w & 0xff] ^ kTables[2][(w >> 8) & 0xff] ^ kTables[1][(w >> 16) & 0xff] ^ kTables[0][w >> 24];
    p += 4;
    len -= 4;
  }
  while (len--) c = (c >> 8) ^ kTables[0][(c ^ *p++) & 0xff];
  return ~c;
}

static_assert(std::endian::native == std::endian::little, "samering assumes a little-endian host");

}  // namespace samering::hash
