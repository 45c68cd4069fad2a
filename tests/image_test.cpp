// The RingImage validator (docs/ring-image.md "Validation"): truncated, corrupted, misaligned or
// structurally wrong bytes give an ImageError, never a crash; valid bytes round-trip.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../selector/src/image_format.hpp"
#include "samering/error.hpp"
#include "samering/ring.hpp"
#include "samering/spec.hpp"
#include "test_support.hpp"

namespace {

using samering::ImageError;
using samering::Ring;
using samering::RingImage;
using samering::validate_image;
using samering::image::Header;
namespace image = samering::image;
using ::testing::HasSubstr;

// Small rings, one per image algorithm, so that exhaustive loops over bytes stay fast.
const char* const kSmallSpecs[] = {
    // continuum (6 points: a lookup index is present)
    R"({"flavor": "cmf", "options": {"ketama_points": 3}, "servers": [{"host": "a", "port": 1}, {"host": "b", "port": "02"}]})",
    // cmf-compat
    R"({"flavor": "cmf", "servers": [{"host": "a"}, {"host": "b", "weight": 1.5}, {"host": "c", "weight": 0.5}]})",
    // modulo, 15-bit hash
    R"({"flavor": "cache-memcached", "servers": [{"host": "a"}, {"host": "b", "weight": 2}]})",
    // modulo, 256-byte prefix
    R"({"flavor": "gomemcache", "options": {"repeat_by_weight": true}, "servers": [{"host": "a", "weight": 2}, {"host": "b"}]})",
    // modulo, key transform 1 (php-memcache consistent: 1,024 buckets)
    R"({"flavor": "php-memcache", "servers": [{"host": "a"}, {"host": "b", "weight": 2}]})",
    // continuum, key transform 2, a UTF-16 key hash (spymemcached)
    R"({"flavor": "spymemcached", "options": {"locator": "CONSISTENT"}, "servers": [{"host": "1.2.3.4"}, {"host": "h", "name": "h/1.2.3.5:11211"}]})",
};

RingImage build(const char* json) { return samering::build_ring(samering::parse_spec(json)); }

// 8-byte aligned, writable copy of image bytes (the validator requires alignment).
struct Buffer {
  explicit Buffer(std::span<const std::byte> b) : words((b.size() + 7) / 8 + 1), size(b.size()) {
    std::memcpy(words.data(), b.data(), b.size());
  }
  std::byte* data() { return reinterpret_cast<std::byte*>(words.data()); }
  std::span<const std::byte> span(std::size_t n) const { return {reinterpret_cast<const std::byte*>(words.data()), n}; }
  std::span<const std::byte> span() const { return span(size); }
  Header header() const {
    Header h;
    std::memcpy(&h, words.data(), sizeof h);
    return h;
  }
  void set_header(const Header& h) { std::memcpy(data(), &h, sizeof h); }
  template <typename T>
  T* at(std::uint64_t offset) {
    return reinterpret_cast<T*>(data() + offset);
  }
  // Re-computes a valid checksum (docs/ring-image.md: XXH64, seed 0, with the checksum field read
  // as zero), so that only the structural checks can refuse what was changed.
  void reseal() {
    std::uint64_t zero = 0;
    std::memcpy(data() + samering::image::kChecksumOffset, &zero, sizeof zero);
    const std::uint64_t sum = XXH64(data(), size, 0);
    std::memcpy(data() + samering::image::kChecksumOffset, &sum, sizeof sum);
  }

