// samering::hash::crc32 (hand-written slicing-by-8) against the published check value and against
// zlib's crc32, the reference implementation it must equal bit for bit (samering/hash.hpp).
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <libhashkit-1.0/hashkit.h>

#include "../selector/src/hash/key_hash.hpp"
#include "samering/hash.hpp"
#include "test_support.hpp"

namespace {

using samering::hash::crc32;
using samering::hash::crc32_add;

std::uint32_t zlib_crc(std::uint32_t crc, const unsigned char* p, std::size_t n) {
  return static_cast<std::uint32_t>(::crc32(crc, p, static_cast<uInt>(n)));
}

TEST(Crc32, PublishedCheckValue) {
  // CRC-32/ISO-HDLC check value (IEEE 802.3; algorithms.md §0).
  EXPECT_EQ(crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(crc32("123456789", 9), 0xCBF43926u);
}

TEST(Crc32, KnownValues) {
  EXPECT_EQ(crc32(""), 0u);
  EXPECT_EQ(crc32(nullptr, 0), 0u);
  // zlib on the same bytes (not our output).
  const std::string fox = "The quick brown fox jumps over the lazy dog";
  EXPECT_EQ(crc32(fox), 0x414FA339u);  // the widely published value for this sentence
  EXPECT_EQ(crc32(fox), zlib_crc(0, reinterpret_cast<const unsigned char*>(fox.data()), fox.size()));
}

TEST(Crc32, MatchesZlibOnRandomBuffersAtEveryAlignment) {
  std::mt19937_64 rng(20240607);
  std::vector<unsigned char> storage(300 + 16);
  int checked = 0;
  for (std::size_t len = 0; len <= 300; ++len) {
    for (std::size_t align = 0; align < 8; ++align) {
      unsigned char* p = storage.data() + align;
      for (std::size_t i = 0; i < len; ++i) p[i] = static_cast<unsigned char>(rng());
      const std::uint32_t want = zlib_crc(0, p, len);
      ASSERT_EQ(crc32(p, len), want) << "len " << len << " align " << align;
      // Continued from a random finished CRC too.
      const auto start = static_cast<std::uint32_t>(rng());
      ASSERT_EQ(crc32_add(start, p, len), zlib_crc(start, p, len)) << "len " << len << " align " << align;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 301 * 8);
}

TEST(Crc32, HighBytesAreUnsigned) {
  // Every byte value alone: a sign-extension bug shows on 0x80..0xff.
  for (int b = 0; b < 256; ++b) {
    const unsigned char c = static_cast<unsigned char>(b);
    ASSERT_EQ(crc32(&c, 1), zlib_crc(0, &c, 1)) << "byte " << b;
  }
}

TEST(Crc32, AddChainsLikeConcatenation) {
  // crc32_add(crc32(A), B) == crc32(A‖B) for every split of a buffer (algorithms.md §0).
  std::mt19937 rng(7);
  std::string data(137, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  const std::uint32_t whole = crc32(data);
  for (std::size_t cut = 0; cut <= data.size(); ++cut) {
    const std::uint32_t a = crc32(data.data(), cut);
    ASSERT_EQ(crc32_add(a, data.data() + cut, data.size() - cut), whole) << "cut " << cut;
  }
  EXPECT_EQ(crc32_add(0, data.data(), data.size()), whole);
  // Empty continuation leaves the CRC unchanged.
  EXPECT_EQ(crc32_add(whole, nullptr, 0), whole);
  // The hashed namespace (algorithms.md §1.1): crc32("app:" ‖ key) = crc32_add(crc32("app:"), key).
  EXPECT_EQ(crc32_add(crc32("app:"), "foo", 3), crc32("app:foo"));
}

// The key hashes that stand for libhashkit's (MD5 through OpenSSL, the 15-bit crc through our crc32)
// equal libhashkit itself — the library libmemcached runs — on random keys of every length 0..300
// with bytes >= 0x80 (signed-char hashing), and the md5 point words equal libhashkit's signature.
TEST(KeyHash, EqualsLibhashkit) {
  namespace img = samering::image;
  struct Pair {
    std::uint32_t id;
    std::uint32_t (*library)(const char*, std::size_t);
  };
  const Pair pairs[] = {
      {img::kMd5, libhashkit_md5},           {img::kCrc32Hi15, libhashkit_crc32},
      {img::kOneAtATime, libhashkit_one_at_a_time}, {img::kFnv1_64, libhashkit_fnv1_64},
      {img::kFnv1a_64, libhashkit_fnv1a_64}, {img::kFnv1_32, libhashkit_fnv1_32},
      {img::kFnv1a_32, libhashkit_fnv1a_32}, {img::kMurmur, libhashkit_murmur},
      {img::kMurmur3, libhashkit_murmur3},   {img::kJenkins, libhashkit_jenkins},
  };
  std::mt19937 rng(11);
  for (std::size_t len = 0; len <= 300; ++len) {
    std::string key(len, '\0');
    for (auto& c : key) c = static_cast<char>(rng());
    for (const auto& p : pairs)
      ASSERT_EQ(samering::hash::key_hash(p.id, 0, key.data(), key.size()), p.library(key.data(), key.size()))
          << "hash id " << p.id << ", length " << len;
    unsigned char digest[16];
    libhashkit_md5_signature(reinterpret_cast<const unsigned char*>(key.data()), key.size(), digest);
    std::uint32_t words[4];
    samering::hash::md5_words(key.data(), key.size(), words);
    for (int i = 0; i < 4; ++i) {
      std::uint32_t w;
      std::memcpy(&w, digest + 4 * i, 4);  // little-endian host
      ASSERT_EQ(words[i], w) << "md5 word " << i << ", length " << len;
    }
  }
}

}  // namespace
