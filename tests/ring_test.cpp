// Ring behaviour pinned by the real peers' answers (algorithms.md §10 tables; every expected index
// below is a cell of those tables, cited by table and row) and by the peers' documented rules
// (algorithms.md §1, §2, §5). No expected value here comes from samering's own output.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <numeric>
#include <random>
#include <set>
#include <thread>
#include <string>
#include <vector>

#include "samering/error.hpp"
#include "samering/ring.hpp"
#include "samering/spec.hpp"
#include "test_support.hpp"

namespace {

using samering::Ring;
using samering::ring_from_json;
using samering_test::kServersP;
using samering_test::kServersU;
using samering_test::kServersW;
using samering_test::row;
using samering_test::spec_json;

// ---- algorithms.md §10 -------------------------------------------------------------------------

struct PeerRow {
  const char* name;      // test name
  const char* cite;      // "§10 Config U, row `cmf-ketama`"
  const char* flavor;
  const char* options;
  std::string_view servers;
  const char* letters;   // the row's cells, in column order; '-' = not checked (see the row comment)
};

std::ostream& operator<<(std::ostream& os, const PeerRow& r) { return os << r.name; }

std::vector<std::string> table_keys() {
  auto keys = samering_test::named_keys();
  keys.push_back(samering_test::key_l300());
  keys.push_back(samering_test::key_l300b());
  return keys;
}

// Rows of the peers CMF 0.28 ("cmf-ketama" = ketama_points 150: fixtures/lib/Configs.pm
// cmf-ketama-3srv-U/W, "algorithms.md §10 config U, ketama_points 150"), Cache::Memcached 1.30 and
// gomemcache. L300/L300b are "n/a" except for gomemcache.
//
// The `cmf-ketama namespace="app:", hash_namespace=true` rows: the k×250 cell is not checked —
// the text protocol limits namespace + key to 250 bytes, and the generator shortens that key to
// k×246 with a namespace (fixtures/generate named_keys), so which key the peer saw is not certain.
// gomemcache on config W without repeat_by_weight is not here: the flavor refuses weights != 1 by
// design (docs/spec-format.md); the peer ignores them (its row equals config U).
const PeerRow kRows[] = {
    {"U_cmf_ketama", "§10 Config U, row `cmf-ketama`", "cmf", R"({"ketama_points": 150})", kServersU,
     "A B C B A A A A"},
    {"U_cmf_ketama_p160", "§10 Config U, row `cmf-ketama ketama_points=160`", "cmf", R"({"ketama_points": 160})",
     kServersU, "A B C B A A A A"},
    {"U_cmf_compat", "§10 Config U, row `cmf-compat`", "cmf", R"({})", kServersU, "B B C C B C C C"},
    {"U_cmf_compat_explicit0", "§10 Config U, row `cmf-compat` (ketama_points 0 = compatible mode, §1.3)", "cmf",
     R"({"ketama_points": 0})", kServersU, "B B C C B C C C"},
    {"U_cache_memcached", "§10 Config U, row `cache-memcached`", "cache-memcached", R"({})", kServersU,
     "B B C C B C C C"},
    {"U_gomemcache", "§10 Config U, row `gomemcache`", "gomemcache", R"({})", kServersU, "C C B A A A C A A A"},
    {"U_gomemcache_repeat", "§10 Config U, row `gomemcache repeat_by_weight=true`", "gomemcache",
     R"({"repeat_by_weight": true})", kServersU, "C C B A A A C A A A"},
    {"U_cmf_ketama_ns_hashed", "§10 Config U, row `cmf-ketama namespace=\"app:\", hash_namespace=true`", "cmf",
     R"({"ketama_points": 150, "namespace": "app:", "hash_namespace": true})", kServersU, "B A C C C A C -"},

    {"W_cmf_ketama", "§10 Config W, row `cmf-ketama`", "cmf", R"({"ketama_points": 150})", kServersW,
     "A B C B A B A A"},
    {"W_cmf_ketama_p160", "§10 Config W, row `cmf-ketama ketama_points=160`", "cmf", R"({"ketama_points": 160})",
     kServersW, "A B C B A B A A"},
    {"W_cmf_compat", "§10 Config W, row `cmf-compat`", "cmf", R"({})", kServersW, "C C A C C C C C"},
    {"W_cache_memcached", "§10 Config W, row `cache-memcached`", "cache-memcached", R"({})", kServersW,
     "C C A C C C C C"},
    {"W_gomemcache_repeat", "§10 Config W, row `gomemcache repeat_by_weight=true`", "gomemcache",
     R"({"repeat_by_weight": true})", kServersW, "B B C C A B A B C C"},
    {"W_cmf_ketama_ns_hashed", "§10 Config W, row `cmf-ketama namespace=\"app:\", hash_namespace=true`", "cmf",
     R"({"ketama_points": 150, "namespace": "app:", "hash_namespace": true})", kServersW, "B A C C C A C -"},

    {"P_cmf_ketama", "§10 Config P, row `cmf-ketama`", "cmf", R"({"ketama_points": 150})", kServersP,
     "A B C A C C C A"},
    {"P_cmf_ketama_p160", "§10 Config P, row `cmf-ketama ketama_points=160`", "cmf", R"({"ketama_points": 160})",
     kServersP, "A B C B C C C A"},

    // Documented rules applied to a table row:
    // §1.1 "The namespace is always sent on the wire; only hash_namespace makes it part of the hash"
    // → the plain `cmf-ketama` / `cmf-compat` rows.
    {"U_cmf_ketama_ns_unhashed", "§10 Config U, row `cmf-ketama` + §1.1 (namespace not hashed)", "cmf",
     R"({"ketama_points": 150, "namespace": "app:"})", kServersU, "A B C B A A A A"},
    {"U_cmf_ketama_ns_hash_false", "§10 Config U, row `cmf-ketama` + §1.1 (hash_namespace false)", "cmf",
     R"({"ketama_points": 150, "namespace": "app:", "hash_namespace": false})", kServersU, "A B C B A A A A"},
    {"W_cmf_compat_ns_unhashed", "§10 Config W, row `cmf-compat` + §1.1 (namespace not hashed)", "cmf",
     R"({"namespace": "app:"})", kServersW, "C C A C C C C C"},
    // §2 "the namespace is never hashed, it is only prefixed on the wire" → the `cache-memcached` row.
    {"U_cache_memcached_ns", "§10 Config U, row `cache-memcached` + §2 (namespace never hashed)",
     "cache-memcached", R"({"namespace": "app:"})", kServersU, "B B C C B C C C"},
};

class PeerTable : public ::testing::TestWithParam<PeerRow> {};

TEST_P(PeerTable, PicksWhatThePeerPicked) {
  const PeerRow& r = GetParam();
  SCOPED_TRACE(r.cite);
  const Ring ring = ring_from_json(spec_json(r.flavor, r.options, r.servers));
  const auto want = row(r.letters);
  const auto keys = table_keys();
  ASSERT_LE(want.size(), keys.size());
  ASSERT_GE(want.size(), 8u);
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (want[i] < 0) continue;
    EXPECT_EQ(ring.pick(keys[i]), want[i]) << "key " << samering_test::named_key_labels()[i] << " ("
                                           << r.cite << ")";
  }
}

