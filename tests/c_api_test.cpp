// The C API (samering/selector.h): codes, error buffers, NULL arguments, images, pick_many slots.
// c_api_compile.c (strict C99) is linked in and called from here.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "samering/ring.hpp"
#include "samering/selector.h"
#include "test_support.hpp"

extern "C" {
int samering_c99_pick(const char* json, size_t json_len, const char* const* keys, const size_t* lens, size_t n,
                      int* out, char* first_address, size_t first_address_len);
int samering_c99_bad_spec(const char* json, char* errbuf, size_t errlen, int* out_was_null);
int samering_c99_strerror_gaps(void);
}

namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::string kSpecU = samering_test::spec_json("cmf", R"({"ketama_points": 150})", samering_test::kServersU);

struct Selector {
  selector_t* p = nullptr;
  ~Selector() { selector_free(p); }
};

int make(const std::string& json, Selector& s, char* err = nullptr, size_t errlen = 0) {
  return selector_new_from_json(json.data(), json.size(), &s.p, err, errlen);
}

TEST(CApiC99, PicksFromC) {
  // §10 Config U, row `cmf-ketama`: foo A, bar B, user:1234 C, a B.
  const char* keys[] = {"foo", "bar", "user:1234", "a"};
  const size_t lens[] = {3, 3, 9, 1};
  int out[4] = {-9, -9, -9, -9};
  char first[64] = "";
  ASSERT_EQ(samering_c99_pick(kSpecU.data(), kSpecU.size(), keys, lens, 4, out, first, sizeof first), SAMERING_OK);
  EXPECT_THAT(out, ::testing::ElementsAre(0, 1, 2, 1));
  EXPECT_STREQ(first, "127.0.1.1:21001");
}

TEST(CApiC99, ErrorsFromC) {
  char err[128];
  int was_null = 0;
  EXPECT_EQ(samering_c99_bad_spec(R"({"flavor": "cmf", "servers": [{"host": "a", "port": 0}]})", err, sizeof err,
                                  &was_null),
            SAMERING_ESPEC);
  EXPECT_TRUE(was_null);
  EXPECT_THAT(err, StartsWith("servers[0].port: "));
  EXPECT_EQ(samering_c99_strerror_gaps(), 0);
}

TEST(CApi, BadJsonIsSpecErrorWithMessage) {
  Selector s;
  char err[256];
  std::memset(err, 'x', sizeof err);
  EXPECT_EQ(make("{\"flavor\": ", s, err, sizeof err), SAMERING_ESPEC);
  EXPECT_EQ(s.p, nullptr);
  EXPECT_THAT(err, HasSubstr("invalid JSON at byte"));
  EXPECT_LT(std::strlen(err), sizeof err);
}

TEST(CApi, SpecErrorNamesTheField) {
  Selector s;
  char err[256];
  EXPECT_EQ(make(R"({"flavor": "cmf", "options": {"ketama_points": -3}, "servers": [{"host": "a"}]})", s, err, sizeof err),
            SAMERING_ESPEC);
  EXPECT_THAT(err, StartsWith("options.ketama_points: "));
  EXPECT_EQ(make(R"({"flavor": "cmf", "servers": [{"host": "a"}, {"host": "a"}]})", s, err, sizeof err),
            SAMERING_ESPEC);
  EXPECT_THAT(err, StartsWith("servers[1]: "));
}

TEST(CApi, SuccessClearsErrbuf) {
  Selector s;
  char err[64] = "stale";
  ASSERT_EQ(make(kSpecU, s, err, sizeof err), SAMERING_OK);
  EXPECT_STREQ(err, "");
  ASSERT_NE(s.p, nullptr);
  EXPECT_STREQ(selector_last_error(s.p), "");
  EXPECT_STREQ(selector_flavor(s.p), "cmf");
  EXPECT_EQ(selector_server_count(s.p), 3);
}

TEST(CApi, JsonNeedsNoNul) {
  // len bytes, no NUL needed: trailing garbage after len must not be read.
  std::string text = kSpecU + "}}}garbage";
  Selector s;
  EXPECT_EQ(selector_new_from_json(text.data(), kSpecU.size(), &s.p, nullptr, 0), SAMERING_OK);
}