  std::vector<std::uint64_t> words;
  std::size_t size;
};

// The message of the ImageError validate_image throws, or a test failure.
std::string rejection(std::span<const std::byte> bytes) {
  try {
    validate_image(bytes);
  } catch (const ImageError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not an ImageError: " << e.what();
    return e.what();
  }
  ADD_FAILURE() << "validate_image accepted the bytes";
  return "";
}

std::vector<std::string> probe_keys() {
  std::vector<std::string> keys = samering_test::named_keys();
  keys.push_back(samering_test::key_l300());
  keys.push_back(samering_test::key_l300b());
  for (int i = 0; i < 500; ++i) keys.push_back("key:" + std::to_string(i * 7919));
  keys.push_back("");
  keys.push_back(std::string("\0\xff\x80", 3));
  return keys;
}

TEST(RingImage, BuiltImagesValidate) {
  for (const char* spec : kSmallSpecs) {
    const RingImage image = build(spec);
    EXPECT_EQ(image.size() % 8, 0u) << spec;
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(image.bytes().data()) % 8, 0u);
    EXPECT_NO_THROW(validate_image(image.bytes())) << spec;
    const Header h = Buffer(image.bytes()).header();
    EXPECT_EQ(std::memcmp(h.magic, "SAMERING", 8), 0);
    EXPECT_EQ(h.format_version, 2u);
    EXPECT_EQ(h.header_size, 152u);
    EXPECT_EQ(h.total_size, image.size());
  }
}

TEST(RingImage, EveryTruncationIsRejected) {
  for (const char* spec : kSmallSpecs) {
    SCOPED_TRACE(spec);
    const RingImage image = build(spec);
    const Buffer buf(image.bytes());
    for (std::size_t n = 0; n < image.size(); ++n) {
      const std::string why = rejection(buf.span(n));
      ASSERT_THAT(why, HasSubstr("truncated")) << "length " << n << " of " << image.size();
      // The copying loader too (length 0 has its own test: FromBytesOfEmptyInputIsAnImageError).
      if (n > 0) {
        ASSERT_THROW(RingImage::from_bytes(image.bytes().first(n)), ImageError) << "length " << n;
      }
    }
  }
}

TEST(RingImage, EmptyInputIsRejected) {
  EXPECT_THROW(validate_image({}), ImageError);
  EXPECT_THROW(Ring(RingImage{}), ImageError);
}

// Bug (found by this test under UBSan): from_bytes of 0 bytes calls memcpy with the NULL data()
// of an empty vector — undefined behaviour (ring_image.cpp RingImage::from_bytes); with
// -fsanitize=undefined -fno-sanitize-recover the process aborts instead of throwing ImageError.
TEST(RingImage, FromBytesOfEmptyInputIsAnImageError) {
  static const std::byte one[8] = {};
  EXPECT_THROW(RingImage::from_bytes(std::span<const std::byte>(one, 0)), ImageError);
  EXPECT_THROW(RingImage::from_bytes({}), ImageError);
}

TEST(RingImage, TrailingBytesAreRejected) {
  const RingImage image = build(kSmallSpecs[0]);
  std::vector<std::uint64_t> longer(image.size() / 8 + 1, 0);
  std::memcpy(longer.data(), image.bytes().data(), image.size());
  const std::string why = rejection({reinterpret_cast<const std::byte*>(longer.data()), image.size() + 8});
  EXPECT_THAT(why, HasSubstr("size mismatch"));
}

TEST(RingImage, EverySingleBitFlipIsRejected) {
  for (const char* spec : kSmallSpecs) {
    SCOPED_TRACE(spec);
    const RingImage image = build(spec);
    Buffer buf(image.bytes());
    // Every bit of the first 4 KiB (header, server records, the start of every small section),
    // then every 61st byte of the rest: the 2^15-entry tables of the 15-bit flavors make images of
    // 128 KiB, and each flip re-validates the whole image (1 M flips x 128 KiB was minutes).
    for (std::size_t pos = 0; pos < buf.size; pos += pos < 4096 ? 1 : 61) {
      for (int bit = 0; bit < 8; ++bit) {
        buf.data()[pos] ^= std::byte{static_cast<unsigned char>(1u << bit)};
        bool rejected = false;
        try {
          validate_image(buf.span());
        } catch (const ImageError&) {
          rejected = true;
        }
        buf.data()[pos] ^= std::byte{static_cast<unsigned char>(1u << bit)};
        ASSERT_TRUE(rejected) << "byte " << pos << " bit " << bit << " of " << buf.size;
      }
    }
    EXPECT_NO_THROW(validate_image(buf.span()));  // restored
  }
}

