// samering/ring.hpp — RingImage (flat bytes) and Ring (the immutable view that picks).
//
//   Ring ring = samering::ring_from_file("spec.json");   // parse + build + view
//   int32_t i = ring.pick("user:42");                      // index into ring.server(i)
//
// A Ring is cheap to copy (it shares its bytes), immutable, and safe to use from many threads at
// once and in forked children. pick() allocates nothing, takes no lock and never throws.
#pragma once

#include "samering/common.h"  // SAMERING_API

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "samering/spec.hpp"

namespace samering {

// The flat, position-independent, versioned, checksummed form of a ring (docs/ring-image.md).
// The same bytes serve an in-process ring, a read-only shared mapping and the broker's reply.
class SAMERING_API RingImage {
 public:
  RingImage() = default;
  // Copies `bytes` and validates them; throws ImageError when they are not a valid image.
  static RingImage from_bytes(std::span<const std::byte> bytes);

  std::span<const std::byte> bytes() const noexcept {
    return {reinterpret_cast<const std::byte*>(words_.data()), size_};
  }
  std::size_t size() const noexcept { return size_; }

 private:
  friend class ImageWriter;
  std::vector<std::uint64_t> words_;  // 8-byte aligned storage
  std::size_t size_ = 0;
};

// Checks magic, format version, sizes, every offset and count, the order of the points and the
// lookup index, and the checksum. Throws ImageError with the reason. Allocates nothing.
SAMERING_API void validate_image(std::span<const std::byte> bytes);

// Builds the image of a spec with its flavor. Throws SpecError (unknown flavor, bad option,
// a configuration the peer cannot serve).
SAMERING_API RingImage build_ring(const RingSpec& spec);

// The flavors this build knows, in a stable order.
SAMERING_API std::vector<std::string_view> flavor_names();

struct ServerInfo {
  std::string_view address;  // "host:port" as written (NUL-terminated in the image)
  std::string_view host;
  std::string_view port;
  std::string_view name;     // empty when the spec gave none
  double weight;
  std::uint32_t points;      // ring points (continuum flavors) or buckets (modulo flavors)
};

class SAMERING_API Ring {
 public:
  // Takes ownership of a built or loaded image.
  explicit Ring(RingImage image);
  // A view of bytes owned elsewhere (e.g. a read-only mapping): validates them (throws
  // ImageError) and keeps `owner` alive as long as any copy of the Ring lives.
  static Ring view(std::span<const std::byte> bytes, std::shared_ptr<const void> owner);

  // The index of the server for `key`, or -1 if the flavor refuses this key (its length is
  // outside what the peer accepts, or, for spymemcached, it is not well-formed UTF-8; none of
  // cmf, cache-memcached, gomemcache refuses any key).
  std::int32_t pick(std::string_view key) const noexcept { return pick(key.data(), key.size()); }
  std::int32_t pick(const char* key, std::size_t len) const noexcept;
  // out[i] = pick(keys[i]) for i < n.
  void pick_many(const std::string_view* keys, std::size_t n, std::int32_t* out) const noexcept;

  std::size_t size() const noexcept { return server_count_; }
  ServerInfo server(std::size_t i) const;  // throws std::out_of_range
  std::string_view flavor() const noexcept;
  std::string_view spec_json() const noexcept;  // the canonical spec the image was built from
  std::span<const std::byte> image() const noexcept { return bytes_; }

  // Exact share of the key-hash space served by each server (sums to 1).
  std::vector<double> shares() const;

  // Key range a flavor accepts (inclusive); max 0 = unlimited.
  std::size_t min_key_length() const noexcept { return min_key_; }
  std::size_t max_key_length() const noexcept { return max_key_; }

 private:
  Ring() = default;
  void attach(std::span<const std::byte> bytes);
  std::uint32_t key_hash(const char* key, std::size_t len) const noexcept;
  std::int32_t pick_hash(std::uint32_t h) const noexcept;
  std::int32_t pick_transformed(const char* key, std::size_t len) const noexcept;
  std::uint32_t continuum_position(std::uint32_t h) const noexcept;
  std::int32_t pick_rpy(const char* key, std::size_t len) const noexcept;  // Dalli, pymemcache
  std::int32_t pick_rendezvous(const unsigned char* text, std::size_t len) const noexcept;

  std::shared_ptr<const void> owner_;
  std::span<const std::byte> bytes_;
  // Copied from the validated header so that pick touches no header cache line.
  const std::uint32_t* point_values_ = nullptr;
  const std::uint32_t* point_servers_ = nullptr;
  const std::uint32_t* index_ = nullptr;
  const std::uint32_t* table_ = nullptr;
  std::uint32_t server_count_ = 0;
  std::uint32_t point_count_ = 0;
  std::uint32_t table_count_ = 0;
  std::uint32_t table_mask_ = 0;  // table_count_ - 1 when it is a power of two, else 0
  std::uint32_t index_shift_ = 32;
  std::uint32_t algorithm_ = 0;
  std::uint32_t key_hash_ = 0;
  std::uint32_t (*key_hash_fn_)(std::uint32_t seed, const char* key, std::size_t len) noexcept = nullptr;
  std::uint32_t key_seed_ = 0;
  std::uint32_t hashed_prefix_max_ = 0;
  std::uint32_t hash_tag_ = 0;
  std::uint32_t key_transform_ = 0;
  std::size_t min_key_ = 0;
  std::size_t max_key_ = 0;
  // Key transforms (Dalli, pymemcache) and the rendezvous algorithm: off the common path.
  bool special_ = false;  // a key transform or the rendezvous algorithm is in use
  std::string_view params_;
  std::uint32_t params_crc_ = 0;  // crc32(params): Dalli hashes namespace ‖ key
  struct RendezvousNodes;         // per node: murmur3 state after "address-" (ring.cpp)
  std::shared_ptr<const RendezvousNodes> rendezvous_;
};

// Convenience: parse + build + view. Throw SpecError.
SAMERING_API Ring ring_from_spec(const RingSpec& spec);
SAMERING_API Ring ring_from_json(std::string_view json);
SAMERING_API Ring ring_from_file(const std::string& path);

}  // namespace samering