TEST(CApi, MissingFileIsEio) {
  samering_test::TempDir dir;
  const std::string path = (dir.path() / "missing.json").string();
  Selector s;
  char err[512];
  EXPECT_EQ(selector_new_from_file(path.c_str(), &s.p, err, sizeof err), SAMERING_EIO);
  EXPECT_EQ(s.p, nullptr);
  EXPECT_THAT(err, StartsWith(path));
  // A directory cannot be read as a file either.
  EXPECT_EQ(selector_new_from_file(dir.path().c_str(), &s.p, err, sizeof err), SAMERING_EIO);
}

TEST(CApi, FileWithBadSpecIsSpecErrorNamingPathAndField) {
  samering_test::TempDir dir;
  const auto path = dir.write("s.json", R"({"flavor": "cmf", "servers": [{"host": "a", "weight": -1}]})").string();
  Selector s;
  char err[512];
  EXPECT_EQ(selector_new_from_file(path.c_str(), &s.p, err, sizeof err), SAMERING_ESPEC);
  EXPECT_THAT(err, StartsWith(path + ": servers[0].weight: "));
  const auto good = dir.write("g.json", kSpecU).string();
  EXPECT_EQ(selector_new_from_file(good.c_str(), &s.p, err, sizeof err), SAMERING_OK);
  EXPECT_EQ(selector_pick(s.p, "user:1234", 9), 2);  // §10 Config U, row `cmf-ketama`: C
}

TEST(CApi, NullArgumentsNeverCrash) {
  char err[128];
  selector_t* out = reinterpret_cast<selector_t*>(0x1);
  EXPECT_EQ(selector_new_from_json(nullptr, 5, &out, err, sizeof err), SAMERING_EINVAL);
  EXPECT_EQ(out, nullptr);
  EXPECT_STRNE(err, "");
  EXPECT_EQ(selector_new_from_json(kSpecU.data(), kSpecU.size(), nullptr, err, sizeof err), SAMERING_EINVAL);
  EXPECT_STRNE(err, "");
  out = reinterpret_cast<selector_t*>(0x1);
  EXPECT_EQ(selector_new_from_json(nullptr, 0, &out, err, sizeof err), SAMERING_ESPEC);  // "" is not JSON
  EXPECT_EQ(out, nullptr);
  out = reinterpret_cast<selector_t*>(0x1);
  EXPECT_EQ(selector_new_from_file(nullptr, &out, err, sizeof err), SAMERING_EINVAL);
  EXPECT_EQ(out, nullptr);
  {
    samering_test::TempDir dir;
    const auto good = dir.write("g.json", kSpecU).string();
    EXPECT_EQ(selector_new_from_file(good.c_str(), nullptr, err, sizeof err), SAMERING_EINVAL);
  }
  out = reinterpret_cast<selector_t*>(0x1);
  EXPECT_EQ(selector_new_from_image(nullptr, 16, &out, err, sizeof err), SAMERING_EINVAL);
  EXPECT_EQ(out, nullptr);
  EXPECT_EQ(selector_new_from_image("x", 1, nullptr, err, sizeof err), SAMERING_EINVAL);
  // NULL errbuf with a non-zero length is allowed (nothing written).
  EXPECT_EQ(selector_new_from_json("{", 1, &out, nullptr, 100), SAMERING_ESPEC);

  EXPECT_EQ(selector_pick(nullptr, "a", 1), SAMERING_EINVAL);
  EXPECT_EQ(selector_server_count(nullptr), SAMERING_EINVAL);
  EXPECT_EQ(selector_server(nullptr, 0), nullptr);
  EXPECT_EQ(selector_flavor(nullptr), nullptr);
  EXPECT_STREQ(selector_last_error(nullptr), "");
  selector_free(nullptr);

  Selector s;
  ASSERT_EQ(make(kSpecU, s), SAMERING_OK);
  EXPECT_EQ(selector_pick(s.p, nullptr, 3), SAMERING_EINVAL);
  EXPECT_GE(selector_pick(s.p, nullptr, 0), 0);  // the empty key
  int slot = 0;
  const char* key = "a";
  size_t len = 1;
  EXPECT_EQ(selector_pick_many(nullptr, &key, &len, 1, &slot, nullptr, nullptr), SAMERING_EINVAL);
  EXPECT_EQ(selector_pick_many(s.p, nullptr, &len, 1, &slot, nullptr, nullptr), SAMERING_EINVAL);
  EXPECT_EQ(selector_pick_many(s.p, &key, nullptr, 1, &slot, nullptr, nullptr), SAMERING_EINVAL);
  EXPECT_EQ(selector_pick_many(s.p, &key, &len, 1, nullptr, nullptr, nullptr), SAMERING_EINVAL);
  EXPECT_EQ(selector_pick_many(s.p, nullptr, nullptr, 0, nullptr, nullptr, nullptr), SAMERING_OK);
}