TEST(RingImage, FlipOutsideTheHeaderIsAChecksumMismatch) {
  const RingImage image = build(kSmallSpecs[0]);
  Buffer buf(image.bytes());
  buf.data()[buf.size - 1] ^= std::byte{1};  // padding / strings
  EXPECT_THAT(rejection(buf.span()), HasSubstr("checksum"));
}

TEST(RingImage, WrongMagicAndVersionAreNamed) {
  const RingImage image = build(kSmallSpecs[0]);
  {
    Buffer buf(image.bytes());
    Header h = buf.header();
    std::memcpy(h.magic, "SAMERINH", 8);
    buf.set_header(h);
    buf.reseal();
    EXPECT_THAT(rejection(buf.span()), HasSubstr("bad magic"));
  }
  {
    Buffer buf(image.bytes());
    Header h = buf.header();
    h.format_version = 1;  // version 1 had a cmf-compat algorithm and other header fields
    buf.set_header(h);
    buf.reseal();
    EXPECT_THAT(rejection(buf.span()), HasSubstr("format version 1"));
  }
  {
    Buffer buf(image.bytes());
    Header h = buf.header();
    h.header_size = 160;
    buf.set_header(h);
    buf.reseal();
    EXPECT_THAT(rejection(buf.span()), HasSubstr("header size"));
  }
}

TEST(RingImage, MisalignedBufferIsRejected) {
  const RingImage image = build(kSmallSpecs[0]);
  std::vector<std::uint64_t> storage(image.size() / 8 + 2);
  for (std::size_t shift : {1, 2, 4, 7}) {
    auto* p = reinterpret_cast<std::byte*>(storage.data()) + shift;
    std::memcpy(p, image.bytes().data(), image.size());
    const std::span<const std::byte> bytes(p, image.size());
    EXPECT_THAT(rejection(bytes), HasSubstr("aligned")) << shift;
    EXPECT_THROW(Ring::view(bytes, nullptr), ImageError) << shift;
    // from_bytes copies into aligned storage: the same bytes at an odd address are fine there.
    EXPECT_NO_THROW(RingImage::from_bytes(bytes)) << shift;
  }
}

// ---- structural checks behind a valid checksum -------------------------------------------------

class Structural : public ::testing::Test {
 protected:
  // Applies `change` to a copy of the image of `spec`, re-seals the checksum and returns the
  // validator's message. A reseal of the unchanged copy must validate (proves reseal is right).
  template <typename Change>
  std::string corrupt(const char* spec, Change change) {
    const RingImage image = build(spec);
    Buffer control(image.bytes());
    control.reseal();
    EXPECT_NO_THROW(validate_image(control.span())) << "reseal of an unchanged image must validate";
    Buffer buf(image.bytes());
    change(buf, buf.header());
    buf.reseal();
    const std::string why = rejection(buf.span());
    EXPECT_THAT(why, ::testing::Not(HasSubstr("checksum")));
    return why;
  }
};

TEST_F(Structural, PointNamingAMissingServer) {
  const auto why = corrupt(kSmallSpecs[0], [](Buffer& b, const Header& h) {
    ASSERT_GT(h.point_count, 1u);
    b.at<std::uint32_t>(h.points_offset)[h.point_count + 1] = h.server_count;  // owners follow values
  });
  EXPECT_THAT(why, HasSubstr("point 1 names server 2"));
}

