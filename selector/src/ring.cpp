// Ring: the immutable view that picks. The hot path is pick(): hash + find, nothing else.
#include "samering/ring.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "image_format.hpp"
#include "hash/key_hash.hpp"
#include "samering/hash.hpp"

namespace samering {

Ring::Ring(RingImage image) {
  auto owned = std::make_shared<const RingImage>(std::move(image));
  attach(owned->bytes());
  owner_ = std::move(owned);
}

Ring Ring::view(std::span<const std::byte> bytes, std::shared_ptr<const void> owner) {
  Ring ring;
  ring.attach(bytes);
  ring.owner_ = std::move(owner);
  return ring;
}

void Ring::attach(std::span<const std::byte> bytes) {
  validate_image(bytes);
  image::Header h;
  std::memcpy(&h, bytes.data(), sizeof h);
  bytes_ = bytes;
  const auto* base = bytes.data();
  point_values_ = reinterpret_cast<const std::uint32_t*>(base + h.points_offset);
  point_servers_ = point_values_ + h.point_count;
  index_ = h.index_bits ? reinterpret_cast<const std::uint32_t*>(base + h.index_offset) : nullptr;
  table_ = reinterpret_cast<const std::uint32_t*>(base + h.table_offset);
  server_count_ = h.server_count;
  point_count_ = h.point_count;
  table_count_ = h.table_count;
  // A power-of-two table (every 15-bit table, php-memcache's 1,024 buckets): a mask instead of a
  // division, the same answer (h % 2^k == h & (2^k - 1)); ~8 ns of a ~14 ns pick here (bench_pick).
  table_mask_ = h.table_count && (h.table_count & (h.table_count - 1)) == 0 ? h.table_count - 1 : 0;
  index_shift_ = 32 - h.index_bits;
  algorithm_ = h.algorithm;
  key_hash_ = h.key_hash;
  key_hash_fn_ = hash::find_key_hash(h.key_hash)->fn;  // validate_image refused unknown ids
  key_seed_ = h.key_seed;
  hashed_prefix_max_ = h.hashed_prefix_max;
  hash_tag_ = h.hash_tag;
  key_transform_ = h.key_transform;
  min_key_ = h.min_key_length;
  max_key_ = h.max_key_length;
}

namespace {
// twemproxy 0.5.0 nc_server.c server_pool_idx: hash the bytes strictly between the first open tag
// and the first close tag after it, when at least one byte lies between; else the whole key.
// Out of line and cold so that pick() keeps a small frame when no tag is set (bench/README.md).
[[gnu::noinline, gnu::cold]] std::uint32_t hash_tagged(std::uint32_t tag, std::uint32_t id, std::uint32_t seed,
                                                       const char* key, std::size_t len) noexcept {
  const auto* open = static_cast<const char*>(std::memchr(key, tag & 0xff, len));
  if (open) {
    const auto* close = static_cast<const char*>(
        std::memchr(open + 1, (tag >> 8) & 0xff, static_cast<std::size_t>(key + len - open - 1)));
    if (close && close - open > 1) {
      key = open + 1;
      len = static_cast<std::size_t>(close - key);
    }
  }
  return hash::key_hash(id, seed, key, len);
}
}  // namespace

inline std::uint32_t Ring::key_hash(const char* key, std::size_t len) const noexcept {
  if (hashed_prefix_max_ && len > hashed_prefix_max_) len = hashed_prefix_max_;  // gomemcache: 256
  if (hash_tag_) [[unlikely]]
    return hash_tagged(hash_tag_, key_hash_, key_seed_, key, len);
  if (key_hash_ == image::kCrc32) return hash::crc32_add(key_seed_, key, len);  // the common cases inline
  if (key_hash_ == image::kCrc32Hi15) return (hash::crc32_add(key_seed_, key, len) >> 16) & 0x7fffu;
  return key_hash_fn_(key_seed_, key, len);
}

// Position of the first point >= h, wrapping to 0 past the last point. With equal values the
// first of them is found, i.e. the one inserted first (write_image sorts stably).
inline std::uint32_t Ring::continuum_position(std::uint32_t h) const noexcept {
  const std::uint32_t* v = point_values_;
  std::uint32_t lo = 0, hi = point_count_;
  if (index_) {
    const std::uint32_t b = h >> index_shift_;
    lo = index_[b];
    hi = index_[b + 1];
  }
  if (hi - lo <= 8) {
    while (lo < hi && v[lo] < h) ++lo;
  } else {
    lo = static_cast<std::uint32_t>(std::lower_bound(v + lo, v + hi, h) - v);
  }
  return lo == point_count_ ? 0 : lo;
}

std::int32_t Ring::pick(const char* key, std::size_t len) const noexcept {
  if (len < min_key_ || (max_key_ && len > max_key_)) return -1;
  if (key_transform_) [[unlikely]]
    return pick_transformed(key, len);
  if (server_count_ == 1) return 0;  // every peer short-cuts a single server without hashing
  return pick_hash(key_hash(key, len));
}

namespace {
constexpr std::uint64_t kOnes = 0x0101010101010101ull;

// Whether key[0, len) has a byte >= 0x80 (then the full UTF-8 check runs): 8 bytes at a time, the
// last 8 overlapping, so a 20-byte key costs three loads.
inline bool has_high_byte(const char* key, std::size_t len) noexcept {
  std::uint64_t acc = 0, w;
  if (len >= 8) {
    for (std::size_t i = 0; i + 8 < len; i += 8) {
      std::memcpy(&w, key + i, 8);
      acc |= w;
    }
    std::memcpy(&w, key + len - 8, 8);
    acc |= w;
  } else {
    for (std::size_t i = 0; i < len; ++i) acc |= static_cast<unsigned char>(key[i]);
  }
  return acc & (0x80 * kOnes);
}

// Whether a word has a byte <= 0x20 ("has a byte less than 0x21": exact for thresholds <= 0x80).
inline bool word_has_control(std::uint64_t w) noexcept { return (w - 0x21 * kOnes) & ~w & (0x80 * kOnes); }

// Whether key[0, n) has a byte <= 0x20, the same way.
inline bool has_control(const char* key, std::size_t n) noexcept {
  std::uint64_t w;
  if (n >= 8) {
    for (std::size_t i = 0; i + 8 < n; i += 8) {
      std::memcpy(&w, key + i, 8);
      if (word_has_control(w)) return true;
    }
    std::memcpy(&w, key + n - 8, 8);
    return word_has_control(w);
  }
  for (std::size_t i = 0; i < n; ++i)
    if (static_cast<unsigned char>(key[i]) <= 0x20) return true;
  return false;
}
}  // namespace

// The key transforms (docs/ring-image.md).
inline std::int32_t Ring::pick_transformed(const char* key, std::size_t len) const noexcept {
  if (key_transform_ == image::kUtf8Required) {
    // spymemcached: a key is a Java String sent as its UTF-8 bytes, so other bytes name no key.
    // ASCII (most keys) is UTF-8; anything else goes through the full check.
    if (has_high_byte(key, len) && !hash::utf8_well_formed(key, len)) return -1;
    if (server_count_ == 1) return 0;
    return pick_hash(key_hash(key, len));
  }
  // kPhpMemcacheKey: pecl memcache 4.0.5.2 mmc_prepare_key_ex hashes (and sends) the key cut to 250
  // bytes with every byte <= ' ' written as '_'. validate_image keeps hashed_prefix_max in 1..250,
  // so the rewritten bytes fit a fixed buffer; a key without such a byte is hashed in place.
  if (server_count_ == 1) return 0;
  const std::size_t n = len < hashed_prefix_max_ ? len : hashed_prefix_max_;
  if (!has_control(key, n)) return pick_hash(key_hash(key, n));
  char buf[image::kPhpMemcacheMaxKey];
  for (std::size_t i = 0; i < n; ++i) buf[i] = static_cast<unsigned char>(key[i]) <= 0x20 ? '_' : key[i];
  return pick_hash(key_hash(buf, n));
}

inline std::int32_t Ring::pick_hash(std::uint32_t h) const noexcept {
  // validate_image accepts exactly these two algorithms.
  if (algorithm_ == image::kModulo)
    return static_cast<std::int32_t>(table_[table_mask_ || table_count_ == 1 ? h & table_mask_ : h % table_count_]);
  return static_cast<std::int32_t>(point_servers_[continuum_position(h)]);
}

void Ring::pick_many(const std::string_view* keys, std::size_t n, std::int32_t* out) const noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = pick(keys[i].data(), keys[i].size());
}

