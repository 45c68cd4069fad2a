// Key hashes. libmemcached's are libhashkit's own functions (the library the peer runs), never
// re-written; twemproxy's crc16 and hsieh differ from any kept library and are written here,
// checked against nutcracker by the fixtures; crc32 is ours (crc32.cpp, checked against zlib).
#include "key_hash.hpp"

#include <libhashkit-1.0/hashkit.h>
// MD5: OpenSSL's one-shot MD5() (deprecated in 3.0 but kept, and ~20 ns faster per key than EVP or
// libhashkit's own md5 here: bench/README.md). Bit-exact with libhashkit (tests/hash_test.cpp).
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/md5.h>

#include <array>

#include "samering/hash.hpp"

namespace samering::hash {
namespace {

constexpr std::array<std::uint16_t, 256> make_crc16_table() {
  std::array<std::uint16_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i << 8;
    for (int k = 0; k < 8; ++k) c = (c & 0x8000) ? (c << 1) ^ 0x1021 : c << 1;
    t[i] = static_cast<std::uint16_t>(c);
  }
  return t;
}
constexpr auto kCrc16 = make_crc16_table();

inline std::uint32_t get16(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (std::uint32_t{u[1]} << 8) + u[0];
}

}  // namespace

std::uint32_t twemproxy_crc16(const char* key, std::size_t len) noexcept {
  std::uint32_t crc = 0;
  for (std::size_t i = 0; i < len; ++i)
    crc = (crc << 8) ^ kCrc16[((crc >> 8) ^ static_cast<std::uint32_t>(static_cast<signed char>(key[i]))) & 0xff];
  return crc;
}

std::uint32_t twemproxy_hsieh(const char* key, std::size_t len) noexcept {
  if (len == 0) return 0;
  std::uint32_t hash = 0, tmp;
  const int rem = static_cast<int>(len & 3);
  for (len >>= 2; len > 0; --len) {
    hash += get16(key);
    tmp = (get16(key + 2) << 11) ^ hash;
    hash = (hash << 16) ^ tmp;
    key += 4;
    hash += hash >> 11;
  }
  switch (rem) {
    case 3:
      hash += get16(key);
      hash ^= hash << 16;
      hash ^= static_cast<std::uint32_t>(static_cast<signed char>(key[2])) << 18;  // signed char, as in C
      hash += hash >> 11;
      break;
    case 2:
      hash += get16(key);
      hash ^= hash << 11;
      hash += hash >> 17;
      break;
    case 1:
      hash += static_cast<unsigned char>(*key);
      hash ^= hash << 10;
      hash += hash >> 1;
      break;
    default:
      break;
  }
  hash ^= hash << 3;
  hash += hash >> 5;
  hash ^= hash << 4;
  hash += hash >> 17;
  hash ^= hash << 25;
  hash += hash >> 6;
  return hash;
}

void md5_words(const char* data, std::size_t len, std::uint32_t out[4]) noexcept {
  unsigned char d[16];
  MD5(reinterpret_cast<const unsigned char*>(data), len, d);
  for (int i = 0; i < 4; ++i)
    out[i] = std::uint32_t{d[4 * i + 3]} << 24 | std::uint32_t{d[4 * i + 2]} << 16 |
             std::uint32_t{d[4 * i + 1]} << 8 | d[4 * i];
}

bool known_key_hash(std::uint32_t id) noexcept { return id >= image::kCrc32 && id <= image::kTwemproxyCrc16; }

std::uint32_t key_hash(std::uint32_t id, std::uint32_t seed, const char* key, std::size_t len) noexcept {
  switch (id) {
    case image::kCrc32: return crc32_add(seed, key, len);
    case image::kCrc32Hi15: return (crc32_add(seed, key, len) >> 16) & 0x7fffu;
    case image::kOneAtATime: return libhashkit_one_at_a_time(key, len);
    case image::kMd5: {  // libhashkit md5: the first little-endian word of the digest
      unsigned char d[16];
      MD5(reinterpret_cast<const unsigned char*>(key), len, d);
      return std::uint32_t{d[3]} << 24 | std::uint32_t{d[2]} << 16 | std::uint32_t{d[1]} << 8 | d[0];
    }
    case image::kFnv1_64: return libhashkit_fnv1_64(key, len);
    case image::kFnv1a_64: return libhashkit_fnv1a_64(key, len);
    case image::kFnv1_32: return libhashkit_fnv1_32(key, len);
    case image::kFnv1a_32: return libhashkit_fnv1a_32(key, len);
    case image::kMurmur: return libhashkit_murmur(key, len);
    case image::kMurmur3: return libhashkit_murmur3(key, len);
    case image::kJenkins: return libhashkit_jenkins(key, len);
    case image::kTwemproxyHsieh: return twemproxy_hsieh(key, len);
    case image::kTwemproxyCrc16: return twemproxy_crc16(key, len);
  }
  return 0;
}

}  // namespace samering::hash