INSTANTIATE_TEST_SUITE_P(Section10, PeerTable, ::testing::ValuesIn(kRows),
                         [](const auto& info) { return std::string(info.param.name); });

// The flavors added after the first three (libmemcached, twemproxy, nginx): their §10 rows.
// Option names follow DESIGN.md "Flavors": libmemcached `distribution` + `hash`; twemproxy
// `distribution` (default ketama) + `hash` (default fnv1a_64) + `hash_tag`; nginx none.
// The pylibmc rows are not here (pylibmc is a wrapper whose options map to libmemcached's).
const PeerRow kRowsLater[] = {
    {"U_libmemcached_ketama", "§10 Config U, row `libmemcached-ketama`", "libmemcached",
     R"({"distribution": "ketama"})", kServersU, "C C C B A C B B"},
    {"U_libmemcached_ketama_md5", "§10 Config U, row `libmemcached-ketama hash=\"md5\"`", "libmemcached",
     R"({"distribution": "ketama", "hash": "md5"})", kServersU, "C C C C C B C B"},
    {"U_libmemcached_ketama_weighted", "§10 Config U, row `libmemcached-ketama-weighted`", "libmemcached",
     R"({"distribution": "ketama-weighted"})", kServersU, "C B C C C B C A"},
    {"U_libmemcached_ketama_spy", "§10 Config U, row `libmemcached-ketama-spy`", "libmemcached",
     R"({"distribution": "ketama-spy"})", kServersU, "B A B A B B C B"},
    {"U_libmemcached_modula", "§10 Config U, row `libmemcached-modula`", "libmemcached",
     R"({"distribution": "modula"})", kServersU, "A B A A B C A B"},
    {"U_libmemcached_modula_default", "§10 Config U, row `libmemcached-modula` (modula is the default)",
     "libmemcached", R"({})", kServersU, "A B A A B C A B"},
    {"U_libmemcached_modula_crc", "§10 Config U, row `libmemcached-modula hash=\"crc\"`", "libmemcached",
     R"({"distribution": "modula", "hash": "crc"})", kServersU, "B B C C B C C C"},
    {"U_libmemcached_consistent", "§10 Config U, row `libmemcached-consistent`", "libmemcached",
     R"({"distribution": "consistent"})", kServersU, "C C C B A C B B"},
    {"U_twemproxy_ketama", "§10 Config U, row `nutcracker-ketama`", "twemproxy", R"({})", kServersU,
     "A B A A C C B A"},
    {"U_twemproxy_ketama_md5", "§10 Config U, row `nutcracker-ketama hash=\"md5\"`", "twemproxy",
     R"({"hash": "md5"})", kServersU, "C B C C C B C A"},
    {"U_twemproxy_modula", "§10 Config U, row `nutcracker-modula`", "twemproxy", R"({"distribution": "modula"})",
     kServersU, "C B C B B B A B"},
    {"U_twemproxy_modula_crc32", "§10 Config U, row `nutcracker-modula hash=\"crc32\"`", "twemproxy",
     R"({"distribution": "modula", "hash": "crc32"})", kServersU, "B B C C B C C C"},
    {"U_nginx", "§10 Config U, row `nginx-chash`", "nginx", R"({})", kServersU, "A B C B A A A A"},

    {"W_libmemcached_ketama", "§10 Config W, row `libmemcached-ketama`", "libmemcached",
     R"({"distribution": "ketama"})", kServersW, "C A C A A A B B"},
    {"W_libmemcached_ketama_md5", "§10 Config W, row `libmemcached-ketama hash=\"md5\"`", "libmemcached",
     R"({"distribution": "ketama", "hash": "md5"})", kServersW, "C B C C C B B A"},
    {"W_libmemcached_ketama_weighted", "§10 Config W, row `libmemcached-ketama-weighted`", "libmemcached",
     R"({"distribution": "ketama-weighted"})", kServersW, "C B C C C B B A"},
    {"W_libmemcached_ketama_spy", "§10 Config W, row `libmemcached-ketama-spy`", "libmemcached",
     R"({"distribution": "ketama-spy"})", kServersW, "B A B A B B B B"},
    {"W_libmemcached_modula", "§10 Config W, row `libmemcached-modula`", "libmemcached",
     R"({"distribution": "modula"})", kServersW, "A B A A B C A B"},
    {"W_libmemcached_modula_crc", "§10 Config W, row `libmemcached-modula hash=\"crc\"`", "libmemcached",
     R"({"distribution": "modula", "hash": "crc"})", kServersW, "B B C C B C C C"},
    {"W_libmemcached_consistent", "§10 Config W, row `libmemcached-consistent`", "libmemcached",
     R"({"distribution": "consistent"})", kServersW, "C A C A A A B B"},
    {"W_twemproxy_ketama", "§10 Config W, row `nutcracker-ketama`", "twemproxy", R"({})", kServersW,
     "A B B B C C B A"},
    {"W_twemproxy_ketama_md5", "§10 Config W, row `nutcracker-ketama hash=\"md5\"`", "twemproxy",
     R"({"hash": "md5"})", kServersW, "C B C C C B B A"},
    {"W_twemproxy_modula", "§10 Config W, row `nutcracker-modula`", "twemproxy", R"({"distribution": "modula"})",
     kServersW, "C B A A A C B C"},
    {"W_twemproxy_modula_crc32", "§10 Config W, row `nutcracker-modula hash=\"crc32\"`", "twemproxy",
     R"({"distribution": "modula", "hash": "crc32"})", kServersW, "C C A C C C C C"},
    {"W_nginx", "§10 Config W, row `nginx-chash`", "nginx", R"({})", kServersW, "A B C B A B A A"},

    {"P_libmemcached_ketama", "§10 Config P, row `libmemcached-ketama`", "libmemcached",
     R"({"distribution": "ketama"})", kServersP, "C A C A B C B B"},
    {"P_libmemcached_ketama_md5", "§10 Config P, row `libmemcached-ketama hash=\"md5\"`", "libmemcached",
     R"({"distribution": "ketama", "hash": "md5"})", kServersP, "C C C C C B C B"},
    {"P_libmemcached_ketama_weighted", "§10 Config P, row `libmemcached-ketama-weighted`", "libmemcached",
     R"({"distribution": "ketama-weighted"})", kServersP, "C B C C C B C A"},
    {"P_libmemcached_ketama_spy", "§10 Config P, row `libmemcached-ketama-spy`", "libmemcached",
     R"({"distribution": "ketama-spy"})", kServersP, "B C A B B B C B"},
    {"P_twemproxy_ketama", "§10 Config P, row `nutcracker-ketama`", "twemproxy", R"({})", kServersP,
     "B A A B C C B A"},
    {"P_twemproxy_ketama_md5", "§10 Config P, row `nutcracker-ketama hash=\"md5\"`", "twemproxy",
     R"({"hash": "md5"})", kServersP, "C B C C C B C A"},
    {"P_nginx", "§10 Config P, row `nginx-chash`", "nginx", R"({})", kServersP, "A B C B C C C A"},
};

