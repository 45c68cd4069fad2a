// The wave 2 Ruby and Python flavors (dalli, python-memcached, rendezvous): spec errors and
// options, the keys each peer refuses, the claims their docs make (python-memcached vs
// cache-memcached, checked on the peer's own vector cases), and the rendezvous pick's split
// murmur3 against Debian's libmurmurhash. Parity itself is tests/parity_test.cpp (vector files).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <murmurhash.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "../selector/src/hash/key_hash.hpp"
#include "samering/convert.hpp"
#include "samering/error.hpp"
#include "samering/ring.hpp"
#include "samering/spec.hpp"
#include "test_support.hpp"

namespace {

using samering::Ring;
using samering::ring_from_json;
using ::testing::HasSubstr;

std::string spec_error(const std::string& json) {
  try {
    ring_from_json(json);
  } catch (const samering::SpecError& e) {
    return e.what();
  }
  return "(accepted)";
}

std::string servers3() {
  return R"([{"host": "127.0.1.1", "port": 21001}, {"host": "127.0.1.2", "port": 21002}, {"host": "127.0.1.3", "port": 21003}])";
}

// ---- spec errors -------------------------------------------------------------------------------

TEST(DalliSpec, RefusesFractionalWeightNamesAndUnknownOptions) {
  EXPECT_THAT(spec_error(R"({"flavor": "dalli", "servers": [{"host": "a", "weight": 1.5}, {"host": "b"}]})"),
              HasSubstr("servers[0].weight"));
  EXPECT_THAT(spec_error(R"({"flavor": "dalli", "servers": [{"host": "a", "name": "x"}]})"), HasSubstr("servers[0].name"));
  EXPECT_THAT(spec_error(R"({"flavor": "dalli", "options": {"hash": "md5"}, "servers": [{"host": "a"}]})"),
              HasSubstr("options.hash: unknown option for flavor dalli"));
  EXPECT_THAT(spec_error(R"({"flavor": "dalli", "options": {"namespace": 3}, "servers": [{"host": "a"}]})"),
              HasSubstr("options.namespace: must be a string"));
}

TEST(PythonMemcachedSpec, RefusesFractionalWeightAndBadKeyPrefix) {
  EXPECT_THAT(spec_error(R"({"flavor": "python-memcached", "servers": [{"host": "a", "weight": 0.5}]})"),
              HasSubstr("servers[0].weight"));
  EXPECT_THAT(spec_error(R"({"flavor": "python-memcached", "options": {"key_prefix": "a b"}, "servers": [{"host": "a"}]})"),
              HasSubstr("options.key_prefix"));
  EXPECT_THAT(spec_error(R"({"flavor": "python-memcached", "options": {"key_prefix": ")" + std::string(250, 'p') +
                         R"("}, "servers": [{"host": "a"}]})"),
              HasSubstr("at most 249 bytes"));
  EXPECT_THAT(spec_error(R"({"flavor": "python-memcached", "options": {"namespace": "x"}, "servers": [{"host": "a"}]})"),
              HasSubstr("options.namespace: unknown option"));
}

TEST(RendezvousSpec, RefusesWeightsAndUnknownOptions) {
  EXPECT_THAT(spec_error(R"({"flavor": "rendezvous", "servers": [{"host": "a", "weight": 2}, {"host": "b"}]})"),
              HasSubstr("has no weights"));
  EXPECT_THAT(spec_error(R"({"flavor": "rendezvous", "options": {"seed": 1}, "servers": [{"host": "a"}]})"),
              HasSubstr("options.seed: unknown option"));
  EXPECT_THAT(spec_error(R"({"flavor": "rendezvous", "options": {"bytes_keys": "yes"}, "servers": [{"host": "a"}]})"),
              HasSubstr("options.bytes_keys: must be a boolean"));
}

// ---- keys the peers refuse ---------------------------------------------------------------------

