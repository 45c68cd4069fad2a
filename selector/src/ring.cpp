// Ring: the immutable view that picks. The hot path is pick(): hash + find, nothing else.
#include "samering/ring.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "image_format.hpp"
#include "hash/key_hash.hpp"
#include "hash/murmur3.hpp"
#include "samering/hash.hpp"
// MD5 for Dalli's shortened keys: the one-shot API's streaming twin (MD5_Init/Update/Final) on the
// stack, no allocation (EVP_MD_CTX_new would allocate per pick). Deprecated in OpenSSL 3.0 but kept.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/md5.h>

namespace samering {

// pymemcache's rendezvous hash of "address-" ‖ text for every node, split at the node's last whole
// murmur3 block: a node whose "address-" has `open` (0..3) bytes past its whole blocks is in
// group[open], with its state after the whole blocks, those open bytes (the start of its next
// block), the length of "address-" and its tie rank. The key's own blocks are then mixed once per
// group, not once per node.
struct Ring::RendezvousNodes {
  struct Group {
    std::vector<std::uint32_t> state, open_bytes, prefix_len, rank;
  };
  Group group[4];
  std::vector<std::uint32_t> server_of_rank;
};

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
  const char* strings = reinterpret_cast<const char*>(base + h.strings_offset);
  params_ = std::string_view(strings + h.params_offset, h.params_length);
  params_crc_ = hash::crc32_add(0, params_.data(), params_.size());
  special_ = key_transform_ != image::kNoTransform || algorithm_ == image::kRendezvous;
  rendezvous_.reset();
  if (algorithm_ == image::kRendezvous) {
    auto nodes = std::make_shared<RendezvousNodes>();
    nodes->server_of_rank.resize(server_count_);
    const auto* records = reinterpret_cast<const image::ServerRecord*>(base + h.servers_offset);
    for (std::uint32_t i = 0; i < server_count_; ++i) {
      std::string prefix(strings + records[i].address.offset, records[i].address.length);
      prefix += '-';
      const auto* p = reinterpret_cast<const unsigned char*>(prefix.data());
      const std::size_t whole = prefix.size() / 4;
      std::uint32_t state = 0;
      for (std::size_t b = 0; b < whole; ++b) state = hash::murmur3::step(state, hash::murmur3::mix(hash::murmur3::load(p + 4 * b)));
      const std::size_t open = prefix.size() & 3;
      auto& g = nodes->group[open];
      g.state.push_back(state);
      g.open_bytes.push_back(open ? hash::murmur3::load_tail(p + 4 * whole, open) : 0);
      g.prefix_len.push_back(static_cast<std::uint32_t>(prefix.size()));
      g.rank.push_back(table_[i]);
      nodes->server_of_rank[table_[i]] = i;  // validate_image: the ranks are a permutation
    }
    rendezvous_ = std::move(nodes);
  }
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
  if (special_) [[unlikely]] return pick_transformed(key, len);  // a key transform or rendezvous
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
  if (key_transform_ >= image::kDalliKey || algorithm_ == image::kRendezvous) [[unlikely]]
    return pick_rpy(key, len);  // Dalli, pymemcache (below)
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

namespace {

// Length of the well-formed UTF-8 sequence (RFC 3629, Unicode table 3-7) at p[0, avail), or 0.
inline std::size_t utf8_sequence(const unsigned char* p, std::size_t avail) noexcept {
  const unsigned c = p[0];
  if (c < 0x80) return 1;
  const auto cont = [&](std::size_t i, unsigned lo = 0x80, unsigned hi = 0xbf) {
    return i < avail && p[i] >= lo && p[i] <= hi;
  };
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c == 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;  // no UTF-16 surrogates
  if (c == 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;  // at most U+10FFFF
  return 0;
}

constexpr std::size_t kDalliMaxKey = 250;  // KeyManager::MAX_KEY_LENGTH (characters), memcached's (bytes)

// Dalli 3.0.6 key_manager.rb validate_key / truncated_key for w = params ‖ key of more than 250
// bytes: the crc32 of the key Dalli sends, or false when memcached would refuse it (> 250 bytes).
// Characters are counted as Ruby counts a UTF-8 String (String#length: a well-formed sequence is
// one character, any other byte one by itself). Cold: keys this long are rare.
[[gnu::noinline, gnu::cold]] bool dalli_long_key_hash(std::string_view params, const char* key, std::size_t len,
                                                      std::uint32_t& out) noexcept {
  const std::size_t total = params.size() + len;
  const auto byte_at = [&](std::size_t i) {
    return static_cast<unsigned char>(i < params.size() ? params[i] : key[i - params.size()]);
  };
  // prefix_length: 249 - ":md5:" - 32 hex digits = 212 characters; 213 with a namespace
  const std::size_t prefix_chars = params.empty() ? 212 : 213;
  std::size_t pos = 0, chars = 0, cut = 0;
  while (pos < total && chars <= kDalliMaxKey) {
    if (chars == prefix_chars) cut = pos;
    unsigned char window[4];
    const std::size_t avail = std::min<std::size_t>(4, total - pos);
    for (std::size_t i = 0; i < avail; ++i) window[i] = byte_at(pos + i);
    const std::size_t n = utf8_sequence(window, avail);
    pos += n ? n : 1;
    ++chars;
  }
  if (chars <= kDalliMaxKey) return false;  // sent as it is: more than 250 bytes, memcached refuses it
  static constexpr char kSeparator[] = ":md5:";
  if (cut + sizeof kSeparator - 1 + 32 > kDalliMaxKey) return false;  // the shortened key is still too long
  MD5_CTX md5;
  MD5_Init(&md5);
  MD5_Update(&md5, params.data(), params.size());
  MD5_Update(&md5, key, len);
  unsigned char digest[16];
  MD5_Final(digest, &md5);
  char hex[32];
  for (int i = 0; i < 16; ++i) {
    hex[2 * i] = "0123456789abcdef"[digest[i] >> 4];
    hex[2 * i + 1] = "0123456789abcdef"[digest[i] & 15];
  }
  const std::size_t from_params = std::min(cut, params.size());
  std::uint32_t h = hash::crc32_add(0, params.data(), from_params);
  h = hash::crc32_add(h, key, cut - from_params);
  h = hash::crc32_add(h, kSeparator, sizeof kSeparator - 1);
  out = hash::crc32_add(h, hex, sizeof hex);
  return true;
}

// pymemcache hashes the text "%s-%s" % (node, key) with murmur3_32, which reads ord(c) & 0xff per
// character (client/murmur3.py). A str key: the low byte of each code point; false when the key is
// not UTF-8 (no Python str has it).
bool python_str_low_bytes(const char* key, std::size_t len, unsigned char* out, std::size_t& n) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(key);
  n = 0;
  for (std::size_t i = 0; i < len;) {
    const std::size_t c = utf8_sequence(p + i, len - i);
    if (c == 0) return false;
    // the low 8 bits of the code point: the last byte's 6 bits and 2 bits of the byte before
    out[n++] = c == 1 ? p[i] : static_cast<unsigned char>((p[i + c - 2] & 0x03) << 6 | (p[i + c - 1] & 0x3f));
    i += c;
  }
  return true;
}

// A bytes key formatted with %s: its repr (CPython Objects/bytesobject.c PyBytes_Repr). At most
// 4 * len + 3 bytes.
std::size_t python_bytes_repr(const char* key, std::size_t len, unsigned char* out) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(key);
  bool single = false, dbl = false;
  for (std::size_t i = 0; i < len; ++i) {
    single |= p[i] == '\'';
    dbl |= p[i] == '"';
  }
  const unsigned char quote = single && !dbl ? '"' : '\'';
  std::size_t n = 0;
  out[n++] = 'b';
  out[n++] = quote;
  for (std::size_t i = 0; i < len; ++i) {
    const unsigned char c = p[i];
    if (c == quote || c == '\\') {
      out[n++] = '\\';
      out[n++] = c;
    } else if (c == '\t' || c == '\n' || c == '\r') {
      out[n++] = '\\';
      out[n++] = c == '\t' ? 't' : c == '\n' ? 'n' : 'r';
    } else if (c < 0x20 || c >= 0x7f) {
      out[n++] = '\\';
      out[n++] = 'x';
      out[n++] = "0123456789abcdef"[c >> 4];
      out[n++] = "0123456789abcdef"[c & 15];
    } else {
      out[n++] = c;
    }
  }
  out[n++] = quote;
  return n;
}

}  // namespace