// Zero image bytes: an invalid image, reported as such. Under UBSan this aborts today: the same
// bug as image_test's RingImage.FromBytesOfEmptyInputIsAnImageError (memcpy into the NULL data()
// of an empty vector in RingImage::from_bytes).
TEST(CApi, EmptyImageIsEimage) {
  char err[128];
  selector_t* out = reinterpret_cast<selector_t*>(0x1);
  EXPECT_EQ(selector_new_from_image(nullptr, 0, &out, err, sizeof err), SAMERING_EIMAGE);
  EXPECT_EQ(out, nullptr);
  EXPECT_THAT(err, HasSubstr("truncated"));
  out = reinterpret_cast<selector_t*>(0x1);
  EXPECT_EQ(selector_new_from_image("", 0, &out, err, sizeof err), SAMERING_EIMAGE);
  EXPECT_EQ(out, nullptr);
}

TEST(CApi, ErrlenZeroWritesNothing) {
  char err[8] = "keepme";
  selector_t* out = nullptr;
  EXPECT_EQ(selector_new_from_json("{", 1, &out, err, 0), SAMERING_ESPEC);
  EXPECT_STREQ(err, "keepme");
}

TEST(CApi, TinyErrlenTruncatesAndTerminates) {
  const std::string bad = R"({"flavor": "cmf", "servers": [{"host": "a", "port": 0}]})";
  char full[256];
  selector_t* out = nullptr;
  ASSERT_EQ(selector_new_from_json(bad.data(), bad.size(), &out, full, sizeof full), SAMERING_ESPEC);
  ASSERT_GT(std::strlen(full), 10u);
  for (size_t errlen = 1; errlen <= 10; ++errlen) {
    char buf[16];
    std::memset(buf, '#', sizeof buf);
    ASSERT_EQ(selector_new_from_json(bad.data(), bad.size(), &out, buf, errlen), SAMERING_ESPEC);
    EXPECT_EQ(buf[errlen - 1], '\0') << errlen;
    EXPECT_EQ(std::string(buf), std::string(full, errlen - 1)) << errlen;
    EXPECT_EQ(buf[errlen], '#') << "wrote past errlen " << errlen;
  }
}

TEST(CApi, ServerOutOfRangeIsNull) {
  Selector s;
  ASSERT_EQ(make(kSpecU, s), SAMERING_OK);
  EXPECT_STREQ(selector_server(s.p, 0), "127.0.1.1:21001");
  EXPECT_STREQ(selector_server(s.p, 2), "127.0.1.3:21003");
  EXPECT_EQ(selector_server(s.p, 3), nullptr);
  EXPECT_EQ(selector_server(s.p, -1), nullptr);
  EXPECT_EQ(selector_server(s.p, SAMERING_EINVAL), nullptr);
  EXPECT_EQ(selector_server(s.p, 1 << 30), nullptr);
}

TEST(CApi, ServerIsAsWritten) {
  Selector s;
  ASSERT_EQ(make(R"({"flavor": "cmf", "servers": [{"host": "Mc1.Cache", "port": "011211"}, {"host": "b"}]})", s),
            SAMERING_OK);
  EXPECT_STREQ(selector_server(s.p, 0), "Mc1.Cache:011211");
  EXPECT_STREQ(selector_server(s.p, 1), "b:11211");
}

TEST(CApi, StrerrorNamesEveryCode) {
  const int codes[] = {SAMERING_OK,   SAMERING_EINVAL,  SAMERING_ESPEC,  SAMERING_EIO,
                       SAMERING_EKEY, SAMERING_ENOMEM,  SAMERING_EIMAGE, SAMERING_EINTERNAL};
  std::set<std::string> names;
  for (int c : codes) {
    const char* s = samering_strerror(c);
    ASSERT_NE(s, nullptr) << c;
    EXPECT_STRNE(s, "") << c;
    EXPECT_STRNE(s, samering_strerror(-1000)) << "code " << c << " has no name of its own";
    names.insert(s);
  }
  EXPECT_EQ(names.size(), std::size(codes)) << "two codes share a name";
  EXPECT_STREQ(samering_strerror(SAMERING_ESPEC), "invalid spec");  // documented in selector.h
  ASSERT_NE(samering_strerror(-1000), nullptr);
  EXPECT_STRNE(samering_strerror(-1000), "");
  EXPECT_EQ(names.count(samering_strerror(-1000)), 0u) << "an unknown code must not look like a known one";
  EXPECT_NE(samering_strerror(3), nullptr);
}

