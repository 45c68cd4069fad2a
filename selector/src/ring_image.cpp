// RingImage: writing (from a flavor's RingLayout) and validation (docs/ring-image.md).
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <string>

#include "hash/key_hash.hpp"
#include "layout.hpp"

namespace samering {

using image::Header;
using image::ServerRecord;
using image::StringRef;

namespace {

std::uint64_t align8(std::uint64_t n) { return (n + 7) & ~std::uint64_t{7}; }

std::uint64_t image_checksum(const std::byte* p, std::size_t size) {
  static constexpr std::byte zero[8] = {};
  XXH64_state_t state;  // XXH_STATIC_LINKING_ONLY: on the stack, no allocation
  XXH64_reset(&state, 0);
  XXH64_update(&state, p, image::kChecksumOffset);
  XXH64_update(&state, zero, sizeof zero);
  XXH64_update(&state, p + image::kChecksumOffset + 8, size - image::kChecksumOffset - 8);
  return XXH64_digest(&state);
}

// Index bits for n points: about four buckets per point (so a lookup reads one or two values),
// at most 2^16 + 1 entries.
std::uint32_t index_bits_for(std::size_t n) {
  if (n == 0) return 0;
  const auto log2 = static_cast<std::uint32_t>(std::bit_width(n - 1));
  return std::min<std::uint32_t>(image::kMaxIndexBits, std::max<std::uint32_t>(1, log2 + 2));
}

class StringTable {
 public:
  StringRef add(std::string_view s) {
    StringRef ref{static_cast<std::uint32_t>(bytes_.size()), static_cast<std::uint32_t>(s.size())};
    bytes_.append(s);
    bytes_.push_back('\0');
    return ref;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

[[noreturn]] void fail(const std::string& why) { throw ImageError("invalid ring image: " + why); }

}  // namespace

// The one place that writes image bytes (RingImage's storage is private to it).
class ImageWriter {
 public:
  static RingImage write(const RingSpec& spec, RingLayout& layout) {
    sort_points(layout.points);
    const std::size_t n = spec.servers.size();
    const std::size_t pc = layout.points.size();
    const std::uint32_t bits = index_bits_for(pc);
    const std::size_t index_entries = bits ? (std::size_t{1} << bits) + 1 : 0;

    StringTable strings;
    Header h{};
    std::memcpy(h.magic, image::kMagic, sizeof h.magic);
    h.format_version = image::kFormatVersion;
    h.header_size = sizeof(Header);
    h.algorithm = layout.algorithm;
    h.key_hash = layout.key_hash;
    h.key_seed = layout.key_seed;
    h.hashed_prefix_max = layout.hashed_prefix_max;
    h.hash_tag = layout.hash_tag;
    h.min_key_length = layout.min_key_length;
    h.max_key_length = layout.max_key_length;
    h.server_count = static_cast<std::uint32_t>(n);
    h.point_count = static_cast<std::uint32_t>(pc);
    h.table_count = static_cast<std::uint32_t>(layout.table.size());
    h.index_bits = bits;
    h.key_transform = layout.key_transform;
    if (!layout.params.empty()) {
      const auto params = strings.add(layout.params);
      h.params_offset = params.offset;
      h.params_length = params.length;
    }
    const auto flavor = strings.add(spec.flavor);
    h.flavor_offset = flavor.offset;
    h.flavor_length = flavor.length;
    const auto json = strings.add(to_json(spec));
    h.spec_offset = json.offset;
    h.spec_length = json.length;

    std::vector<ServerRecord> records(n);
    for (std::size_t i = 0; i < n; ++i) {
      const auto& s = spec.servers[i];
      auto& r = records[i];
      r.address = strings.add(s.address());
      r.host = strings.add(s.host);
      r.port = strings.add(s.port);
      r.name = strings.add(s.name.value_or(""));
      r.weight = s.weight;
      r.points = i < layout.server_points.size() ? layout.server_points[i] : 0;
    }

    h.servers_offset = align8(sizeof(Header));
    h.points_offset = align8(h.servers_offset + n * sizeof(ServerRecord));
    h.index_offset = align8(h.points_offset + 2 * pc * sizeof(std::uint32_t));
    h.table_offset = align8(h.index_offset + index_entries * sizeof(std::uint32_t));
    h.strings_offset = align8(h.table_offset + layout.table.size() * sizeof(std::uint32_t));
    h.strings_size = strings.bytes().size();
    h.total_size = align8(h.strings_offset + h.strings_size);

    RingImage out;
    out.words_.assign(h.total_size / 8, 0);
    out.size_ = h.total_size;
    auto* base = reinterpret_cast<std::byte*>(out.words_.data());
    auto* values = reinterpret_cast<std::uint32_t*>(base + h.points_offset);
    auto* owners = values + pc;
    for (std::size_t i = 0; i < pc; ++i) {
      values[i] = layout.points[i].value;
      owners[i] = layout.points[i].server;
    }
    if (bits) {
      // index[b] = position of the first point >= b << (32 - bits); index[2^bits] = pc.
      auto* index = reinterpret_cast<std::uint32_t*>(base + h.index_offset);
      std::size_t pos = 0;
      for (std::size_t b = 0; b + 1 < index_entries; ++b) {
        const std::uint64_t threshold = std::uint64_t{b} << (32 - bits);
        while (pos < pc && values[pos] < threshold) ++pos;
        index[b] = static_cast<std::uint32_t>(pos);
      }
      index[index_entries - 1] = static_cast<std::uint32_t>(pc);
    }
    if (!layout.table.empty())  // memcpy from a null pointer is undefined even for 0 bytes
      std::memcpy(base + h.table_offset, layout.table.data(), layout.table.size() * sizeof(std::uint32_t));
    std::memcpy(base + h.servers_offset, records.data(), n * sizeof(ServerRecord));
    std::memcpy(base + h.strings_offset, strings.bytes().data(), strings.bytes().size());
    std::memcpy(base, &h, sizeof h);
    h.checksum = image_checksum(base, h.total_size);
    std::memcpy(base + image::kChecksumOffset, &h.checksum, sizeof h.checksum);
    return out;
  }
};

RingImage write_image(const RingSpec& spec, RingLayout layout) { return ImageWriter::write(spec, layout); }

void validate_image(std::span<const std::byte> bytes) {
  const std::size_t size = bytes.size();
  if (reinterpret_cast<std::uintptr_t>(bytes.data()) % 8 != 0) fail("not 8-byte aligned in memory");
  if (size < sizeof(Header)) fail("truncated: " + std::to_string(size) + " bytes, header needs " +
                                  std::to_string(sizeof(Header)));
  Header h;
  std::memcpy(&h, bytes.data(), sizeof h);
  if (std::memcmp(h.magic, image::kMagic, sizeof h.magic) != 0) fail("bad magic (not a samering ring image)");
  if (h.format_version != image::kFormatVersion)
    fail("format version " + std::to_string(h.format_version) + ", this build reads " +
         std::to_string(image::kFormatVersion));
  if (h.header_size != sizeof(Header)) fail("header size " + std::to_string(h.header_size));
  if (h.total_size != size)
    fail("size mismatch: header says " + std::to_string(h.total_size) + " bytes, have " + std::to_string(size) +
         (h.total_size > size ? " (truncated)" : ""));
  if (image_checksum(bytes.data(), size) != h.checksum) fail("checksum mismatch (corrupt)");

  // From here on the bytes are what a writer produced, but a writer of another build could still
  // be wrong: check every count and offset so that no pick can read out of bounds.
  const auto section = [&](std::uint64_t offset, std::uint64_t count, std::uint64_t unit, const char* what) {
    if (offset % 8 != 0 || offset < sizeof(Header) || offset > size || count > (size - offset) / unit)
      fail(std::string(what) + " section out of bounds");
  };
  if (h.server_count == 0) fail("no servers");
  section(h.servers_offset, h.server_count, sizeof(ServerRecord), "servers");
  section(h.points_offset, std::uint64_t{h.point_count} * 2, sizeof(std::uint32_t), "points");
  if (h.index_bits > image::kMaxIndexBits) fail("index bits " + std::to_string(h.index_bits));
  const std::uint64_t index_entries = h.index_bits ? (std::uint64_t{1} << h.index_bits) + 1 : 0;
  section(h.index_offset, index_entries, sizeof(std::uint32_t), "index");
  section(h.table_offset, h.table_count, sizeof(std::uint32_t), "table");
  section(h.strings_offset, h.strings_size, 1, "strings");
  const auto* base = bytes.data();
  const auto* strings = reinterpret_cast<const char*>(base + h.strings_offset);
  const auto check_string = [&](std::uint32_t offset, std::uint32_t length, const char* what) {
    if (offset > h.strings_size || length >= h.strings_size - offset || strings[offset + length] != '\0')
      fail(std::string(what) + " string out of bounds");
  };
  check_string(h.flavor_offset, h.flavor_length, "flavor");
  if (h.params_offset != 0 || h.params_length != 0) check_string(h.params_offset, h.params_length, "params");
  check_string(h.spec_offset, h.spec_length, "spec");
  const auto* records = reinterpret_cast<const ServerRecord*>(base + h.servers_offset);
  for (std::uint32_t i = 0; i < h.server_count; ++i) {
    const auto& r = records[i];
    for (const StringRef* s : {&r.address, &r.host, &r.port, &r.name}) check_string(s->offset, s->length, "server");
  }

  const auto* values = reinterpret_cast<const std::uint32_t*>(base + h.points_offset);
  const auto* owners = values + h.point_count;
  for (std::uint32_t i = 0; i < h.point_count; ++i) {
    if (owners[i] >= h.server_count) fail("point " + std::to_string(i) + " names server " + std::to_string(owners[i]));
    if (i && values[i] < values[i - 1]) fail("points not sorted at " + std::to_string(i));
  }
  if (h.index_bits) {
    if (h.point_count == 0) fail("index without points");
    const auto* index = reinterpret_cast<const std::uint32_t*>(base + h.index_offset);
    std::uint64_t pos = 0;
    for (std::uint64_t b = 0; b + 1 < index_entries; ++b) {
      const std::uint64_t threshold = b << (32 - h.index_bits);
      while (pos < h.point_count && values[pos] < threshold) ++pos;
      if (index[b] != pos) fail("lookup index wrong at " + std::to_string(b));
    }
    if (index[index_entries - 1] != h.point_count) fail("lookup index does not end at the point count");
  }
  const auto* table = reinterpret_cast<const std::uint32_t*>(base + h.table_offset);
  for (std::uint32_t i = 0; i < h.table_count; ++i)
    if (table[i] >= h.server_count) fail("table entry " + std::to_string(i) + " names server " + std::to_string(table[i]));

  if (!hash::find_key_hash(h.key_hash)) fail("unknown key hash " + std::to_string(h.key_hash));
  switch (h.key_transform) {
    case image::kNoTransform:
    case image::kUtf8Required:
      break;
    case image::kPhpMemcacheKey:
      // the rewrite works in a fixed buffer of pecl memcache's 250 bytes
      if (h.hashed_prefix_max < 1 || h.hashed_prefix_max > image::kPhpMemcacheMaxKey)
        fail("key transform 1 needs hashed_prefix_max 1-250 (got " + std::to_string(h.hashed_prefix_max) + ")");
      break;
    case image::kPymemcacheStr:
    case image::kPymemcacheBytes:  // texts for the rendezvous hash only (bounded by its key length)
      if (h.algorithm != image::kRendezvous) fail("key transform " + std::to_string(h.key_transform) + " needs rendezvous");
      break;
    case image::kDalliKey:  // its fast path continues crc32 from the params' CRC
      if (h.key_hash != image::kCrc32 || h.key_seed != 0) fail("key transform dalli needs key hash crc32, seed 0");
      break;
    default:
      fail("unknown key transform " + std::to_string(h.key_transform));
  }
  if (h.key_hash >= image::kJavaStringHashCode && h.key_hash <= image::kJavaFnv1a_32 &&
      h.key_transform != image::kUtf8Required)
    fail("key hash " + std::to_string(h.key_hash) + " (UTF-16 units) needs key transform 2 (utf8_required)");
  if (h.hash_tag && (h.hash_tag & ~(image::kHashTagOn | 0xffffu)) != 0) fail("bad hash tag");
  if ((h.key_transform >= image::kDalliKey || h.algorithm == image::kRendezvous) && (h.hashed_prefix_max || h.hash_tag))
    fail("a dalli, pymemcache or rendezvous image cuts no prefix and has no hash tag");
  if (h.algorithm == image::kRendezvous && h.key_transform != image::kNoTransform && h.key_transform < image::kPymemcacheStr)
    fail("rendezvous takes key transform 0, 4 or 5");
  if (h.max_key_length && h.min_key_length > h.max_key_length) fail("key length range empty");
  const bool single = h.server_count == 1;
  switch (h.algorithm) {
    case image::kContinuum:
      if (!single && h.point_count == 0) fail("continuum without points");
      break;
    case image::kModulo:
      if (!single && h.table_count == 0) fail("modulo table empty");
      break;
    case image::kRendezvous: {
      // docs/ring-image.md: table = tie ranks (a permutation), murmur3_32, bounded keys
      if (h.key_hash != image::kMurmur3_32 || h.key_seed != 0) fail("rendezvous needs key hash murmur3_32, seed 0");
      if (h.max_key_length == 0 || h.max_key_length > image::kMaxRendezvousKey)
        fail("rendezvous needs a maximum key length of 1-" + std::to_string(image::kMaxRendezvousKey));
      if (h.point_count != 0 || h.table_count != h.server_count) fail("rendezvous needs one tie rank per server, no points");
      std::vector<bool> seen(h.server_count);
      for (std::uint32_t i = 0; i < h.table_count; ++i) {
        if (seen[table[i]]) fail("rendezvous tie ranks are not a permutation");
        seen[table[i]] = true;
      }
      break;
    }
    default:
      fail("unknown algorithm " + std::to_string(h.algorithm));
  }
}

RingImage RingImage::from_bytes(std::span<const std::byte> bytes) {
  RingImage out;
  out.words_.assign((bytes.size() + 7) / 8, 0);
  out.size_ = bytes.size();
  if (!bytes.empty()) std::memcpy(out.words_.data(), bytes.data(), bytes.size());  // no memcpy from null
  validate_image(out.bytes());
  return out;
}

}  // namespace samering