namespace {
const image::Header& header_of(std::span<const std::byte> bytes) {
  return *reinterpret_cast<const image::Header*>(bytes.data());
}
std::string_view string_at(std::span<const std::byte> bytes, std::uint32_t offset, std::uint32_t length) {
  const auto& h = header_of(bytes);
  return {reinterpret_cast<const char*>(bytes.data() + h.strings_offset) + offset, length};
}
}  // namespace

ServerInfo Ring::server(std::size_t i) const {
  if (i >= server_count_) throw std::out_of_range("server index " + std::to_string(i) + " of " +
                                                  std::to_string(server_count_));
  const auto& h = header_of(bytes_);
  const auto& r = reinterpret_cast<const image::ServerRecord*>(bytes_.data() + h.servers_offset)[i];
  return ServerInfo{string_at(bytes_, r.address.offset, r.address.length),
                    string_at(bytes_, r.host.offset, r.host.length),
                    string_at(bytes_, r.port.offset, r.port.length),
                    string_at(bytes_, r.name.offset, r.name.length),
                    r.weight,
                    r.points};
}

std::string_view Ring::flavor() const noexcept {
  const auto& h = header_of(bytes_);
  return string_at(bytes_, h.flavor_offset, h.flavor_length);
}

std::string_view Ring::spec_json() const noexcept {
  const auto& h = header_of(bytes_);
  return string_at(bytes_, h.spec_offset, h.spec_length);
}