INSTANTIATE_TEST_SUITE_P(Section10Later, PeerTable, ::testing::ValuesIn(kRowsLater),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(TwemproxyFlavor, HashTagKeysPickWhatNutcrackerPicked) {
  // §10 "Config P, hash-tag keys (nutcracker only)".
  const std::vector<std::string> keys = {"{user:1}:name", "{user:1}:email", "user:{42}", "{}x",
                                         "a{b}c",         "x}{y}",          "{{z}}",     "nobraces"};
  const struct {
    const char* cite;
    const char* options;
    const char* letters;
  } rows[] = {
      {"row `nutcracker-ketama hash_tag=\"{}\"`", R"({"hash_tag": "{}"})", "A A A A B B B A"},
      {"row `nutcracker-ketama`", R"({})", "A C C A C B B A"},
      {"row `nutcracker-modula hash_tag=\"{}\"`", R"({"distribution": "modula", "hash_tag": "{}"})",
       "B B B B B B B A"},
  };
  for (const auto& r : rows) {
    const Ring ring = ring_from_json(spec_json("twemproxy", r.options, kServersP));
    const auto want = row(r.letters);
    for (std::size_t i = 0; i < keys.size(); ++i)
      EXPECT_EQ(ring.pick(keys[i]), want[i]) << "§10 Config P hash-tag keys, " << r.cite << ", key " << keys[i];
  }
}

TEST(LaterFlavors, KeyLengthLimits) {
  // §3.4/§10: libmemcached refuses keys of 0 or > 250 bytes; twemproxy carries 1..250 (its memcache
  // parser); nginx never sees an empty key (it would go round-robin, §11). pick → -1.
  const Ring lm = ring_from_json(spec_json("libmemcached", R"({"distribution": "ketama"})", kServersU));
  const Ring tw = ring_from_json(spec_json("twemproxy", "{}", kServersU));
  const Ring ng = ring_from_json(spec_json("nginx", "{}", kServersU));
  for (const Ring* r : {&lm, &tw}) {
    EXPECT_EQ(r->pick(""), -1) << r->flavor();
    EXPECT_EQ(r->pick(std::string(251, 'k')), -1) << r->flavor();
    EXPECT_GE(r->pick(std::string(250, 'k')), 0) << r->flavor();
    EXPECT_GE(r->pick("a"), 0) << r->flavor();
  }
  EXPECT_EQ(ng.pick(""), -1);
  EXPECT_GE(ng.pick("a"), 0);
  EXPECT_EQ(ng.min_key_length(), 1u);
}

TEST(GomemcacheFlavor, OnlyTheFirst256BytesAreHashed) {
  // §10: "gomemcache answers the same for L300 and L300b (it hashes only the first 256 bytes)";
  // §5: `n = copy(buf, key)` into a 256-byte buffer.
  for (auto servers : {kServersU, kServersW}) {
    const Ring ring = ring_from_json(spec_json("gomemcache", R"({"repeat_by_weight": true})", servers));
    EXPECT_EQ(ring.pick(samering_test::key_l300()), ring.pick(samering_test::key_l300b()));
    // ... and all of those 256: keys that differ only in byte 255 must not all pick alike.
    std::mt19937 rng(256);
    int differ = 0;
    for (int i = 0; i < 60; ++i) {
      std::string p(255, '\0');
      for (auto& c : p) c = static_cast<char>(rng());
      differ += ring.pick(p + 'a') != ring.pick(p + 'b');
    }
    EXPECT_GT(differ, 0) << "byte 255 (the 256th) is not hashed";
    for (int i = 0; i < 300; ++i) {
      std::string key(256 + rng() % 300, '\0');
      for (auto& c : key) c = static_cast<char>(rng());
      ASSERT_EQ(ring.pick(key), ring.pick(std::string_view(key).substr(0, 256))) << samering_test::hex(key);
    }
  }
}

TEST(CmfFlavor, HashedNamespaceIsCrcOfNamespaceThenKey) {
  // §1.1: key hash = crc32_add(crc32(namespace), key) = crc32(namespace ‖ key) with hash_namespace.
  for (const char* base : {R"("ketama_points": 150)", R"("ketama_points": 0)"}) {
    const Ring plain = ring_from_json(spec_json("cmf", std::string("{") + base + "}", kServersW));
    const Ring hashed = ring_from_json(
        spec_json("cmf", std::string("{") + base + R"(, "namespace": "app:", "hash_namespace": true})", kServersW));
    std::mt19937 rng(11);
    for (int i = 0; i < 2000; ++i) {
      std::string key(1 + rng() % 40, '\0');
      for (auto& c : key) c = static_cast<char>(rng());
      ASSERT_EQ(hashed.pick(key), plain.pick("app:" + key)) << base << " key " << samering_test::hex(key);
    }
  }
}

// §1.3: "With integer weights this equals Cache::Memcached 1.30 (the two live peers agree bit for
// bit)" — checked there on random clusters of 2–41 servers, weights 1–5.
TEST(CmfFlavor, CompatModeEqualsCacheMemcachedForIntegerWeights) {
  std::mt19937 rng(1303);
  for (int cluster = 0; cluster < 25; ++cluster) {
    const int n = 2 + static_cast<int>(rng() % 40);
    std::string servers = "[";
    for (int i = 0; i < n; ++i) {
      servers += (i ? ", " : "") + std::string(R"({"host": "10.0.0.)") + std::to_string(i) +
                 R"(", "port": 11211, "weight": )" + std::to_string(1 + rng() % 5) + "}";
    }
    servers += "]";
    const Ring cmf = ring_from_json(spec_json("cmf", "{}", servers));
    const Ring cm = ring_from_json(spec_json("cache-memcached", "{}", servers));
    for (int i = 0; i < 1500; ++i) {
      std::string key(1 + rng() % 60, '\0');
      for (auto& c : key) c = static_cast<char>(rng());
      ASSERT_EQ(cmf.pick(key), cm.pick(key)) << servers << " key " << samering_test::hex(key);
    }
  }
}