TEST_F(Structural, PointsOutOfOrder) {
  const auto why = corrupt(kSmallSpecs[0], [](Buffer& b, const Header& h) {
    auto* values = b.at<std::uint32_t>(h.points_offset);
    ASSERT_LT(values[0], values[1]);
    std::swap(values[0], values[1]);
  });
  EXPECT_THAT(why, HasSubstr("not sorted at 1"));
}

TEST_F(Structural, LookupIndexEntryWrong) {
  const auto why = corrupt(kSmallSpecs[0], [](Buffer& b, const Header& h) {
    ASSERT_GT(h.index_bits, 0u);
    auto* index = b.at<std::uint32_t>(h.index_offset);
    const std::uint32_t last = 1u << h.index_bits;
    // The entry of the last bucket: change it to a position that is still in range.
    index[last - 1] = index[last - 1] == 0 ? 1 : index[last - 1] - 1;
  });
  EXPECT_THAT(why, HasSubstr("lookup index wrong"));
}

TEST_F(Structural, LookupIndexEndWrong) {
  const auto why = corrupt(kSmallSpecs[0], [](Buffer& b, const Header& h) {
    b.at<std::uint32_t>(h.index_offset)[1u << h.index_bits] = h.point_count + 5;
  });
  EXPECT_THAT(why, HasSubstr("lookup index"));
}

TEST_F(Structural, TableEntryNamingAMissingServer) {
  const auto why = corrupt(kSmallSpecs[2], [](Buffer& b, const Header& h) {
    ASSERT_GT(h.table_count, 0u);
    b.at<std::uint32_t>(h.table_offset)[0] = 7;
  });
  EXPECT_THAT(why, HasSubstr("table entry 0 names server 7"));
}

TEST_F(Structural, ZeroServers) {
  const auto why = corrupt(kSmallSpecs[2], [](Buffer& b, Header h) {
    h.server_count = 0;
    b.set_header(h);
  });
  EXPECT_THAT(why, HasSubstr("no servers"));
}

TEST_F(Structural, SectionsOutOfBounds) {
  EXPECT_THAT(corrupt(kSmallSpecs[0],
                      [](Buffer& b, Header h) {
                        h.points_offset = b.size + 8;
                        b.set_header(h);
                      }),
              HasSubstr("points section out of bounds"));
  EXPECT_THAT(corrupt(kSmallSpecs[0],
                      [](Buffer& b, Header h) {
                        h.point_count = 0x7fffffff;
                        b.set_header(h);
                      }),
              HasSubstr("points section out of bounds"));
  EXPECT_THAT(corrupt(kSmallSpecs[0],
                      [](Buffer& b, Header h) {
                        h.servers_offset += 4;  // misaligned
                        b.set_header(h);
                      }),
              HasSubstr("servers section out of bounds"));
  EXPECT_THAT(corrupt(kSmallSpecs[2],
                      [](Buffer& b, Header h) {
                        h.table_count = 1u << 30;
                        b.set_header(h);
                      }),
              HasSubstr("table section out of bounds"));
  EXPECT_THAT(corrupt(kSmallSpecs[0],
                      [](Buffer& b, Header h) {
                        h.index_bits = 17;
                        b.set_header(h);
                      }),
              HasSubstr("index bits 17"));
  EXPECT_THAT(corrupt(kSmallSpecs[0],
                      [](Buffer& b, Header h) {
                        h.strings_size += 4096;
                        b.set_header(h);
                      }),
              HasSubstr("strings section out of bounds"));
}

TEST_F(Structural, StringsOutOfBoundsOrNotTerminated) {
  EXPECT_THAT(corrupt(kSmallSpecs[0],
                      [](Buffer& b, Header h) {
                        h.flavor_length += 1;  // now ends on the next string's first byte, not a NUL
                        b.set_header(h);
                      }),
              HasSubstr("flavor string"));
  EXPECT_THAT(corrupt(kSmallSpecs[0],
                      [](Buffer& b, Header h) {
                        h.spec_offset = static_cast<std::uint32_t>(h.strings_size);
                        h.spec_length = 0;
                        b.set_header(h);
                      }),
              HasSubstr("spec string"));
  EXPECT_THAT(corrupt(kSmallSpecs[0],
                      [](Buffer& b, const Header& h) {
                        auto* records = b.at<samering::image::ServerRecord>(h.servers_offset);
                        records[1].host.length = 0xfffffff0u;
                      }),
              HasSubstr("server string"));
}