TEST(DalliKeys, RefusesWhatMemcachedRefuses) {
  // Dalli sends a key of at most 250 characters as it is; memcached refuses more than 250 bytes
  // (Dalli raises "Response error 4: Invalid arguments", checked with the live peer), so such a key
  // has no server. The same rule with one server (Dalli still sends it).
  for (const char* servers : {R"([{"host": "a"}])", R"([{"host": "a"}, {"host": "b"}])"}) {
    const Ring ring = ring_from_json(std::string(R"({"flavor": "dalli", "servers": )") + servers + "}");
    std::string eacute;
    for (int i = 0; i < 125; ++i) eacute += "\xc3\xa9";   // 125 characters, 250 bytes: sent as it is
    EXPECT_GE(ring.pick(eacute), 0);
    EXPECT_EQ(ring.pick(eacute + "\xc3\xa9"), -1);        // 126 characters, 252 bytes
    EXPECT_EQ(ring.pick(""), -1);                          // "key cannot be blank"
    // 300 characters: shortened to 212 characters + ":md5:" + 32; 212 x 2 bytes is too long
    std::string long_utf8;
    for (int i = 0; i < 300; ++i) long_utf8 += "\xc3\xa9";
    EXPECT_EQ(ring.pick(long_utf8), -1);
    EXPECT_GE(ring.pick(std::string(300, 'x')), 0);      // 212 bytes + 37: fits
    EXPECT_GE(ring.pick(std::string(100000, 'x')), 0);   // any length is shortened
  }
}

TEST(DalliKeys, AnEmptyNamespaceIsANamespace) {
  // key_manager.rb key_with_namespace: "#{namespace}:#{key}" whenever namespace is not nil.
  const std::string servers = servers3();
  const Ring with_empty = ring_from_json(R"({"flavor": "dalli", "options": {"namespace": ""}, "servers": )" + servers + "}");
  const Ring without = ring_from_json(R"({"flavor": "dalli", "servers": )" + servers + "}");
  std::mt19937 rng(7);
  int differ = 0;
  for (int i = 0; i < 300; ++i) {
    const std::string key = "user:" + std::to_string(rng());
    EXPECT_EQ(with_empty.pick(key), without.pick(":" + key)) << key;
    differ += with_empty.pick(key) != without.pick(key);
  }
  EXPECT_GT(differ, 0);
}

TEST(PythonMemcachedKeys, LengthLimitCountsTheKeyPrefix) {
  const Ring ring = ring_from_json(R"({"flavor": "python-memcached", "options": {"key_prefix": "app:"}, "servers": )" +
                                   servers3() + "}");
  EXPECT_GE(ring.pick(std::string(246, 'k')), 0);
  EXPECT_EQ(ring.pick(std::string(247, 'k')), -1);  // check_key: len(key) + len(prefix) > 250
  EXPECT_EQ(ring.pick(""), -1);
}

TEST(RendezvousKeys, StrKeysMustBeUtf8AndFitTheLimit) {
  const Ring str = ring_from_json(R"({"flavor": "rendezvous", "options": {"key_prefix": "ab"}, "servers": )" + servers3() + "}");
  const Ring bytes = ring_from_json(R"({"flavor": "rendezvous", "options": {"bytes_keys": true}, "servers": )" + servers3() + "}");
  for (const char* bad : {"\x80", "a\xc3", "\xed\xa0\x80", "\xc0\x80", "\xf4\x90\x80\x80"}) {
    EXPECT_EQ(str.pick(bad), -1) << samering_test::hex(bad);   // no Python str has these bytes
    EXPECT_GE(bytes.pick(bad), 0) << samering_test::hex(bad);  // a bytes key may
  }
  EXPECT_GE(str.pick(std::string(248, 'k')), 0);
  EXPECT_EQ(str.pick(std::string(249, 'k')), -1);  // check_key_helper: prefix + key > 250 bytes
  EXPECT_GE(bytes.pick(std::string(250, '\xff')), 0);
}

