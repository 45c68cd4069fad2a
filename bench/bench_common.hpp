// bench_common.hpp — what bench_pick and pick_count share, so that both hash the same keys on the
// same rings: a fixed array of distinct 20-byte keys, the ring specs, and the libmemcached peer.
#pragma once

#include <libmemcached/memcached.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <string_view>

namespace bench {

inline constexpr std::size_t kKeyCount = 4096;  // a power of two: keys are cycled through
inline constexpr std::size_t kKeyLength = 20;

// kKeyCount distinct keys of kKeyLength bytes, "user:" + 15 base-36 digits of a splitmix64
// stream with a fixed seed, stored back to back (80 KiB: in L2, not in L1). Same keys every run.
class Keys {
 public:
  Keys() {
    std::uint64_t state = 0x5eed'5a3e'7269'6e67ull;
    std::set<std::string_view> seen;
    for (std::size_t i = 0; i < kKeyCount; ++i) {
      char* k = data_ + i * kKeyLength;
      do {
        std::uint64_t x = (state += 0x9e3779b97f4a7c15ull);
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
        x ^= x >> 31;
        std::memcpy(k, "user:", 5);
        for (std::size_t j = 5; j < kKeyLength; ++j) {
          k[j] = "0123456789abcdefghijklmnopqrstuvwxyz"[x % 36];
          x /= 36;
        }
      } while (!seen.insert(std::string_view(k, kKeyLength)).second);
    }
  }
  const char* key(std::size_t i) const noexcept { return data_ + (i % kKeyCount) * kKeyLength; }

 private:
  alignas(64) char data_[kKeyCount * kKeyLength];
};

inline const Keys& keys() {
  static const Keys k;
  return k;
}

// Host i of a ring of any size: distinct loopback addresses, the same in every ring and for
// libmemcached. No connection is ever made: these programs only hash.
inline std::string host(int i) {
  return "127.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
}
inline constexpr int kPort = 11211;

// The spec JSON of n servers, weight 1; `options` is the inside of the options object, or empty.
inline std::string spec_json(std::string_view flavor, int n, std::string_view options = {}) {
  std::string j = "{\"flavor\": \"" + std::string(flavor) + "\", ";
  if (!options.empty()) j += "\"options\": {" + std::string(options) + "}, ";
  j += "\"servers\": [";
  for (int i = 0; i < n; ++i) {
    if (i) j += ", ";
    j += "{\"host\": \"" + host(i) + "\", \"port\": " + std::to_string(kPort) + ", \"weight\": 1}";
  }
  return j + "]}";
}

// The flavors under test, as named in the benchmarks.
struct FlavorCase {
  const char* name;
  const char* flavor;
  const char* options;  // inside of the spec's options object
  int max_servers;      // rings larger than this are refused by the flavor (its peer aborts)
  bool libmemcached_peer = false;  // same ring as libmemcached_ring(n, weighted = md5)
  bool md5 = false;
};
inline constexpr FlavorCase kFlavors[] = {
    {"cmf_ketama", "cmf", "\"ketama_points\": 150", 1000},
    {"cmf_compat", "cmf", "", 1000},  // CMF's default (ketama_points 0): the compatible continuum
    {"cache_memcached", "cache-memcached", "", 1000},
    {"gomemcache", "gomemcache", "", 1000},
    // The libmemcached flavor configured as libmemcached_ring() below: servers first, then KETAMA.
    {"libmemcached_ketama_md5", "libmemcached", "\"distribution\": \"ketama-weighted\", \"servers_first\": true", 100,
     true, true},
    {"libmemcached_ketama_oaat", "libmemcached", "\"distribution\": \"ketama\", \"servers_first\": true", 100, true,
     false},
    {"twemproxy", "twemproxy", "", 1000},  // ketama, fnv1a_64 (its defaults)
    {"nginx", "nginx", "", 1000},          // hash $key consistent: crc32 chain, 160 points
    // the PHP and Java peers, each beside its bare key hash in bench_pick
    {"php_memcache_consistent", "php-memcache", "", 1000},  // crc32 % 1024 buckets
    {"php_memcache_consistent_fnv", "php-memcache", "\"hash_function\": \"fnv\"", 1000},
    {"php_memcache_standard", "php-memcache", "\"hash_strategy\": \"standard\"", 1000},  // 15-bit table
    {"php_memcache_standard_fnv", "php-memcache", "\"hash_strategy\": \"standard\", \"hash_function\": \"fnv\"", 1000},
    {"spymemcached_ketama", "spymemcached", "\"locator\": \"CONSISTENT\", \"hash\": \"KETAMA_HASH\"", 1000},
    {"spymemcached_array_mod", "spymemcached", "", 1000},  // NATIVE_HASH: String.hashCode
    {"spymemcached_array_mod_crc", "spymemcached", "\"hash\": \"CRC_HASH\"", 1000},
};
inline const FlavorCase& flavor_case(std::string_view name) {
  for (const auto& f : kFlavors)
    if (name == f.name) return f;
  std::abort();
}

// libmemcached's ketama. md5: MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED (md5 key hash, 160 points
// per server, 4 per md5); otherwise MEMCACHED_BEHAVIOR_KETAMA (one_at_a_time key hash; 100 points
// per server, each the one_at_a_time of "host-j").
// The behavior is set after the servers are added, so the continuum is built once. libmemcached
// 1.1.4 asserts (aborts) on a ketama ring of more than 100 servers: n <= 100.
inline memcached_st* libmemcached_ring(int n, bool md5) {
  memcached_st* m = memcached_create(nullptr);
  if (!m) {
    std::fprintf(stderr, "memcached_create failed\n");
    std::abort();
  }
  for (int i = 0; i < n; ++i) {
    if (memcached_server_add(m, host(i).c_str(), kPort) != MEMCACHED_SUCCESS) {
      std::fprintf(stderr, "memcached_server_add %s failed\n", host(i).c_str());
      std::abort();
    }
  }
  const auto behavior = md5 ? MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED : MEMCACHED_BEHAVIOR_KETAMA;
  if (memcached_behavior_set(m, behavior, 1) != MEMCACHED_SUCCESS) {
    std::fprintf(stderr, "memcached_behavior_set ketama failed\n");
    std::abort();
  }
  return m;
}

}  // namespace bench