TEST_F(Structural, UnknownAlgorithmAndKeyHash) {
  EXPECT_THAT(corrupt(kSmallSpecs[0],
                      [](Buffer& b, Header h) {
                        h.algorithm = 9;
                        b.set_header(h);
                      }),
              HasSubstr("unknown algorithm 9"));
  EXPECT_THAT(corrupt(kSmallSpecs[0],
                      [](Buffer& b, Header h) {
                        h.key_hash = 0;
                        b.set_header(h);
                      }),
              HasSubstr("unknown key hash 0"));
}

TEST_F(Structural, VersionOneCompatAlgorithmAndUnknownKeyTransformAreRefused) {
  // Format 2 writes CMF's compatible mode as a 2^15-entry table: algorithm 2 no longer exists.
  EXPECT_THAT(corrupt(kSmallSpecs[0],
                      [](Buffer& b, Header h) {
                        h.algorithm = 2;
                        b.set_header(h);
                      }),
              HasSubstr("unknown algorithm 2"));
  EXPECT_THAT(corrupt(kSmallSpecs[0],
                      [](Buffer& b, Header h) {
                        h.key_transform = 6;  // 1, 2: php-memcache's, spymemcached's; 3-5: Dalli's, pymemcache's
                        b.set_header(h);
                      }),
              HasSubstr("unknown key transform 6"));
}

// php-memcache's transform rewrites the hashed bytes in a 250-byte buffer: the validator must keep
// hashed_prefix_max within it, or a reader's pick would write past the buffer.
TEST_F(Structural, PhpMemcacheKeyTransformNeedsAHashedPrefixOf1To250) {
  const char* spec = R"({"flavor": "php-memcache", "servers": [{"host": "a"}, {"host": "b"}]})";
  for (std::uint32_t bad : {0u, 251u, 1u << 20}) {
    EXPECT_THAT(corrupt(spec,
                        [bad](Buffer& b, Header h) {
                          h.hashed_prefix_max = bad;
                          b.set_header(h);
                        }),
                HasSubstr("key transform 1 needs hashed_prefix_max 1-250"))
        << bad;
  }
  EXPECT_THAT(corrupt(kSmallSpecs[0],
                      [](Buffer& b, Header h) {
                        h.key_transform = 1;  // a cmf image has no prefix cut
                        b.set_header(h);
                      }),
              HasSubstr("key transform 1 needs hashed_prefix_max 1-250 (got 0)"));
}

// The UTF-16 key hashes are defined on well-formed UTF-8 only: an image must refuse other keys.
TEST_F(Structural, JavaKeyHashesNeedTheUtf8RequiredTransform) {
  const char* spec = R"({"flavor": "spymemcached", "servers": [{"host": "1.2.3.4"}, {"host": "1.2.3.5"}]})";
  EXPECT_THAT(corrupt(spec,
                      [](Buffer& b, Header h) {
                        h.key_transform = 0;
                        b.set_header(h);
                      }),
              HasSubstr("key hash 15 (UTF-16 units) needs key transform 2"));
}

TEST_F(Structural, ParamsStringOutOfBoundsOrNotTerminated) {
  EXPECT_THAT(corrupt(kSmallSpecs[0],
                      [](Buffer& b, Header h) {
                        h.params_offset = static_cast<std::uint32_t>(h.strings_size);
                        h.params_length = 1;
                        b.set_header(h);
                      }),
              HasSubstr("params string"));
  EXPECT_THAT(corrupt(kSmallSpecs[0],
                      [](Buffer& b, Header h) {
                        h.params_offset = h.flavor_offset;
                        h.params_length = h.flavor_length + 1;  // ends on the next string's first byte
                        b.set_header(h);
                      }),
              HasSubstr("params string"));
}