std::vector<double> Ring::shares() const {
  std::vector<double> share(server_count_, 0.0);
  if (server_count_ == 1) {
    share[0] = 1.0;
    return share;
  }
  switch (algorithm_) {
    case image::kContinuum: {
      // Point i owns (value[i-1], value[i]]; point 0 also owns everything past the last point.
      constexpr double space = 4294967296.0;
      std::uint32_t prev = point_values_[point_count_ - 1];
      for (std::uint32_t i = 0; i < point_count_; ++i) {
        const std::uint32_t owned = point_values_[i] - prev;  // mod 2^32: wrap-around for i = 0
        // Equal values: only the first of a run owns the range.
        if (i == 0 || point_values_[i] != point_values_[i - 1])
          share[point_servers_[i]] += (i == 0 && point_count_ == 1) ? 1.0 : owned / space;
        prev = point_values_[i];
      }
      if (point_count_ > 1 && point_values_[0] == point_values_[point_count_ - 1]) {
        std::fill(share.begin(), share.end(), 0.0);  // all points equal: one server owns all
        share[point_servers_[0]] = 1.0;
      }
      break;
    }
    case image::kModulo:
      if (hash::is_15_bit(key_hash_) && !hash_tag_) {  // 15-bit hash: count exactly
        for (std::uint32_t h = 0; h < 32768; ++h) share[table_[h % table_count_]] += 1.0 / 32768;
      } else {
        for (std::uint32_t i = 0; i < table_count_; ++i) share[table_[i]] += 1.0 / table_count_;
      }
      break;
  }
  return share;
}

Ring ring_from_spec(const RingSpec& spec) { return Ring(build_ring(spec)); }
Ring ring_from_json(std::string_view json) { return ring_from_spec(parse_spec(json)); }
Ring ring_from_file(const std::string& path) { return ring_from_spec(parse_spec_file(path)); }

}  // namespace samering