TEST(CApi, StrerrorHasNoGapsInTheCodes) {
  // Codes are consecutive negatives; the header may declare more than the list above (e.g. the
  // broker's). Any code below a named one must be named too: a declared code without a name
  // shows up as a gap ... unless it is the last one, which the list above pins for the core codes.
  const std::string unknown = samering_strerror(-1000);
  int lowest_named = 0;
  for (int c = -1; c >= -64; --c)
    if (samering_strerror(c) != unknown) lowest_named = c;
  std::set<std::string> names;
  for (int c = 0; c >= lowest_named; --c) {
    EXPECT_NE(samering_strerror(c), unknown) << "code " << c << " is between named codes but has no name";
    names.insert(samering_strerror(c));
  }
  EXPECT_EQ(names.size(), static_cast<std::size_t>(1 - lowest_named)) << "two codes share a name";
}

TEST(CApi, ImageRoundTrip) {
  const samering::RingImage image = samering::build_ring(samering::parse_spec(kSpecU));
  Selector s;
  char err[256];
  ASSERT_EQ(selector_new_from_image(image.bytes().data(), image.size(), &s.p, err, sizeof err), SAMERING_OK) << err;
  EXPECT_EQ(selector_pick(s.p, "bar", 3), 1);  // §10 Config U, row `cmf-ketama`: B
  EXPECT_STREQ(selector_flavor(s.p), "cmf");
  // The bytes are copied: an odd address is fine, and the caller may free them at once.
  std::vector<unsigned char> odd(image.size() + 1);
  std::memcpy(odd.data() + 1, image.bytes().data(), image.size());
  Selector t;
  ASSERT_EQ(selector_new_from_image(odd.data() + 1, image.size(), &t.p, err, sizeof err), SAMERING_OK) << err;
  odd.assign(odd.size(), 0);
  EXPECT_EQ(selector_pick(t.p, "bar", 3), 1);
}

TEST(CApi, CorruptImageIsEimage) {
  const samering::RingImage image = samering::build_ring(samering::parse_spec(kSpecU));
  std::vector<unsigned char> bytes(image.size());
  std::memcpy(bytes.data(), image.bytes().data(), image.size());
  char err[256];
  selector_t* out = reinterpret_cast<selector_t*>(0x1);
  bytes[200] ^= 0x10;
  EXPECT_EQ(selector_new_from_image(bytes.data(), bytes.size(), &out, err, sizeof err), SAMERING_EIMAGE);
  EXPECT_EQ(out, nullptr);
  EXPECT_THAT(err, HasSubstr("checksum"));
  bytes[200] ^= 0x10;
  EXPECT_EQ(selector_new_from_image(bytes.data(), bytes.size() - 8, &out, err, sizeof err), SAMERING_EIMAGE);
  EXPECT_THAT(err, HasSubstr("truncated"));
  EXPECT_EQ(selector_new_from_image("SAMERIN", 7, &out, err, sizeof err), SAMERING_EIMAGE);
  const std::string junk(4096, 'J');
  EXPECT_EQ(selector_new_from_image(junk.data(), junk.size(), &out, err, sizeof err), SAMERING_EIMAGE);
  EXPECT_THAT(err, HasSubstr("magic"));
}

TEST(CApi, PickManySlots) {
  Selector s;
  ASSERT_EQ(make(samering_test::spec_json("cmf", R"({"ketama_points": 150})", samering_test::kServersW), s), SAMERING_OK);
  // §10 Config W, row `cmf-ketama`: foo A, bar B, user:1234 C, a B, session:9f8e7d A,
  // item/42/profile B, 日本 A, k×250 A.
  const auto& named = samering_test::named_keys();
  std::vector<const char*> keys;
  std::vector<size_t> lens;
  for (const auto& k : named) {
    keys.push_back(k.data());
    lens.push_back(k.size());
  }
  keys.push_back(nullptr);  // a NULL key with a length: EINVAL in its slot, not a failed call
  lens.push_back(4);
  std::vector<int> out(keys.size() + 1, 12345);
  ASSERT_EQ(selector_pick_many(s.p, keys.data(), lens.data(), keys.size(), out.data(), nullptr, nullptr), SAMERING_OK);
  EXPECT_THAT(std::vector<int>(out.begin(), out.begin() + 8), ::testing::ElementsAre(0, 1, 2, 1, 0, 1, 0, 0));
  EXPECT_EQ(out[8], SAMERING_EINVAL);
  EXPECT_EQ(out[9], 12345) << "pick_many wrote past n";
  for (size_t i = 0; i < named.size(); ++i) EXPECT_EQ(out[i], selector_pick(s.p, keys[i], lens[i]));
}