TEST_F(Structural, ModuloTableEmpty) {
  EXPECT_THAT(corrupt(kSmallSpecs[2],
                      [](Buffer& b, Header h) {
                        h.table_count = 0;  // pick would divide by zero
                        b.set_header(h);
                      }),
              HasSubstr("modulo table empty"));
}

TEST_F(Structural, ContinuumWithoutPoints) {
  EXPECT_THAT(corrupt(kSmallSpecs[0],
                      [](Buffer& b, Header h) {
                        h.point_count = 0;
                        h.index_bits = 0;
                        b.set_header(h);
                      }),
              HasSubstr("continuum without points"));
}

TEST_F(Structural, HashTagWithUnknownBits) {
  // hash_tag = open | close << 8 | kHashTagOn (image_format.hpp); other bits are not a hash tag.
  EXPECT_THAT(corrupt(kSmallSpecs[0],
                      [](Buffer& b, Header h) {
                        h.hash_tag = 0x7d7b | samering::image::kHashTagOn | (1u << 20);
                        b.set_header(h);
                      }),
              HasSubstr("bad hash tag"));
}

TEST_F(Structural, EmptyKeyLengthRange) {
  EXPECT_THAT(corrupt(kSmallSpecs[0],
                      [](Buffer& b, Header h) {
                        h.min_key_length = 10;
                        h.max_key_length = 5;
                        b.set_header(h);
                      }),
              HasSubstr("key length range empty"));
}

// ---- loading ---------------------------------------------------------------------------------

TEST(RingImage, FromBytesRoundTripPicksIdentically) {
  const auto keys = probe_keys();
  for (const char* spec : kSmallSpecs) {
    SCOPED_TRACE(spec);
    const RingImage image = build(spec);
    const Ring a(image);
    const Ring b(RingImage::from_bytes(image.bytes()));
    ASSERT_EQ(b.image().size(), image.size());
    EXPECT_EQ(std::memcmp(b.image().data(), image.bytes().data(), image.size()), 0);
    EXPECT_EQ(a.size(), b.size());
    EXPECT_EQ(a.flavor(), b.flavor());
    EXPECT_EQ(a.spec_json(), b.spec_json());
    for (const auto& k : keys) ASSERT_EQ(a.pick(k), b.pick(k)) << samering_test::hex(k);
    for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a.server(i).address, b.server(i).address);
  }
}

TEST(RingImage, ViewKeepsItsOwnerAlive) {
  bool freed = false;
  const RingImage image = build(kSmallSpecs[0]);
  auto* raw = new std::vector<std::uint64_t>(image.size() / 8);
  std::memcpy(raw->data(), image.bytes().data(), image.size());
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(raw->data()), image.size());
  std::shared_ptr<const void> owner(raw, [&freed](const std::vector<std::uint64_t>* p) {
    freed = true;
    delete p;
  });
  const Ring reference(image);
  std::optional<Ring> copy;
  {
    Ring view = Ring::view(bytes, std::move(owner));
    EXPECT_FALSE(freed);
    copy.emplace(view);
  }
  EXPECT_FALSE(freed) << "a copy of the view still lives";
  // Reading through the copy after the original view is gone (ASan reports a use after free here
  // if the owner was dropped).
  for (const auto& k : probe_keys()) ASSERT_EQ(copy->pick(k), reference.pick(k));
  EXPECT_EQ(copy->server(1).address, "b:02");
  copy.reset();
  EXPECT_TRUE(freed) << "the last Ring must release the owner";
}