// ---- documented rules --------------------------------------------------------------------------

TEST(Ring, SingleServerIsAlwaysIndexZero) {
  // §12: "Single server: every peer returns it without hashing".
  const char* specs[] = {
      R"({"flavor": "cmf", "options": {"ketama_points": 150}, "servers": [{"host": "127.0.2.1", "weight": 2.5}]})",
      R"({"flavor": "cmf", "options": {"ketama_points": 1}, "servers": [{"host": "a", "weight": 0.1}]})",
      R"({"flavor": "cmf", "servers": [{"host": "a", "port": 21001}]})",
      R"({"flavor": "cmf", "servers": [{"host": "a", "weight": 0.1}]})",
      R"({"flavor": "cache-memcached", "servers": [{"host": "a", "weight": 3}]})",
      R"({"flavor": "gomemcache", "servers": [{"host": "a"}]})",
      R"({"flavor": "gomemcache", "options": {"repeat_by_weight": true}, "servers": [{"host": "a", "weight": 4}]})",
  };
  std::mt19937 rng(1);
  for (const char* spec : specs) {
    const Ring ring = ring_from_json(spec);
    ASSERT_EQ(ring.size(), 1u);
    EXPECT_EQ(ring.pick(""), 0) << spec;
    EXPECT_EQ(ring.pick(samering_test::key_l300()), 0) << spec;
    for (int i = 0; i < 500; ++i) {
      std::string key(rng() % 400, '\0');
      for (auto& c : key) c = static_cast<char>(rng());
      ASSERT_EQ(ring.pick(key), 0) << spec;
    }
    EXPECT_DOUBLE_EQ(ring.shares().at(0), 1.0) << spec;
  }
}