TEST(RendezvousKeys, BytesKeysHashTheirPythonRepr) {
  // "%s-%s" % (node, key) with a bytes key formats repr(key); these reprs are CPython 3.11's.
  const Ring str = ring_from_json(R"({"flavor": "rendezvous", "servers": )" + servers3() + "}");
  const Ring bytes = ring_from_json(R"({"flavor": "rendezvous", "options": {"bytes_keys": true}, "servers": )" + servers3() + "}");
  const std::pair<std::string, std::string> cases[] = {
      {"abc", "b'abc'"},
      {"a'b", "b\"a'b\""},
      {"a\"b", "b'a\"b'"},
      {"'\"", "b'\\'\"'"},
      {"\\", "b'\\\\'"},
      {std::string("\t\n\r\0\x7f\x80\xff", 7), "b'\\t\\n\\r\\x00\\x7f\\x80\\xff'"},
      {"\x1f ", "b'\\x1f '"},
  };
  for (const auto& [key, repr] : cases) EXPECT_EQ(bytes.pick(key), str.pick(repr)) << repr;
}

// ---- python-memcached vs cache-memcached, on the peer's own vector cases -----------------------

TEST(PythonMemcached, EqualsCacheMemcachedExceptOnZeroHashKeys) {
  // The flavor doc's claim, checked on every case the real python-memcached answered: the
  // cache-memcached flavor (proven equal to Cache::Memcached by its own vectors) gives the peer's
  // answer exactly on the keys whose bucket hash is not 0, and another answer on some zero-hash key.
  namespace fs = std::filesystem;
  int files = 0, zero_keys = 0, zero_differ = 0;
  for (const auto& e : fs::directory_iterator(SAMERING_VECTORS_DIR)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("python-memcached-", 0) != 0) continue;
    std::ifstream in(e.path());
    const auto doc = nlohmann::json::parse(in);
    auto spec = doc["spec"];
    if (!spec["options"].empty()) continue;  // key_prefix: Cache::Memcached never hashes its namespace
    spec["flavor"] = "cache-memcached";
    const Ring cm = ring_from_json(spec.dump());
    ++files;
    for (const auto& c : doc["cases"]) {
      const std::string key = samering_test::unhex(c[0].get<std::string>());
      const int peer = c[1].get<int>();
      const auto h = (::crc32(0, reinterpret_cast<const Bytef*>(key.data()), static_cast<uInt>(key.size())) >> 16) & 0x7fff;
      if (h != 0) {
        EXPECT_EQ(cm.pick(key), peer) << name << " " << c[0];
      } else {
        ++zero_keys;
        zero_differ += cm.pick(key) != peer;
      }
    }
  }
  EXPECT_GE(files, 6);
  EXPECT_GE(zero_keys, 60);
  EXPECT_GT(zero_differ, 0);  // not an alias: the peer parts from Cache::Memcached on these keys
}

// ---- murmur3 and the rendezvous pick against libmurmurhash ---------------------------------------

std::uint32_t lib_murmur3(const std::string& s) {
  std::uint32_t out;
  MurmurHash3_x86_32(s.data(), static_cast<int>(s.size()), 0, &out);
  return out;
}

