// The php-memcache and spymemcached flavors: their spec errors and options, the key rules the
// vector files cannot show (refused keys), and the UTF-16 key hashes and UTF-8 check against the
// JVM itself: spymemcached's own DefaultHashAlgorithm and Java's strict UTF-8 decoder, run by this
// test on the installed jar (a missing JVM or jar fails the test).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "../selector/src/hash/key_hash.hpp"
#include "samering/error.hpp"
#include "samering/ring.hpp"
#include "samering/spec.hpp"
#include "test_support.hpp"

namespace {

using samering::Ring;
using samering::ring_from_json;
using samering::SpecError;
using ::testing::HasSubstr;

// The SpecError of building `json`, or a failure.
std::string build_error(const std::string& json, const std::string& field) {
  try {
    ring_from_json(json);
  } catch (const SpecError& e) {
    EXPECT_EQ(e.field(), field) << json << ": " << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no SpecError for " << json;
  return "";
}

std::string pm(const std::string& options, const std::string& servers) {
  return R"({"flavor": "php-memcache", "options": )" + options + R"(, "servers": )" + servers + "}";
}
std::string spy(const std::string& options, const std::string& servers) {
  return R"({"flavor": "spymemcached", "options": )" + options + R"(, "servers": )" + servers + "}";
}

const std::string kTwo = R"([{"host": "10.0.0.1"}, {"host": "10.0.0.2", "port": 11212}])";

// ---- php-memcache ------------------------------------------------------------------------------

TEST(PhpMemcacheFlavor, OptionsAreTheIniSettings) {
  EXPECT_THAT(build_error(pm(R"({"hash_strategy": "ketama"})", kTwo), "options.hash_strategy"),
              HasSubstr("consistent, standard"));
  EXPECT_THAT(build_error(pm(R"({"hash_function": "md5"})", kTwo), "options.hash_function"), HasSubstr("crc32, fnv"));
  build_error(pm(R"({"hash_strategy": 1})", kTwo), "options.hash_strategy");
  build_error(pm(R"({"namespace": "x"})", kTwo), "options.namespace");
  // The defaults are the extension's: consistent, crc32 (the vector files without options show it).
  const Ring d = ring_from_json(pm("{}", kTwo));
  const Ring e = ring_from_json(pm(R"({"hash_strategy": "consistent", "hash_function": "crc32"})", kTwo));
  for (const char* k : {"a", "foo", "user:1", "x y"}) EXPECT_EQ(d.pick(k), e.pick(k)) << k;
}

TEST(PhpMemcacheFlavor, WeightsAreIntegersAndNamesAreRefused) {
  build_error(pm("{}", R"([{"host": "a"}, {"host": "b", "weight": 1.5}])"), "servers[1].weight");
  build_error(pm("{}", R"([{"host": "a"}, {"host": "b", "name": "n"}])"), "servers[1].name");
}

TEST(PhpMemcacheFlavor, ControlBytesAreHashedAsUnderscoreAndKeysAreCutAt250) {
  for (const char* options : {R"({"hash_strategy": "consistent"})", R"({"hash_strategy": "standard"})",
                              R"({"hash_function": "fnv"})", R"({"hash_strategy": "standard", "hash_function": "fnv"})"}) {
    const Ring r = ring_from_json(pm(options, R"([{"host": "a"}, {"host": "b"}, {"host": "c"}, {"host": "d", "weight": 3}])"));
    std::mt19937 rng(7);
    for (int i = 0; i < 2000; ++i) {
      std::string key(1 + rng() % 300, '\0');
      for (auto& c : key) c = static_cast<char>(rng() % 4 == 0 ? rng() % 0x21 : 0x21 + rng() % 0xdf);
      std::string prepared = key.substr(0, 250);
      for (auto& c : prepared)
        if (static_cast<unsigned char>(c) <= 0x20) c = '_';
      ASSERT_EQ(r.pick(key), r.pick(prepared)) << options << " key " << samering_test::hex(key);
    }
    EXPECT_EQ(r.pick(std::string(250, 'k') + "tail"), r.pick(std::string(250, 'k'))) << options;
    EXPECT_EQ(r.pick(""), -1) << options;  // mmc_prepare_key_ex: an empty key is an error
    EXPECT_GE(r.pick(std::string(1000, 'z')), 0) << options;
  }
}

TEST(PhpMemcacheFlavor, OneServerTakesEveryKey) {
  const Ring r = ring_from_json(pm(R"({"hash_strategy": "standard"})", R"([{"host": "a", "weight": 4}])"));
  for (const char* k : {"a", "b b", "\x01"}) EXPECT_EQ(r.pick(k), 0);
  EXPECT_EQ(r.pick(""), -1);
}

TEST(PhpMemcacheFlavor, ConsistentUsesOnlyTheLow10BitsOfTheKeyHash) {
  // mmc_consistent_find_server: buckets[hash % 1024]. Keys whose crc32 agree in the low 10 bits
  // go together, whatever the other bits.
  const Ring r = ring_from_json(pm("{}", R"([{"host": "a"}, {"host": "b"}, {"host": "c"}, {"host": "d"}])"));
  std::vector<std::vector<std::string>> by_bucket(1024);
  for (int i = 0; by_bucket[0].size() < 20; ++i) {
    const std::string k = "key:" + std::to_string(i);
    by_bucket[samering::hash::key_hash(samering::image::kCrc32, 0, k.data(), k.size()) % 1024].push_back(k);
  }
  for (const auto& keys : by_bucket)
    for (const auto& k : keys) ASSERT_EQ(r.pick(k), r.pick(keys.front())) << k;
}

// ---- spymemcached ------------------------------------------------------------------------------

TEST(SpymemcachedFlavor, OptionsAreTheJavaNames) {
  EXPECT_THAT(build_error(spy(R"({"locator": "consistent"})", kTwo), "options.locator"),
              HasSubstr("ARRAY_MOD, CONSISTENT"));
  EXPECT_THAT(build_error(spy(R"({"locator": "VBUCKET"})", kTwo), "options.locator"), HasSubstr("vbucket"));
  EXPECT_THAT(build_error(spy(R"({"hash": "MURMUR_HASH"})", kTwo), "options.hash"),
              HasSubstr("NATIVE_HASH, CRC_HASH, FNV1_64_HASH, FNV1A_64_HASH, FNV1_32_HASH, FNV1A_32_HASH, KETAMA_HASH"));
  build_error(spy(R"({"weighted": 1})", kTwo), "options.weighted");
  EXPECT_THAT(build_error(spy(R"({"weighted": true})", kTwo), "options.weighted"), HasSubstr("CONSISTENT"));
}

TEST(SpymemcachedFlavor, WeightsOnlyThroughTheWeightedConstructor) {
  const std::string weighted = R"([{"host": "10.0.0.1"}, {"host": "10.0.0.2", "weight": 3}])";
  EXPECT_THAT(build_error(spy(R"({"locator": "CONSISTENT"})", weighted), "servers[1].weight"), HasSubstr("weighted"));
  build_error(spy("{}", weighted), "servers[1].weight");
  build_error(spy(R"({"locator": "CONSISTENT", "weighted": true})", R"([{"host": "10.0.0.1", "weight": 1.5}])"),
              "servers[0].weight");
  EXPECT_NO_THROW(ring_from_json(spy(R"({"locator": "CONSISTENT", "weighted": true})", weighted)));
}

TEST(SpymemcachedFlavor, AHostnameNeedsTheNodeStringItResolvedTo) {
  // The ketama ring hashes "hostname/address:port": without the address the ring is unknowable.
  const std::string k = R"({"locator": "CONSISTENT", "hash": "KETAMA_HASH"})";
  EXPECT_THAT(build_error(spy(k, R"([{"host": "10.0.0.1"}, {"host": "mc1", "port": 11211}])"), "servers[1].name"),
              HasSubstr("\"mc1/ADDRESS:11211\""));
  // Java prints "127.1" as 127.0.0.1 and "010.0.0.1" as 10.0.0.1: only canonical dotted quads go without a name.
  for (const char* host : {"127.1", "010.0.0.1", "256.0.0.1", "1.2.3.4.5", "::1", "[::1]"})
    build_error(spy(k, std::string(R"([{"host": "10.0.0.1"}, {"host": ")") + host + R"("}])"), "servers[1].name");
  // The name must be the node string: the host as written, "/", the address, ":" and the port.
  EXPECT_THAT(build_error(spy(k, R"([{"host": "mc1", "port": 11211, "name": "mc1/10.0.0.2:11212"}])"), "servers[0].name"),
              HasSubstr(":11211"));
  EXPECT_THAT(build_error(spy(k, R"([{"host": "mc1", "name": "mc2/10.0.0.2:11211"}])"), "servers[0].name"),
              HasSubstr("mc1/"));
  EXPECT_NO_THROW(ring_from_json(spy(k, R"([{"host": "mc1", "name": "mc1/10.0.0.2:11211"}, {"host": "10.0.0.3"}])")));
  // ARRAY_MOD never hashes a node: a hostname needs no name there.
  EXPECT_NO_THROW(ring_from_json(spy("{}", R"([{"host": "mc1"}, {"host": "mc2"}])")));
}

TEST(SpymemcachedFlavor, KeysMustBeUtf8Of1To250Bytes) {
  for (const char* options : {"{}", R"({"locator": "CONSISTENT", "hash": "KETAMA_HASH"})", R"({"hash": "CRC_HASH"})"}) {
    for (const std::string& servers : {kTwo, std::string(R"([{"host": "10.0.0.1"}])")}) {
      const Ring r = ring_from_json(spy(options, servers));
      EXPECT_EQ(r.pick(""), -1) << options;
      EXPECT_EQ(r.pick(std::string(251, 'k')), -1) << options;
      EXPECT_GE(r.pick(std::string(250, 'k')), 0) << options;
      EXPECT_EQ(r.pick(std::string(125, '\x01') + std::string("\xe6\x97\xa5") + std::string(123, 'x')), -1) << "251 bytes";
      // not UTF-8: refused even with one server (a byte string that is no Java String names no key)
      for (const char* bad : {"\x80", "a\xff", "\xc3\x28", "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80", "\xe6\x97"})
        EXPECT_EQ(r.pick(bad), -1) << options << " " << samering_test::hex(bad);
      for (const char* good : {"a b", "\t", "\x7f", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf", "\xf0\x9f\x98\x80"})
        EXPECT_GE(r.pick(good), 0) << options << " " << samering_test::hex(good);
    }
  }
}

// ---- the UTF-16 hashes and the UTF-8 check, against the JVM -------------------------------------

// Runs spymemcached's DefaultHashAlgorithm and Java's strict UTF-8 decoder on `keys` in a JVM.
// Per key one line: "BAD" when Java's decoder refuses it, else the seven hash values
// (NATIVE, CRC, FNV1_64, FNV1A_64, FNV1_32, FNV1A_32, KETAMA) as unsigned decimals.
std::vector<std::string> jvm_hashes(const std::vector<std::string>& keys) {
  samering_test::TempDir dir;
  dir.write("Oracle.java", R"(
import java.io.*;
import java.nio.ByteBuffer;
import java.nio.charset.*;
import java.util.HexFormat;
import net.spy.memcached.DefaultHashAlgorithm;
public class Oracle {
  public static void main(String[] a) throws Exception {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
    DefaultHashAlgorithm[] algs = {DefaultHashAlgorithm.NATIVE_HASH, DefaultHashAlgorithm.CRC_HASH,
        DefaultHashAlgorithm.FNV1_64_HASH, DefaultHashAlgorithm.FNV1A_64_HASH, DefaultHashAlgorithm.FNV1_32_HASH,
        DefaultHashAlgorithm.FNV1A_32_HASH, DefaultHashAlgorithm.KETAMA_HASH};
    for (String line; (line = in.readLine()) != null;) {
      String key;
      try {
        key = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(HexFormat.of().parseHex(line))).toString();
      } catch (CharacterCodingException e) { System.out.println("BAD"); continue; }
      StringBuilder sb = new StringBuilder();
      for (DefaultHashAlgorithm h : algs) sb.append(sb.length() > 0 ? " " : "").append(h.hash(key));
      System.out.println(sb);
    }
  }
})");
  std::string input;
  for (const auto& k : keys) input += samering_test::hex(k) + "\n";
  dir.write("keys.txt", input);
  const std::string d = dir.path().string();
  const std::string cmd = "cd '" + d + "' && timeout 120 java -cp " SAMERING_SPYMEMCACHED_JAR
                          " Oracle.java < keys.txt > out.txt 2> err.txt";
  const int rc = std::system(cmd.c_str());
  std::ifstream err(dir.path() / "err.txt");
  std::stringstream errs;
  errs << err.rdbuf();
  if (rc != 0) {
    ADD_FAILURE() << "the JVM oracle failed (" << rc << "; needs default-jdk-headless and libspymemcached-java): "
                  << errs.str();
    return {};
  }
  std::ifstream out(dir.path() / "out.txt");
  std::vector<std::string> lines;
  for (std::string line; std::getline(out, line);) lines.push_back(line);
  return lines;
}

TEST(JavaKeyHashes, EqualSpymemcachedsDefaultHashAlgorithmAndJavasUtf8Decoder) {
  namespace img = samering::image;
  std::mt19937 rng(18);
  std::vector<std::string> keys = {"", "a", "Aa", "BB", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf", "\xef\xbf\xbf",
                                   "\xed\x9f\xbf", "\xed\xa0\x80", "\xc0\x80", "\xe0\x9f\xbf", "\xf0\x8f\xbf\xbf",
                                   "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\x80", "\xc2", "\xe6\x97", "\xf0\x9f\x98"};
  const auto code_point = [&] {
    switch (rng() % 4) {
      case 0: return static_cast<std::uint32_t>(0x20 + rng() % 0x5f);
      case 1: return static_cast<std::uint32_t>(0x80 + rng() % 0x780);
      case 2: { std::uint32_t c = 0x800 + rng() % 0xf800; return c >= 0xd800 && c < 0xe000 ? 0x4e00 : c; }
      default: return static_cast<std::uint32_t>(0x10000 + rng() % 0x100000);
    }
  };
  const auto utf8 = [](std::uint32_t c) {
    std::string s;
    if (c < 0x80) s += static_cast<char>(c);
    else if (c < 0x800) s += {static_cast<char>(0xc0 | c >> 6), static_cast<char>(0x80 | (c & 0x3f))};
    else if (c < 0x10000)
      s += {static_cast<char>(0xe0 | c >> 12), static_cast<char>(0x80 | (c >> 6 & 0x3f)), static_cast<char>(0x80 | (c & 0x3f))};
    else
      s += {static_cast<char>(0xf0 | c >> 18), static_cast<char>(0x80 | (c >> 12 & 0x3f)),
            static_cast<char>(0x80 | (c >> 6 & 0x3f)), static_cast<char>(0x80 | (c & 0x3f))};
    return s;
  };
  for (int i = 0; i < 3000; ++i) {  // well-formed UTF-8 of 1..80 code points
    std::string k;
    for (std::uint32_t n = 1 + rng() % 80; n > 0; --n) k += utf8(code_point());
    keys.push_back(k);
  }
  for (int i = 0; i < 2000; ++i) {  // random bytes: mostly not UTF-8, sometimes it is
    std::string k(1 + rng() % 12, '\0');
    for (auto& c : k) c = static_cast<char>(rng() % 3 == 0 ? rng() % 0x80 : 0x80 + rng() % 0x80);
    keys.push_back(k);
  }
  const auto lines = jvm_hashes(keys);
  ASSERT_EQ(lines.size(), keys.size());
  const img::KeyHash ids[] = {img::kJavaStringHashCode, img::kCrc32Hi15, img::kJavaFnv1_64, img::kJavaFnv1a_64,
                              img::kJavaFnv1_32,        img::kJavaFnv1a_32, img::kMd5};
  std::size_t valid = 0;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const auto& k = keys[i];
    const bool ours = samering::hash::utf8_well_formed(k.data(), k.size());
    ASSERT_EQ(ours, lines[i] != "BAD") << "key " << samering_test::hex(k) << ": Java says " << lines[i];
    if (!ours) continue;
    ++valid;
    std::istringstream java(lines[i]);
    for (auto id : ids) {
      std::uint64_t want = 0;
      java >> want;
      ASSERT_EQ(samering::hash::key_hash(id, 0, k.data(), k.size()), want) << "hash id " << id << ", key " << samering_test::hex(k);
    }
  }
  EXPECT_GT(valid, 3000u);
  EXPECT_LT(valid, keys.size() - 1000) << "the random byte strings should be mostly refused";
}

}  // namespace