TEST(Ring, AddressIsHostAndPortAsWritten) {
  const Ring ring = ring_from_json(R"({"flavor": "cmf", "options": {"ketama_points": 10}, "servers": [
      {"host": "Cache-Node-5.Example.NET", "port": 21211},
      {"host": "mc1.cache.internal", "port": "011211"},
      {"host": "m6"},
      {"host": "127.0.3.20", "port": 40000, "weight": 2.5}]})");
  ASSERT_EQ(ring.size(), 4u);
  EXPECT_EQ(ring.server(0).address, "Cache-Node-5.Example.NET:21211");
  EXPECT_EQ(ring.server(0).host, "Cache-Node-5.Example.NET");
  EXPECT_EQ(ring.server(0).port, "21211");
  EXPECT_EQ(ring.server(1).address, "mc1.cache.internal:011211");
  EXPECT_EQ(ring.server(1).port, "011211");
  EXPECT_EQ(ring.server(2).address, "m6:11211");  // default port
  EXPECT_EQ(ring.server(3).address, "127.0.3.20:40000");
  EXPECT_EQ(ring.server(3).weight, 2.5);
  EXPECT_EQ(ring.server(3).name, "");
  // NUL-terminated in the image (C callers use it without copying: samering/ring.hpp).
  EXPECT_EQ(ring.server(1).address.data()[ring.server(1).address.size()], '\0');
  EXPECT_THROW(ring.server(4), std::out_of_range);
  EXPECT_THROW(ring.server(static_cast<std::size_t>(-1)), std::out_of_range);
}