TEST(Murmur3, KeyHash20EqualsLibmurmurhash) {
  std::mt19937 rng(14);
  for (int i = 0; i < 3000; ++i) {
    std::string s(rng() % 70, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    EXPECT_EQ(samering::hash::key_hash(20, 0, s.data(), s.size()), lib_murmur3(s)) << samering_test::hex(s);
  }
}

TEST(RendezvousPick, EqualsHighestLibmurmurhashScoreForEveryAlignment) {
  // Node names of every length mod 4 (the pick splits "name-" at its last whole block) and keys of
  // 0..60 bytes; the expected node is the one with the greatest (libmurmurhash score, name).
  std::mt19937 rng(4);
  for (int trial = 0; trial < 40; ++trial) {
    const int n = 1 + static_cast<int>(rng() % 40);
    std::vector<std::string> names;
    std::string servers = "[";
    for (int i = 0; i < n; ++i) {
      const std::string host = "h" + std::string(rng() % 9, 'x') + std::to_string(i);
      const std::string port = std::to_string(1 + rng() % 65535);
      names.push_back(host + ":" + port);
      servers += std::string(i ? ", " : "") + R"({"host": ")" + host + R"(", "port": )" + port + "}";
    }
    const Ring ring = ring_from_json(R"({"flavor": "rendezvous", "servers": )" + servers + "]}");
    for (int k = 0; k < 50; ++k) {
      std::string key(rng() % 61, 'a');
      for (auto& c : key) c = static_cast<char>(0x21 + rng() % 94);
      std::size_t want = 0;
      for (std::size_t i = 1; i < names.size(); ++i) {
        const auto a = lib_murmur3(names[i] + "-" + key), b = lib_murmur3(names[want] + "-" + key);
        if (a > b || (a == b && names[i] > names[want])) want = i;
      }
      ASSERT_EQ(ring.pick(key), static_cast<int>(want)) << "trial " << trial << " key " << key;
    }
  }
}

// ---- samering convert --from dalli ---------------------------------------------------------------

TEST(ConvertDalli, TheServerStringsGivenToTheLiveDalliPickAsItDid) {
  // fixtures: dalli-5srv-octal.json was made by giving Dalli exactly these strings (its notes say so).
  std::ifstream in(std::string(SAMERING_VECTORS_DIR) + "/dalli-5srv-octal.json");
  const auto doc = nlohmann::json::parse(in);
  const auto spec = samering::convert_dalli(
      "127.0.102.1:021000:010,127.0.102.2:21002,'127.0.102.3:02001:02'\n127.0.102.4,\"127.0.102.5:21005:3\"\n");
  ASSERT_EQ(spec.servers.size(), 5u);
  EXPECT_EQ(spec.servers[0].port_number, 8704);
  EXPECT_EQ(spec.servers[0].weight, 8);
  EXPECT_EQ(spec.servers[3].port_number, 11211);
  const Ring ring(samering::build_ring(spec));
  std::size_t n = 0;
  for (const auto& c : doc["cases"]) {
    ++n;
    EXPECT_EQ(ring.pick(samering_test::unhex(c[0].get<std::string>())), c[1].get<int>()) << c[0];
  }
  EXPECT_EQ(n, 500u);
}

TEST(ConvertDalli, RefusesWhatDalliRefusesOrASpecCannotSay) {
  const auto error = [](std::string_view text) {
    try {
      samering::convert_dalli(text);
    } catch (const samering::SpecError& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  EXPECT_THAT(error("a:1, b:2"), HasSubstr("line 1, column 5: \" b:2\": Dalli keeps spaces"));
  EXPECT_THAT(error("a:08"), HasSubstr("Ruby Integer() refuses the port \"08\""));
  EXPECT_THAT(error("a:1:09"), HasSubstr("refuses the weight \"09\""));
  EXPECT_THAT(error("a:1:0"), HasSubstr("the weight is 0"));
  EXPECT_THAT(error("a:0"), HasSubstr("the port is 0"));
  EXPECT_THAT(error("a:0200000"), HasSubstr("the port is 65536"));
  EXPECT_THAT(error("/var/run/memcached.sock"), HasSubstr("unix socket"));
  EXPECT_THAT(error("memcached://u:p@a:11211"), HasSubstr("memcached:// URI"));
  EXPECT_THAT(error("a:1:2:3"), HasSubstr("cannot parse"));
  EXPECT_THAT(error("a:x"), HasSubstr("is not a number"));
  EXPECT_THAT(error("a:11211,b,a"), HasSubstr("same server"));
  EXPECT_THAT(error(",,"), HasSubstr("no server"));
  EXPECT_THAT(error("\"a:1"), HasSubstr("not closed"));
  EXPECT_EQ(samering::convert_dalli("[::1]:11212:3").servers[0].host, "::1");  // Binary#name drops the brackets
}

}  // namespace