TEST(CApi, RefusedKeyIsEkeyInItsSlot) {
  // nginx never hashes an empty key (§11: it would go round-robin); libmemcached refuses > 250
  // bytes (§3.4). selector.h: "a refused key gives SAMERING_EKEY in its slot, not a failed call".
  Selector ng, lm;
  ASSERT_EQ(make(samering_test::spec_json("nginx", "{}", samering_test::kServersU), ng), SAMERING_OK);
  ASSERT_EQ(make(samering_test::spec_json("libmemcached", R"({"distribution": "ketama"})", samering_test::kServersU), lm),
            SAMERING_OK);
  EXPECT_EQ(selector_pick(ng.p, "", 0), SAMERING_EKEY);
  EXPECT_EQ(selector_pick(ng.p, "foo", 3), 0);  // §10 Config U, row `nginx-chash`: foo A
  const std::string long_key(251, 'k');
  EXPECT_EQ(selector_pick(lm.p, long_key.data(), long_key.size()), SAMERING_EKEY);
  const char* keys[] = {"foo", "", "bar"};
  const size_t lens[] = {3, 0, 3};
  int out[3] = {-9, -9, -9};
  ASSERT_EQ(selector_pick_many(ng.p, keys, lens, 3, out, nullptr, nullptr), SAMERING_OK);
  EXPECT_THAT(out, ::testing::ElementsAre(0, SAMERING_EKEY, 1));  // `nginx-chash` U: foo A, bar B
}

TEST(CApi, SelectorsAreIndependent) {
  Selector a, b;
  ASSERT_EQ(make(samering_test::spec_json("cmf", "{}", samering_test::kServersU), a), SAMERING_OK);
  ASSERT_EQ(make(samering_test::spec_json("cache-memcached", "{}", samering_test::kServersW), b), SAMERING_OK);
  // §10 Config U row `cmf-compat`: user:1234 C; Config W row `cache-memcached`: user:1234 A.
  EXPECT_EQ(selector_pick(a.p, "user:1234", 9), 2);
  EXPECT_EQ(selector_pick(b.p, "user:1234", 9), 0);
  EXPECT_STREQ(selector_flavor(b.p), "cache-memcached");
}

}  // namespace

