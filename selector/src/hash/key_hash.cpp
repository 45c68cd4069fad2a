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

#include "murmur3.hpp"
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

namespace {

std::uint32_t md5_first_word(const char* key, std::size_t len) noexcept {
  unsigned char d[16];
  MD5(reinterpret_cast<const unsigned char*>(key), len, d);
  return std::uint32_t{d[3]} << 24 | std::uint32_t{d[2]} << 16 | std::uint32_t{d[1]} << 8 | d[0];
}

// libhashkit's functions take (key, length); the table's take a CRC seed first.
template <std::uint32_t (*F)(const char*, std::size_t)>
std::uint32_t unseeded(std::uint32_t, const char* key, std::size_t len) noexcept {
  return F(key, len);
}

constexpr KeyHashInfo kKeyHashes[] = {
    {image::kCrc32, "crc32", [](std::uint32_t seed, const char* k, std::size_t n) noexcept { return crc32_add(seed, k, n); }},
    {image::kCrc32Hi15, "crc32_hi15",
     [](std::uint32_t seed, const char* k, std::size_t n) noexcept { return (crc32_add(seed, k, n) >> 16) & 0x7fffu; }},
    {image::kOneAtATime, "one_at_a_time", unseeded<libhashkit_one_at_a_time>},
    {image::kMd5, "md5", unseeded<md5_first_word>},  // libhashkit md5: the first little-endian word
    {image::kFnv1_64, "fnv1_64", unseeded<libhashkit_fnv1_64>},
    {image::kFnv1a_64, "fnv1a_64", unseeded<libhashkit_fnv1a_64>},
    {image::kFnv1_32, "fnv1_32", unseeded<libhashkit_fnv1_32>},
    {image::kFnv1a_32, "fnv1a_32", unseeded<libhashkit_fnv1a_32>},
    {image::kMurmur, "murmur", unseeded<libhashkit_murmur>},
    {image::kMurmur3, "murmur3", unseeded<libhashkit_murmur3>},
    {image::kJenkins, "jenkins", unseeded<libhashkit_jenkins>},
    {image::kTwemproxyHsieh, "twemproxy_hsieh", unseeded<twemproxy_hsieh>},
    {image::kTwemproxyCrc16, "twemproxy_crc16", unseeded<twemproxy_crc16>},
    // pecl memcache standard strategy with hash_function fnv: its FNV-1a reads signed chars exactly
    // as libhashkit's does (mmc_hash_fnv1a_combine: `seed ^= (unsigned int)*(p++)`)
    {image::kFnv1a32Hi15, "fnv1a_32_hi15",
     [](std::uint32_t, const char* k, std::size_t n) noexcept { return (libhashkit_fnv1a_32(k, n) >> 16) & 0x7fffu; }},
    {image::kJavaStringHashCode, "java_string_hashcode", unseeded<java_string_hashcode>},
    {image::kJavaFnv1_64, "java_fnv1_64", unseeded<java_fnv1_64>},
    {image::kJavaFnv1a_64, "java_fnv1a_64", unseeded<java_fnv1a_64>},
    {image::kJavaFnv1_32, "java_fnv1_32", unseeded<java_fnv1_32>},
    {image::kJavaFnv1a_32, "java_fnv1a_32", unseeded<java_fnv1a_32>},
    {image::kMurmur3_32, "murmur3_32", unseeded<murmur3::hash32>},  // rendezvous: per node (ring.cpp)
};

// The table in id order without gaps, so that an id finds its entry by index.
constexpr bool dense() {
  for (std::size_t i = 0; i < std::size(kKeyHashes); ++i)
    if (kKeyHashes[i].id != i + 1) return false;
  return true;
}
static_assert(dense(), "kKeyHashes must list ids 1, 2, 3, ... in order");

}  // namespace

std::span<const KeyHashInfo> key_hashes() noexcept { return kKeyHashes; }

bool is_15_bit(std::uint32_t id) noexcept { return id == image::kCrc32Hi15 || id == image::kFnv1a32Hi15; }

const KeyHashInfo* find_key_hash(std::uint32_t id) noexcept {
  return id >= 1 && id <= std::size(kKeyHashes) ? &kKeyHashes[id - 1] : nullptr;
}

}  // namespace samering::hash