TEST(Ring, PointsFollowThePeersFormulas) {
  // §1.2: count = (int)(P * weight + 0.5).
  const Ring ketama = ring_from_json(R"({"flavor": "cmf", "options": {"ketama_points": 7}, "servers": [
      {"host": "a", "weight": 1}, {"host": "b", "weight": 0.5}, {"host": "c", "weight": 1.25},
      {"host": "d", "weight": 2.7}, {"host": "e", "weight": 0.07}]})");
  const double weights[] = {1, 0.5, 1.25, 2.7, 0.07};
  for (std::size_t i = 0; i < 5; ++i)
    EXPECT_EQ(ketama.server(i).points, static_cast<std::uint32_t>(static_cast<int>(7 * weights[i] + 0.5))) << i;
  EXPECT_EQ(ketama.server(3).points, 19u);  // 7 × 2.7 + 0.5 = 19.4
  EXPECT_EQ(ketama.server(4).points, 0u);   // 0.99 → 0
  // §2: Cache::Memcached lists a server int(w) times; gomemcache repeat_by_weight: w times.
  const Ring cm = ring_from_json(spec_json("cache-memcached", "{}", kServersW));
  const Ring gm = ring_from_json(spec_json("gomemcache", R"({"repeat_by_weight": true})", kServersW));
  for (const Ring* r : {&cm, &gm}) {
    EXPECT_EQ(r->server(0).points, 1u);
    EXPECT_EQ(r->server(1).points, 2u);
    EXPECT_EQ(r->server(2).points, 1u);
  }
}

TEST(Ring, ServerWithoutPointsIsNeverPicked) {
  // §1.2: "A server whose count rounds to 0 (tiny weight) gets no points and is never chosen when
  // ≥ 2 servers exist". (int)(1 × 0.3 + 0.5) = 0.
  const Ring ring = ring_from_json(R"({"flavor": "cmf", "options": {"ketama_points": 1}, "servers": [
      {"host": "127.0.11.1", "port": 23001}, {"host": "127.0.11.2", "port": 23002, "weight": 0.3},
      {"host": "127.0.11.3", "port": 23003, "weight": 2}]})");
  EXPECT_EQ(ring.server(1).points, 0u);
  std::mt19937 rng(5);
  for (int i = 0; i < 5000; ++i) {
    std::string key(1 + rng() % 30, '\0');
    for (auto& c : key) c = static_cast<char>(rng());
    ASSERT_NE(ring.pick(key), 1);
  }
  EXPECT_EQ(ring.shares()[1], 0.0);
}