// Dalli's wire key and the rendezvous algorithm (docs/ring-image.md transforms 3, 4, 5, algorithm 4).
std::int32_t Ring::pick_rpy(const char* key, std::size_t len) const noexcept {
  if (key_transform_ == image::kDalliKey) {
    std::uint32_t h;
    if (params_.size() + len <= kDalliMaxKey)  // at most 250 bytes, so at most 250 characters: sent as it is
      h = hash::crc32_add(params_crc_, key, len);
    else if (!dalli_long_key_hash(params_, key, len, h))
      return -1;
    if (server_count_ == 1) return 0;  // Dalli builds no ring for one server
    return pick_hash(h);
  }
  // The rendezvous algorithm (validate_image: transforms 4 and 5 only with it, keys <= 1024 bytes).
  unsigned char text[4 * image::kMaxRendezvousKey + 3];
  std::size_t n = len;
  if (key_transform_ == image::kPymemcacheStr) {
    if (!python_str_low_bytes(key, len, text, n)) return -1;
  } else if (key_transform_ == image::kPymemcacheBytes) {
    n = python_bytes_repr(key, len, text);
  } else if (len) {
    std::memcpy(text, key, len);
  }
  if (server_count_ == 1) return 0;
  return pick_rendezvous(text, n);
}

// RendezvousHash.get_node (pymemcache 3.5.2 client/rendezvous.py): the node with the highest
// murmur3_32("node-" ‖ text); a tie goes to the greater node name (max(str(node), str(winner))),
// i.e. the greater tie rank. Score and rank are compared as one 64-bit number.
std::int32_t Ring::pick_rendezvous(const unsigned char* text, std::size_t len) const noexcept {
  namespace m3 = hash::murmur3;
  constexpr std::size_t kChunk = 16;
  std::uint32_t blocks[(4 * image::kMaxRendezvousKey + 3) / 4 + 1];  // the text's whole blocks, mixed
  std::uint64_t best = 0;
  for (std::size_t open = 0; open < 4; ++open) {
    const auto& g = rendezvous_->group[open];
    const std::size_t count = g.state.size();
    if (count == 0) continue;
    // the node's open block takes the key's first `need` bytes (all of them if the key is shorter)
    const std::size_t need = open ? 4 - open : 0;
    const std::size_t first = std::min(need, len);
    const bool first_closes = open && len >= need;  // the open block becomes a whole block
    const std::uint32_t first_bytes = first ? m3::load_tail(text, first) << (8 * open) : 0;
    const std::size_t whole = (len - first) / 4;
    for (std::size_t b = 0; b < whole; ++b) blocks[b] = m3::mix(m3::load(text + first + 4 * b));
    const std::size_t rest = (len - first) & 3;
    const std::uint32_t tail = rest ? m3::mix(m3::load_tail(text + first + 4 * whole, rest)) : 0;
    const bool open_tail = open && !first_closes;  // node bytes + the whole (short) key stay a tail
    for (std::size_t base = 0; base < count; base += kChunk) {
      const std::size_t c = std::min(kChunk, count - base);
      std::uint32_t h[kChunk];
      for (std::size_t i = 0; i < c; ++i) {
        const std::uint32_t k = g.open_bytes[base + i] | first_bytes;
        h[i] = g.state[base + i];
        if (first_closes) h[i] = m3::step(h[i], m3::mix(k));
        if (open_tail) h[i] ^= m3::mix(k);
      }
      for (std::size_t b = 0; b < whole; ++b)
        for (std::size_t i = 0; i < c; ++i) h[i] = m3::step(h[i], blocks[b]);
      for (std::size_t i = 0; i < c; ++i) {
        const std::uint32_t score =
            m3::fmix((h[i] ^ tail) ^ static_cast<std::uint32_t>(g.prefix_len[base + i] + len));
        const std::uint64_t v = std::uint64_t{score} << 32 | g.rank[base + i];
        best = v > best ? v : best;
      }
    }
  }
  return static_cast<std::int32_t>(rendezvous_->server_of_rank[static_cast<std::uint32_t>(best)]);
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
    case image::kRendezvous:  // no hash space: every node wins a key with the same chance
      std::fill(share.begin(), share.end(), 1.0 / server_count_);
      break;
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