namespace {

// CMF constructor arguments → the cmf flavor through the core's convert (selector_new_from_cmf):
// picks against algorithms.md §10 Config U's cmf-ketama row (foo A, bar B, user:1234 C, a B),
// and the same row for the hash form of a server and the [address, weight] form.
TEST(CApiCmf, ConstructorArgumentsPickAsTheCmfFlavor) {
  const char* keys[] = {"foo", "bar", "user:1234", "a"};
  for (const std::string args :
       {std::string(R"({"servers": ["127.0.1.1:21001", "127.0.1.2:21002", "127.0.1.3:21003"], "ketama_points": 150})"),
        std::string(R"({"servers": [{"address": "127.0.1.1:21001"}, ["127.0.1.2:21002", 1], "127.0.1.3:21003"],)"
                    R"( "ketama_points": 150, "io_timeout": 0.5})")}) {
    Selector s;
    char err[256] = "x";
    ASSERT_EQ(selector_new_from_cmf(args.data(), args.size(), &s.p, err, sizeof err), SAMERING_OK) << err;
    EXPECT_STREQ(err, "");
    EXPECT_STREQ(selector_flavor(s.p), "cmf");
    std::vector<int> got;
    for (const char* k : keys) got.push_back(selector_pick(s.p, k, std::strlen(k)));
    EXPECT_THAT(got, ::testing::ElementsAre(0, 1, 2, 1)) << args;
  }
}

TEST(CApiCmf, BadArgumentsNameThePosition) {
  Selector s;
  char err[256];
  const std::string args = R"({"servers": ["no-port"]})";
  EXPECT_EQ(selector_new_from_cmf(args.data(), args.size(), &s.p, err, sizeof err), SAMERING_ESPEC);
  EXPECT_EQ(s.p, nullptr);
  EXPECT_THAT(err, HasSubstr("line 1, column "));
  EXPECT_THAT(err, HasSubstr("unix socket"));
  EXPECT_EQ(selector_new_from_cmf(nullptr, 3, &s.p, err, sizeof err), SAMERING_EINVAL);
}

TEST(CApiConvert, TextFormatsGiveTheSpecJson) {
  char* json = nullptr;
  size_t len = 0;
  char err[256];
  const std::string list = "10.0.0.1:11211, 10.0.0.2:11211";
  ASSERT_EQ(samering_convert("gomemcache", list.data(), list.size(), &json, &len, err, sizeof err), SAMERING_OK) << err;
  ASSERT_NE(json, nullptr);
  EXPECT_EQ(std::strlen(json), len);
  EXPECT_THAT(json, HasSubstr(R"("flavor":"gomemcache")"));
  EXPECT_THAT(json, HasSubstr(R"("host":"10.0.0.2")"));
  Selector s;  // the JSON is a spec the selector takes
  EXPECT_EQ(selector_new_from_json(json, len, &s.p, err, sizeof err), SAMERING_OK) << err;
  samering_free(json);

  const std::string conf = "--SERVER=10.0.0.1:11211 --DISTRIBUTION=consistent";
  ASSERT_EQ(samering_convert("libmemcached", conf.data(), conf.size(), &json, &len, err, sizeof err), SAMERING_OK);
  EXPECT_THAT(json, HasSubstr(R"("distribution":"consistent")"));
  samering_free(json);
  samering_free(nullptr);
}

TEST(CApiConvert, UnknownFormatAndBadInput) {
  char* json = reinterpret_cast<char*>(1);
  size_t len = 7;
  char err[256];
  const std::string yaml = "beta:\n  servers:\n   - 127.0.0.1:11211:1\n";
  EXPECT_EQ(samering_convert("twemproxy", yaml.data(), yaml.size(), &json, &len, err, sizeof err), SAMERING_EINVAL);
  EXPECT_EQ(json, nullptr);
  EXPECT_EQ(len, 0u);
  EXPECT_THAT(err, HasSubstr("unknown format \"twemproxy\""));
  const std::string bad = "10.0.0.1:99999";
  EXPECT_EQ(samering_convert("gomemcache", bad.data(), bad.size(), &json, &len, err, sizeof err), SAMERING_ESPEC);
  EXPECT_EQ(json, nullptr);
  EXPECT_THAT(err, HasSubstr("line 1, column 1"));
  EXPECT_EQ(samering_convert(nullptr, bad.data(), bad.size(), &json, &len, err, sizeof err), SAMERING_EINVAL);
}

TEST(CApiVersion, MacrosAndLibraryAgree) {
  EXPECT_STREQ(samering_version(), SAMERING_VERSION_STRING);
  EXPECT_EQ(samering_version_number(), SAMERING_VERSION_NUMBER);
  EXPECT_EQ(SAMERING_VERSION_NUMBER, SAMERING_VERSION_MAJOR * 10000 + SAMERING_VERSION_MINOR * 100 + SAMERING_VERSION_PATCH);
  EXPECT_THAT(samering_version(), StartsWith(std::to_string(SAMERING_VERSION_MAJOR) + "."));
}

TEST(CApi, PickServerAndPickManyAddressesOfALocalSelector) {
  Selector s;
  ASSERT_EQ(make(kSpecU, s), SAMERING_OK);
  const char* address = "unset";
  std::uint64_t generation = 5;
  EXPECT_EQ(selector_pick_server(s.p, "user:1234", 9, &generation, &address), 2);
  EXPECT_EQ(generation, 0u);
  EXPECT_STREQ(address, "127.0.1.3:21003");
  EXPECT_EQ(address, selector_server(s.p, 2)) << "the image's own NUL-terminated string, not a copy";
  EXPECT_EQ(selector_pick_server(s.p, nullptr, 3, &generation, &address), SAMERING_EINVAL);
  EXPECT_EQ(address, nullptr);
  const char* keys[] = {"foo", "bar"};
  const size_t lens[] = {3, 3};
  int out[2];
  const char* addresses[2] = {nullptr, nullptr};
  ASSERT_EQ(selector_pick_many(s.p, keys, lens, 2, out, addresses, &generation), SAMERING_OK);
  EXPECT_STREQ(addresses[0], "127.0.1.1:21001");
  EXPECT_STREQ(addresses[1], "127.0.1.2:21002");
}

}  // namespace