std::vector<std::string> all_specs() {
  std::vector<std::string> specs;
  for (const auto& r : kRows) specs.push_back(spec_json(r.flavor, r.options, r.servers));
  specs.push_back(R"({"flavor": "cmf", "options": {"ketama_points": 7}, "servers": [
      {"host": "a", "weight": 1}, {"host": "b", "weight": 0.5}, {"host": "c", "weight": 1.25},
      {"host": "d", "weight": 2.7}, {"host": "e", "weight": 0.07}]})");
  specs.push_back(R"({"flavor": "cmf", "servers": [
      {"host": "a", "weight": 0.5}, {"host": "b", "weight": 1.25}, {"host": "c", "weight": 2.7}, {"host": "d", "weight": 0.2}]})");
  return specs;
}

TEST(Ring, SharesSumToOne) {
  std::vector<std::string> specs = all_specs();
  for (const auto& r : kRowsLater) specs.push_back(spec_json(r.flavor, r.options, r.servers));
  specs.push_back(spec_json("twemproxy", R"({"distribution": "modula", "hash_tag": "{}"})", kServersW));
  for (const auto& spec : specs) {
    const Ring ring = ring_from_json(spec);
    const auto shares = ring.shares();
    ASSERT_EQ(shares.size(), ring.size()) << spec;
    for (double s : shares) {
      EXPECT_GE(s, 0.0) << spec;
      EXPECT_LE(s, 1.0) << spec;
    }
    EXPECT_NEAR(std::accumulate(shares.begin(), shares.end(), 0.0), 1.0, 1e-9) << spec;
  }
}

TEST(Ring, ModuloSharesAreExact) {
  // §2: 15-bit hash h ∈ [0, 32768), bucket h % 4 over [A, B, B, C] (config W): 8192 values each.
  const auto cm = ring_from_json(spec_json("cache-memcached", "{}", kServersW)).shares();
  EXPECT_EQ(cm, (std::vector<double>{0.25, 0.5, 0.25}));
  // Config U: 32768 = 3 × 10922 + 2, so buckets 0 and 1 get 10923 values, bucket 2 gets 10922.
  const auto u = ring_from_json(spec_json("cache-memcached", "{}", kServersU)).shares();
  EXPECT_DOUBLE_EQ(u[0], 10923.0 / 32768);
  EXPECT_DOUBLE_EQ(u[1], 10923.0 / 32768);
  EXPECT_DOUBLE_EQ(u[2], 10922.0 / 32768);
  // §1.3: CMF compat with integer weights is Cache::Memcached, so the same shares.
  EXPECT_EQ(ring_from_json(spec_json("cmf", "{}", kServersW)).shares(), cm);
}

std::vector<std::string> random_keys(std::size_t n, std::uint32_t seed, std::size_t max_len = 300) {
  std::mt19937 rng(seed);
  std::vector<std::string> keys = table_keys();
  keys.push_back("");
  while (keys.size() < n) {
    std::string key(rng() % max_len, '\0');
    for (auto& c : key) c = static_cast<char>(rng());
    keys.push_back(std::move(key));
  }
  return keys;
}

TEST(Ring, PickManyEqualsPick) {
  const auto keys = random_keys(1000, 99);
  const std::vector<std::string_view> views(keys.begin(), keys.end());
  std::vector<std::string> specs = all_specs();
  for (const auto& r : kRowsLater) specs.push_back(spec_json(r.flavor, r.options, r.servers));
  for (const auto& spec : specs) {
    const Ring ring = ring_from_json(spec);
    std::vector<std::int32_t> out(views.size() + 1, -99);
    ring.pick_many(views.data(), views.size(), out.data());
    for (std::size_t i = 0; i < views.size(); ++i) {
      ASSERT_EQ(out[i], ring.pick(views[i])) << spec << " key " << i;
      const bool refused = views[i].size() < ring.min_key_length() ||
                           (ring.max_key_length() && views[i].size() > ring.max_key_length());
      if (refused) {
        ASSERT_EQ(out[i], -1) << spec << " key " << i;
      } else {
        ASSERT_GE(out[i], 0) << spec << " key " << i;
        ASSERT_LT(static_cast<std::size_t>(out[i]), ring.size());
      }
    }
    EXPECT_EQ(out.back(), -99) << "pick_many wrote past n";
    ring.pick_many(views.data(), 0, nullptr);  // n = 0 touches nothing
  }
}

