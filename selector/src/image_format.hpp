// The RingImage byte layout (docs/ring-image.md). Internal: readers go through validate_image/Ring.
// All integers are little-endian (x86-64 and aarch64 native; a big-endian reader would see a
// wrong magic and refuse the image).
#pragma once

#include <cstddef>
#include <cstdint>

namespace samering::image {

inline constexpr char kMagic[8] = {'S', 'A', 'M', 'E', 'R', 'I', 'N', 'G'};
// Version 2: CMF's compatible mode and every 15-bit key hash are written as modulo tables by their
// flavors (version 1's algorithm 2 and its modulus / total_weight fields are gone); key_transform
// and params take their place. New algorithm, key hash and key transform ids may be added within a
// version (a reader refuses ids it does not know); ids are never reused.
inline constexpr std::uint32_t kFormatVersion = 2;

// How the server is found once the key hash is known.
enum Algorithm : std::uint32_t {
  kContinuum = 1,   // first point >= hash, wrap to the first point
  // 2 was version 1's CMF compatible continuum: invalid in version 2.
  kModulo = 3,      // table[hash % table_count]
  kRendezvous = 4,  // pymemcache RendezvousHash: max over servers of key_hash(address "-" key), tie rank in table
};

// How the key is hashed: the ids of hash/key_hash.cpp's table (the one place that maps an id to
// its name and function).
enum KeyHash : std::uint32_t {
  kCrc32 = 1,        // crc32_add(key_seed, key): zlib crc32 (= twemproxy crc32a, gomemcache)
  kCrc32Hi15 = 2,    // (crc32_add(key_seed, key) >> 16) & 0x7fff  (Cache::Memcached, libhashkit crc)
  kOneAtATime = 3,   // libhashkit, signed bytes (= twemproxy one_at_a_time)
  kMd5 = 4,          // libhashkit md5: first little-endian word of the digest
  kFnv1_64 = 5,
  kFnv1a_64 = 6,     // libhashkit's: 32-bit arithmetic (= twemproxy's)
  kFnv1_32 = 7,
  kFnv1a_32 = 8,
  kMurmur = 9,
  kMurmur3 = 10,
  kJenkins = 11,
  kTwemproxyHsieh = 12,
  kTwemproxyCrc16 = 13,
  kFnv1a32Hi15 = 14,        // (fnv1a_32 >> 16) & 0x7fff  (pecl memcache standard strategy, hash_function fnv)
  kJavaStringHashCode = 15, // String.hashCode() over the UTF-16 units of the UTF-8 key (spymemcached NATIVE_HASH)
  kJavaFnv1_64 = 16,        // spymemcached FNV1_64_HASH: 64-bit FNV-1 over UTF-16 units, low 32 bits
  kJavaFnv1a_64 = 17,       // spymemcached FNV1A_64_HASH: 64-bit FNV-1a over UTF-16 units, low 32 bits
  kJavaFnv1_32 = 18,        // spymemcached FNV1_32_HASH: 32-bit FNV-1 over UTF-16 units
  kJavaFnv1a_32 = 19,       // spymemcached FNV1A_32_HASH: 32-bit FNV-1a over UTF-16 units
  kMurmur3_32 = 20,         // MurmurHash3_x86_32, seed 0 (pymemcache murmur3_32 on a text's low bytes)
};

// How the key is rewritten before it is hashed (docs/ring-image.md "Key transforms").
enum KeyTransform : std::uint32_t {
  kNoTransform = 0,
  kPhpMemcacheKey = 1,  // bytes <= 0x20 hashed as '_' (pecl memcache mmc_prepare_key_ex); hashed_prefix_max 1..250
  kUtf8Required = 2,    // keys that are not well-formed UTF-8 are refused (spymemcached: keys are Java Strings)
  kDalliKey = 3,         // Dalli 3.0.6 KeyManager#validate_key: params ‖ key, shortened past 250 characters
  kPymemcacheStr = 4,    // a Python str: UTF-8 decoded, the low byte of each code point
  kPymemcacheBytes = 5,  // Python bytes formatted with %s: repr(key)
};
// kPhpMemcacheKey rewrites at most this many bytes (pecl memcache MMC_MAX_KEY_LEN): a stack buffer.
inline constexpr std::uint32_t kPhpMemcacheMaxKey = 250;

struct Header {
  char magic[8];
  std::uint32_t format_version;
  std::uint32_t header_size;
  std::uint64_t total_size;
  std::uint64_t checksum;        // XXH64 (seed 0) of the image with this field read as zero
  std::uint32_t algorithm;
  std::uint32_t key_hash;
  std::uint32_t key_seed;        // CRC state the key hash starts from (hashed namespace)
  std::uint32_t hashed_prefix_max;  // hash only the first N key bytes (0 = all)
  std::uint32_t min_key_length;  // keys outside [min, max] are refused (max 0 = unlimited)
  std::uint32_t max_key_length;
  std::uint32_t server_count;
  std::uint32_t point_count;
  std::uint32_t table_count;
  std::uint32_t index_bits;      // lookup index over the top bits of the hash (0 = none)
  std::uint32_t key_transform;   // KeyTransform
  std::uint32_t hash_tag;        // twemproxy hash_tag: open | close << 8 | kHashTagOn; 0 = none
  std::uint32_t params_offset, params_length;  // strings: what a key transform reads (0, 0 = none)
  std::uint64_t servers_offset;  // ServerRecord[server_count]
  std::uint64_t strings_offset;  // NUL-terminated strings referenced by offset
  std::uint64_t strings_size;
  std::uint64_t points_offset;   // uint32 values[point_count], then uint32 servers[point_count]
  std::uint64_t index_offset;    // uint32[(1 << index_bits) + 1]
  std::uint64_t table_offset;    // uint32[table_count]
  std::uint32_t flavor_offset, flavor_length;  // strings: flavor name
  std::uint32_t spec_offset, spec_length;      // strings: canonical spec JSON
};
static_assert(sizeof(Header) == 152);

struct StringRef {
  std::uint32_t offset;  // into the strings area
  std::uint32_t length;  // without the NUL that follows
};

struct ServerRecord {
  StringRef address;  // "host:port"
  StringRef host;
  StringRef port;
  StringRef name;
  double weight;
  std::uint32_t points;
  std::uint32_t reserved;
};
static_assert(sizeof(ServerRecord) == 48);

inline constexpr std::uint32_t kMaxIndexBits = 16;
// The longest key a rendezvous image may accept (a reader hashes from a fixed buffer).
inline constexpr std::uint32_t kMaxRendezvousKey = 1024;
inline constexpr std::uint32_t kHashTagOn = 1u << 16;
inline constexpr std::uint64_t kChecksumOffset = offsetof(Header, checksum);

}  // namespace samering::image