TEST(RingImage, ViewOfCorruptBytesReleasesTheOwner) {
  bool freed = false;
  std::vector<std::uint64_t> storage(32, 0);
  {
    std::shared_ptr<const void> owner(&storage, [&freed](const void*) { freed = true; });
    EXPECT_THROW(Ring::view({reinterpret_cast<const std::byte*>(storage.data()), 256}, owner), ImageError);
    EXPECT_FALSE(freed);
  }
  EXPECT_TRUE(freed);
}

// ---- the wave 2 ids (docs/ring-image.md: algorithm 4, key hash 14, key transforms 1-3) ---------

constexpr const char* kRendezvousSpec =
    R"({"flavor": "rendezvous", "servers": [{"host": "a", "port": 1}, {"host": "b", "port": 2}, {"host": "c"}]})";
constexpr const char* kDalliSpec =
    R"({"flavor": "dalli", "options": {"namespace": "ns"}, "servers": [{"host": "a", "port": 1}, {"host": "b"}]})";

TEST_F(Structural, WaveTwoImagesValidate) {
  for (const char* spec : {kRendezvousSpec, kDalliSpec}) {
    const RingImage image = build(spec);
    EXPECT_NO_THROW(validate_image(image.bytes())) << spec;
  }
}

TEST_F(Structural, RendezvousTieRanksMustBeAPermutation) {
  EXPECT_THAT(corrupt(kRendezvousSpec, [](Buffer& b, Header h) { b.at<std::uint32_t>(h.table_offset)[0] = b.at<std::uint32_t>(h.table_offset)[1]; }),
              HasSubstr("not a permutation"));
  EXPECT_THAT(corrupt(kRendezvousSpec, [](Buffer& b, Header h) { b.at<std::uint32_t>(h.table_offset)[2] = 3; }),
              HasSubstr("names server 3"));
}

TEST_F(Structural, RendezvousNeedsMurmur3BoundedKeysAndNoPoints) {
  EXPECT_THAT(corrupt(kRendezvousSpec, [](Buffer& b, Header h) { h.key_hash = image::kCrc32; b.set_header(h); }),
              HasSubstr("rendezvous needs key hash murmur3_32"));
  EXPECT_THAT(corrupt(kRendezvousSpec, [](Buffer& b, Header h) { h.max_key_length = 0; b.set_header(h); }),
              HasSubstr("maximum key length"));
  EXPECT_THAT(corrupt(kRendezvousSpec, [](Buffer& b, Header h) { h.max_key_length = 1025; b.set_header(h); }),
              HasSubstr("maximum key length"));
  EXPECT_THAT(corrupt(kRendezvousSpec, [](Buffer& b, Header h) { h.table_count = 2; b.set_header(h); }),
              HasSubstr("one tie rank per server"));
  EXPECT_THAT(corrupt(kRendezvousSpec, [](Buffer& b, Header h) { h.hashed_prefix_max = 4; b.set_header(h); }),
              HasSubstr("no hash tag"));
}

TEST_F(Structural, KeyTransformsAreTiedToTheirHashAndAlgorithm) {
  EXPECT_THAT(corrupt(kDalliSpec, [](Buffer& b, Header h) { h.key_hash = image::kMd5; b.set_header(h); }),
              HasSubstr("dalli needs key hash crc32"));
  EXPECT_THAT(corrupt(kDalliSpec, [](Buffer& b, Header h) { h.key_seed = 1; b.set_header(h); }),
              HasSubstr("dalli needs key hash crc32, seed 0"));
  EXPECT_THAT(corrupt(kDalliSpec, [](Buffer& b, Header h) { h.key_transform = image::kPymemcacheStr; b.set_header(h); }),
              HasSubstr("needs rendezvous"));
  EXPECT_THAT(corrupt(kDalliSpec, [](Buffer& b, Header h) { h.hash_tag = image::kHashTagOn | '{' | '}' << 8; b.set_header(h); }),
              HasSubstr("no hash tag"));
}

}  // namespace