TEST(Ring, ConcurrentPicksAgree) {
  // ring.hpp: "safe to use from many threads at once". Each thread picks every key and compares
  // with the single-threaded answers (ASan/UBSan builds watch the memory).
  const Ring ring = ring_from_json(spec_json("cmf", R"({"ketama_points": 150})", kServersW));
  const auto keys = random_keys(3000, 5);
  std::vector<std::int32_t> serial;
  for (const auto& k : keys) serial.push_back(ring.pick(k));
  std::vector<int> bad(8, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      const Ring copy = ring;  // copies share the bytes
      for (int round = 0; round < 5; ++round)
        for (std::size_t i = 0; i < keys.size(); ++i)
          if ((t % 2 ? copy : ring).pick(keys[i]) != serial[i]) ++bad[static_cast<std::size_t>(t)];
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(std::accumulate(bad.begin(), bad.end(), 0), 0);
}

TEST(Ring, PicksInAForkedChild) {
  // ring.hpp: safe "in forked children" (prefork servers: DESIGN.md "Fork safety").
  const Ring ring = ring_from_json(spec_json("cmf", R"({"ketama_points": 150})", kServersU));
  const auto keys = random_keys(2000, 6);
  std::vector<std::int32_t> parent;
  for (const auto& k : keys) parent.push_back(ring.pick(k));
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int diff = 0;
    for (std::size_t i = 0; i < keys.size(); ++i) diff += ring.pick(keys[i]) != parent[i];
    // §10 Config U, row `cmf-ketama`: foo A.
    _exit(diff == 0 && ring.pick("foo") == 0 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(Ring, KeysOfAnyLengthAreAccepted) {
  // docs/spec-format.md: "keys are bytes (any length for these three flavors)".
  for (const auto& spec : all_specs()) {
    const Ring ring = ring_from_json(spec);
    EXPECT_EQ(ring.min_key_length(), 0u);
    EXPECT_EQ(ring.max_key_length(), 0u);
    EXPECT_GE(ring.pick(std::string(100000, 'x')), 0);
    EXPECT_GE(ring.pick(nullptr, 0), 0);
  }
}

TEST(Ring, CopiesShareTheirBytes) {
  const Ring a = ring_from_json(spec_json("cmf", R"({"ketama_points": 150})", kServersU));
  const Ring b = a;  // NOLINT: the copy is the point
  Ring c = ring_from_json(spec_json("gomemcache", "{}", kServersU));
  c = b;
  EXPECT_EQ(a.image().data(), b.image().data());
  EXPECT_EQ(a.image().data(), c.image().data());
  EXPECT_EQ(a.image().size(), c.image().size());
  EXPECT_EQ(a.server(0).address.data(), c.server(0).address.data());
  EXPECT_EQ(c.flavor(), "cmf");
}

TEST(Ring, FlavorNamesAreStable) {
  const auto names = samering::flavor_names();
  // The first three, in this order (docs/spec-format.md); later flavors come after them.
  ASSERT_GE(names.size(), 3u);
  EXPECT_EQ(std::vector<std::string_view>(names.begin(), names.begin() + 3),
            (std::vector<std::string_view>{"cmf", "cache-memcached", "gomemcache"}));
  EXPECT_EQ(std::set<std::string_view>(names.begin(), names.end()).size(), names.size()) << "duplicate name";
  EXPECT_EQ(samering::flavor_names(), names) << "not stable between calls";
  // Every listed flavor is buildable by that name.
  for (auto name : names) {
    EXPECT_NO_THROW(ring_from_json(R"({"flavor": ")" + std::string(name) + R"(", "servers": [{"host": "h"}]})"))
        << name;
  }
}

TEST(Ring, RingFromFileNamesThePathOnError) {
  samering_test::TempDir dir;
  const auto good = dir.write("good.json", spec_json("cmf", R"({"ketama_points": 150})", kServersU));
  const Ring ring = samering::ring_from_file(good.string());
  EXPECT_EQ(ring.pick("foo"), 0);  // §10 Config U, row `cmf-ketama`, key foo: A
  EXPECT_THROW(samering::ring_from_file((dir.path() / "missing.json").string()), samering::SpecError);
}

}  // namespace
