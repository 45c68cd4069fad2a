// samering convert (samering/convert.hpp, docs/convert.md): a peer's own configuration → a spec.
//
// Every accepted example checks the spec's fields, then that the built ring picks what the peer
// picks. The expected picks never come from samering: they are the real peers' answers in
// fixtures/vectors (CMF, gomemcache), or the real libmemcached 1.1.4 linked into this test and asked
// with memcached_server_by_key (libmemcached; and twemproxy through the equivalence with
// libmemcached's weighted ketama / modula that algorithms.md §4.3 records and the live peers
// confirmed). Malformed inputs check the message and its line and column.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libmemcached/memcached.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "samering/convert.hpp"
#include "samering/error.hpp"
#include "samering/ring.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using samering::RingSpec;
using samering::SpecError;

const fs::path kInputs = fs::path(__FILE__).parent_path() / "convert_inputs";

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + p.string());
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
std::string input(const std::string& name) { return slurp(kInputs / name); }

// The message of the SpecError that `f` throws ("" and a test failure when it throws none).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const SpecError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no SpecError thrown";
  return "";
}

// Keys of 1..250 bytes: the §10 named keys, then deterministic ones (splitmix64) mixing printable
// text, arbitrary bytes and UTF-8.
std::vector<std::string> keys(std::size_t n, std::uint64_t seed) {
  std::vector<std::string> out = samering_test::named_keys();
  std::uint64_t s = seed;
  const auto next = [&] {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  while (out.size() < n) {
    const std::uint64_t r = next();
    const std::size_t len = r % 4 == 0 ? 1 + next() % 250 : 1 + next() % 40;
    std::string k;
    for (std::size_t i = 0; i < len; ++i) {
      const std::uint64_t b = next();
      k += r % 3 == 0 ? static_cast<char>(1 + b % 255) : static_cast<char>('!' + b % 94);
    }
    out.push_back(std::move(k));
  }
  return out;
}

std::string address_of(const samering::Ring& ring, std::int32_t i) {
  if (i < 0) return "(refused)";
  const auto s = ring.server(static_cast<std::size_t>(i));
  return std::string(s.host) + ":" + std::string(s.port);
}

// ---- the peers' answers --------------------------------------------------------------------------

struct Vector {
  nlohmann::json spec;
  std::vector<std::pair<std::string, int>> cases;
};

Vector load_vector(const std::string& name) {
  const auto doc = nlohmann::json::parse(slurp(fs::path(SAMERING_VECTORS_DIR) / (name + ".json")));
  Vector v;
  v.spec = doc.at("spec");
  for (const auto& c : doc.at("cases")) v.cases.emplace_back(samering_test::unhex(c.at(0).get<std::string>()), c.at(1).get<int>());
  return v;
}

// Every case of the vector file picks the peer's server with the converted spec.
void expect_vector_picks(const RingSpec& spec, const std::string& vector_name) {
  const Vector v = load_vector(vector_name);
  const samering::Ring ring = samering::ring_from_spec(spec);
  ASSERT_EQ(ring.size(), v.spec.at("servers").size());
  std::size_t wrong = 0;
  for (const auto& [key, expected] : v.cases)
    if (ring.pick(key) != expected && ++wrong <= 5)
      ADD_FAILURE() << vector_name << ": key " << samering_test::hex(key) << " picks " << ring.pick(key)
                    << ", the peer picked " << expected;
  EXPECT_EQ(wrong, 0u) << vector_name;
  EXPECT_GT(v.cases.size(), 100u);
}

// The servers of the converted spec equal the vector's spec servers (host, port, weight).
void expect_same_servers(const RingSpec& spec, const std::string& vector_name) {
  const auto servers = load_vector(vector_name).spec.at("servers");
  ASSERT_EQ(spec.servers.size(), servers.size());
  for (std::size_t i = 0; i < servers.size(); ++i) {
    EXPECT_EQ(spec.servers[i].host, servers[i].at("host").get<std::string>()) << i;
    EXPECT_EQ(spec.servers[i].port_number, servers[i].value("port", 11211)) << i;
    EXPECT_EQ(spec.servers[i].weight, servers[i].value("weight", 1.0)) << i;
  }
}

// libmemcached 1.1.4 itself.
struct Memc {
  memcached_st* m;
  explicit Memc(memcached_st* p) : m(p) {}
  ~Memc() { memcached_free(m); }
  Memc(const Memc&) = delete;
  Memc& operator=(const Memc&) = delete;
};

std::string libmemcached_pick(memcached_st* m, const std::string& key) {
  memcached_return_t rc;
  const memcached_instance_st* s = memcached_server_by_key(m, key.data(), key.size(), &rc);
  if (!s) return "(refused)";
  return std::string(memcached_server_name(s)) + ":" + std::to_string(memcached_server_port(s));
}

// The converted spec picks, for every key, the host:port that `m` picks. `label` maps a libmemcached
// server ("host:port") to the spec's "host:port" when they differ (twemproxy's named servers).
// Keys for which `skip` is true are left out.
void expect_libmemcached_picks(const RingSpec& spec, memcached_st* m, std::size_t n_keys, std::uint64_t seed,
                               const std::map<std::string, std::string>& label = {},
                               bool (*skip)(const std::string&) = nullptr) {
  const samering::Ring ring = samering::ring_from_spec(spec);
  std::size_t wrong = 0;
  for (const auto& key : keys(n_keys, seed)) {
    if (skip && skip(key)) continue;
    std::string expected = libmemcached_pick(m, key);
    if (const auto it = label.find(expected); it != label.end()) expected = it->second;
    const std::string got = address_of(ring, ring.pick(key));
    if (got != expected && ++wrong <= 5)
      ADD_FAILURE() << "key " << samering_test::hex(key) << ": samering " << got << ", libmemcached " << expected;
  }
  EXPECT_EQ(wrong, 0u) << samering::to_json(spec);
}

// ---- libmemcached ----------------------------------------------------------------------------------

TEST(ConvertLibmemcached, ConfigStringWithWeightsBeforeConsistentIsUnweighted) {
  // The weight 2 is added while the distribution is still modula; --DISTRIBUTION=consistent then
  // clears the weighted flag: the unweighted ring, hence servers_first.
  const std::string text = input("libmemcached-servers-first.conf");
  const RingSpec spec = samering::convert_libmemcached(text);
  EXPECT_EQ(spec.flavor, "libmemcached");
  EXPECT_EQ(std::get<std::string>(spec.options.at("distribution")), "consistent");
  EXPECT_EQ(std::get<std::string>(spec.options.at("hash")), "md5");
  EXPECT_EQ(std::get<bool>(spec.options.at("servers_first")), true);
  ASSERT_EQ(spec.servers.size(), 3u);
  EXPECT_EQ(spec.servers[0].address(), "cache-a.example.com:11211");
  EXPECT_EQ(spec.servers[0].weight, 2);
  EXPECT_EQ(spec.servers[1].address(), "cache-b.example.com:11212");
  EXPECT_EQ(spec.servers[2].address(), "10.0.0.3:11211");
  Memc memc(memcached(text.data(), text.size()));
  ASSERT_NE(memc.m, nullptr);
  EXPECT_EQ(memcached_behavior_get(memc.m, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED), 0u);
  expect_libmemcached_picks(spec, memc.m, 3000, 1);
}

TEST(ConvertLibmemcached, ConfigStringWithConsistentFirstIsWeighted) {
  const std::string text = input("libmemcached-weighted.conf");
  const RingSpec spec = samering::convert_libmemcached(text);
  EXPECT_EQ(std::get<std::string>(spec.options.at("distribution")), "consistent");
  EXPECT_EQ(spec.options.count("hash"), 0u);
  EXPECT_EQ(spec.options.count("servers_first"), 0u);
  EXPECT_EQ(spec.servers.at(0).weight, 2);
  Memc memc(memcached(text.data(), text.size()));
  ASSERT_NE(memc.m, nullptr);
  EXPECT_EQ(memcached_behavior_get(memc.m, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED), 1u);
  expect_libmemcached_picks(spec, memc.m, 3000, 2);
}

TEST(ConvertLibmemcached, ServerListIsWhatServerPushGivesOnANewHandle) {
  const std::string text = input("libmemcached-server-list.txt");
  const RingSpec spec = samering::convert_libmemcached(text);
  EXPECT_EQ(std::get<std::string>(spec.options.at("distribution")), "modula");
  ASSERT_EQ(spec.servers.size(), 4u);
  EXPECT_EQ(spec.servers[1].address(), "cache-b.example.com:11212");
  EXPECT_EQ(spec.servers[1].weight, 3);
  EXPECT_EQ(spec.servers[2].address(), "10.0.0.3:11211");
  EXPECT_EQ(spec.servers[3].host, "[::1]");  // memcached_servers_parse keeps the brackets
  EXPECT_EQ(spec.servers[3].weight, 2);
  Memc memc(memcached_create(nullptr));
  memcached_server_list_st list = memcached_servers_parse(text.c_str());
  ASSERT_NE(list, nullptr);
  ASSERT_EQ(memcached_server_push(memc.m, list), MEMCACHED_SUCCESS);
  memcached_server_list_free(list);
  expect_libmemcached_picks(spec, memc.m, 3000, 3);
}

TEST(ConvertLibmemcached, SortHostsListsTheServersInLibmemcachedsOrder) {
  const std::string text = "--SERVER=zeta.example:11211 --SERVER=alpha.example:11300 --SERVER=alpha.example:11299/?3 "
                           "--DISTRIBUTION=consistent --SORT-HOSTS --HASH=crc";
  const RingSpec spec = samering::convert_libmemcached(text);
  ASSERT_EQ(spec.servers.size(), 3u);
  EXPECT_EQ(spec.servers[0].address(), "alpha.example:11299");
  EXPECT_EQ(spec.servers[1].address(), "alpha.example:11300");
  EXPECT_EQ(spec.servers[2].address(), "zeta.example:11211");
  Memc memc(memcached(text.data(), text.size()));
  ASSERT_NE(memc.m, nullptr);
  expect_libmemcached_picks(spec, memc.m, 2000, 4);
}

// Random configuration strings (order of servers and --DISTRIBUTION, weights, ports, hashes,
// --SORT-HOSTS): the converted spec picks what libmemcached built from the same string picks.
TEST(ConvertLibmemcached, RandomConfigStringsPickAsLibmemcached) {
  static const char* hosts[] = {"cache-a.example.com", "10.0.0.1", "mc3.internal", "node_4.dc2", "ABC.example",
                                "10.1.2.3", "cache9", "memcache-04.prod.example.com"};
  static const char* hashes[] = {"md5", "crc", "fnv1_64", "fnv1a_64", "fnv1_32", "fnv1a_32", "murmur", "jenkins"};
  std::uint64_t s = 42;
  const auto rnd = [&](std::uint64_t n) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (s >> 33) % n;
  };
  for (int round = 0; round < 150; ++round) {
    std::vector<std::string> parts;
    const std::size_t n = 1 + rnd(10);
    for (std::size_t i = 0; i < n; ++i) {
      std::string p = std::string("--SERVER=") + hosts[i % 8] + (i >= 8 ? "-x" : "");
      const auto port_kind = rnd(3);
      if (port_kind == 1) p += ":11211";
      if (port_kind == 2) p += ":" + std::to_string(1 + rnd(65535));
      if (rnd(2)) p += "/?" + std::to_string(rnd(5));
      parts.push_back(p);
    }
    const auto dist = rnd(3);  // none, modula, consistent
    if (dist) parts.insert(parts.begin() + static_cast<long>(rnd(parts.size() + 1)),
                           dist == 1 ? "--DISTRIBUTION=modula" : "--DISTRIBUTION=consistent");
    if (rnd(2)) parts.push_back(std::string("--HASH=") + hashes[rnd(8)]);
    if (rnd(4) == 0) parts.push_back("--SORT-HOSTS");
    std::string text;
    for (const auto& p : parts) text += (text.empty() ? "" : " ") + p;
    SCOPED_TRACE(text);
    const RingSpec spec = samering::convert_libmemcached(text);
    Memc memc(memcached(text.data(), text.size()));
    ASSERT_NE(memc.m, nullptr);
    expect_libmemcached_picks(spec, memc.m, 200, static_cast<std::uint64_t>(round));
  }
}

TEST(ConvertLibmemcached, RandomServerListsPickAsLibmemcached) {
  std::uint64_t s = 7;
  const auto rnd = [&](std::uint64_t n) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (s >> 33) % n;
  };
  for (int round = 0; round < 100; ++round) {
    std::string text;
    const std::size_t n = 1 + rnd(12);
    for (std::size_t i = 0; i < n; ++i) {
      if (i) text += rnd(2) ? ", " : ",";
      text += "host-" + std::to_string(i) + (rnd(2) ? ".example.com" : "");
      const auto form = rnd(4);
      if (form >= 1) text += ":" + std::to_string(rnd(3) ? 11211 : 1 + rnd(65535));
      if (form == 2) text += ":" + std::to_string(rnd(5));
      if (form == 3) text += " " + std::to_string(rnd(5));
    }
    SCOPED_TRACE(text);
    const RingSpec spec = samering::convert_libmemcached(text);
    Memc memc(memcached_create(nullptr));
    memcached_server_list_st list = memcached_servers_parse(text.c_str());
    ASSERT_NE(list, nullptr);
    ASSERT_EQ(memcached_server_push(memc.m, list), MEMCACHED_SUCCESS);
    memcached_server_list_free(list);
    expect_libmemcached_picks(spec, memc.m, 200, static_cast<std::uint64_t>(round));
  }
}

TEST(ConvertLibmemcached, DocsExampleListsAServerTwice) {
  // libmemcached's own documentation example names host10.example.com twice.
  const auto msg = error_of([] { samering::convert_libmemcached(input("libmemcached-docs-example.conf")); });
  EXPECT_THAT(msg, StartsWith("line 1, column 66: \"host10.example.com\" is the same server as"));
  EXPECT_THAT(msg, HasSubstr("(line 1, column 10)"));
}

TEST(ConvertLibmemcached, MalformedAndUnconvertibleConfigStrings) {
  const auto msg = [](const std::string& text) { return error_of([&] { samering::convert_libmemcached(text); }); };
  // libmemcached's grammar: host names have 3 or more characters; one space between options.
  EXPECT_THAT(msg("--SERVER=m6:11211"), StartsWith("line 1, column 10: expected a host name of 3 or more"));
  EXPECT_THAT(msg("--SERVER=abc:11211  --SERVER=bcd"), StartsWith("line 1, column 20: two spaces in a row"));
  EXPECT_THAT(msg("--SERVER=abc:11211 "), StartsWith("line 1, column 19: a space at the end"));
  EXPECT_THAT(msg("--SERVER=abc\n--SERVER=bcd"), StartsWith("line 2, column 1: expected a space before the next option"));
  EXPECT_THAT(msg("--SERVER=abc --FOO=1"), StartsWith("line 1, column 14: unknown option \"--FOO\""));
  EXPECT_THAT(msg("--SERVER=abc --HASH=md5 --HASH=crc"), StartsWith("line 1, column 25: --HASH can only be set once"));
  EXPECT_THAT(msg("--SERVER=abc --HASH=hsieh"), StartsWith("line 1, column 21: hsieh is not built into"));
  EXPECT_THAT(msg("--SERVER=abc:99999"), StartsWith("line 1, column 13: the port 99999 is more than 65535"));
  EXPECT_THAT(msg("--SERVER=abc --DISTRIBUTION=random"), StartsWith("line 1, column 14: --DISTRIBUTION=random"));
  EXPECT_THAT(msg("--SERVER=abc --SOCKET=\"/tmp/mc.sock\""), StartsWith("line 1, column 14: --SOCKET= is a unix socket"));
  EXPECT_THAT(msg("--SERVER=abc --NAMESPACE=app --HASH-WITH-NAMESPACE"),
              StartsWith("line 1, column 30: --HASH-WITH-NAMESPACE with --NAMESPACE="));
  EXPECT_THAT(msg("--SERVER=abc RESET"), StartsWith("line 1, column 14: RESET"));
  EXPECT_THAT(msg("--DISTRIBUTION=consistent"), StartsWith("line 1, column 26: no --SERVER= option"));
  EXPECT_THAT(msg("--SERVER=abc --BINARY-PROTOCOL --VERIFY-KEY"), StartsWith("line 1, column 32: libmemcached refuses --VERIFY-KEY"));
  // Accepted by libmemcached, and so here: a comment line, END, a line break before a space.
  EXPECT_EQ(samering::convert_libmemcached("#servers\n --SERVER=abc END --SERVER=!!!").servers.size(), 1u);
  EXPECT_EQ(samering::convert_libmemcached("--SERVER=abc\n --SERVER=bcd:0/?0").servers.at(1).address(), "bcd:11211");
}

TEST(ConvertLibmemcached, EveryRefusedStringIsRefusedByLibmemcachedOrUnexpressible) {
  // The syntax errors above are libmemcached's own: it refuses the same strings.
  for (const char* text : {"--SERVER=m6:11211", "--SERVER=abc:11211  --SERVER=bcd", "--SERVER=abc:11211 ",
                           "--SERVER=abc\n--SERVER=bcd", "--SERVER=abc --FOO=1", "--SERVER=abc --HASH=md5 --HASH=crc",
                           "--SERVER=abc --HASH=hsieh", "--SERVER=abc --BINARY-PROTOCOL --VERIFY-KEY"}) {
    char err[512];
    EXPECT_NE(libmemcached_check_configuration(text, std::strlen(text), err, sizeof err), MEMCACHED_SUCCESS) << text;
  }
}

TEST(ConvertLibmemcached, MalformedServerLists) {
  const auto msg = [](const std::string& text) { return error_of([&] { samering::convert_libmemcached(text); }); };
  EXPECT_THAT(msg("a:11211,,b:11211"), StartsWith("line 1, column 9: an empty server"));
  EXPECT_THAT(msg("a:11211,  b:11211"), StartsWith("line 1, column 10: the host \" b\" contains a space"));
  EXPECT_THAT(msg("a:11211:2 ,b"), StartsWith("line 1, column 3: expected port, port:weight"));
  EXPECT_THAT(msg("a:x11211"), StartsWith("line 1, column 3: expected port"));
  EXPECT_THAT(msg("a:70000"), StartsWith("line 1, column 3: the port 70000 is more than 65535"));
  EXPECT_THAT(msg("a:11211, /var/run/memcached.sock"), StartsWith("line 1, column 10: \"/var/run/memcached.sock\" is a unix socket"));
  EXPECT_THAT(msg("a:11211, a:11211"), StartsWith("line 1, column 10: \"a:11211\" is the same server as \"a:11211\""));
}

// ---- twemproxy --------------------------------------------------------------------------------------

// libmemcached with nutcracker's ketama: the weighted ring (KETAMA_WEIGHTED) and the pool's key hash,
// the servers added in nutcracker's order (sorted by ring name) with the ring name as host.
std::unique_ptr<Memc> nutcracker_ketama(memcached_hash_t hash,
                                        const std::vector<std::tuple<const char*, in_port_t, std::uint32_t>>& sorted) {
  auto memc = std::make_unique<Memc>(memcached_create(nullptr));
  EXPECT_EQ(memcached_behavior_set(memc->m, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1), MEMCACHED_SUCCESS);
  EXPECT_EQ(memcached_behavior_set(memc->m, MEMCACHED_BEHAVIOR_HASH, hash), MEMCACHED_SUCCESS);
  for (const auto& [host, port, weight] : sorted)
    EXPECT_EQ(memcached_server_add_with_weight(memc->m, host, port, weight), MEMCACHED_SUCCESS);
  return memc;
}

TEST(ConvertTwemproxy, MemcachePoolKetamaPicksAsNutcracker) {
  const RingSpec spec = samering::convert_twemproxy(input("twemproxy-memcache.yml"), "web");
  EXPECT_EQ(spec.flavor, "twemproxy");
  EXPECT_EQ(std::get<std::string>(spec.options.at("distribution")), "ketama");
  EXPECT_EQ(std::get<std::string>(spec.options.at("hash")), "md5");
  EXPECT_EQ(spec.options.count("hash_tag"), 0u);
  ASSERT_EQ(spec.servers.size(), 4u);  // in the file's order; the flavor sorts as nutcracker does
  EXPECT_EQ(spec.servers[0].address(), "10.0.1.12:11211");
  EXPECT_EQ(spec.servers[0].weight, 2);
  EXPECT_EQ(spec.servers[2].address(), "cache-c.internal:11212");
  EXPECT_FALSE(spec.servers[2].name.has_value());
  EXPECT_EQ(spec.servers[3].name, "mc-legacy");
  // nc_conf.c conf_validate_server: sorted by ring name, shorter first, then bytewise: 10.0.1.11,
  // 10.0.1.12, mc-legacy (9 bytes each), cache-c.internal:11212. Port 11211 is left out of the name.
  auto memc = nutcracker_ketama(MEMCACHED_HASH_MD5, {{"10.0.1.11", 11211, 1},
                                                     {"10.0.1.12", 11211, 2},
                                                     {"mc-legacy", 11211, 1},
                                                     {"cache-c.internal", 11212, 1}});
  expect_libmemcached_picks(spec, memc->m, 3000, 10, {{"mc-legacy:11211", "10.0.1.13:11211"}});
}

TEST(ConvertTwemproxy, MemcachePoolModulaPicksAsNutcracker) {
  const RingSpec spec = samering::convert_twemproxy(input("twemproxy-memcache.yml"), "sessions");
  EXPECT_EQ(std::get<std::string>(spec.options.at("distribution")), "modula");
  EXPECT_EQ(std::get<std::string>(spec.options.at("hash")), "fnv1a_32");
  ASSERT_EQ(spec.servers.size(), 3u);
  // nutcracker's order: 10.0.2.1, 10.0.2.2 (8 bytes), 10.0.2.10; modula = hash % 3 in that order.
  Memc memc(memcached_create(nullptr));
  ASSERT_EQ(memcached_behavior_set(memc.m, MEMCACHED_BEHAVIOR_HASH, MEMCACHED_HASH_FNV1A_32), MEMCACHED_SUCCESS);
  for (const char* host : {"10.0.2.1", "10.0.2.2", "10.0.2.10"})
    ASSERT_EQ(memcached_server_add(memc.m, host, 11211), MEMCACHED_SUCCESS);
  expect_libmemcached_picks(spec, memc.m, 3000, 11);
}

TEST(ConvertTwemproxy, NutcrackerExampleFile) {
  const std::string yaml = input("twemproxy-nutcracker.yml");
  // Five pools and no choice: the message lists them.
  EXPECT_THAT(error_of([&] { samering::convert_twemproxy(yaml); }),
              HasSubstr("the file has 5 pools (alpha, beta, gamma, delta, omega): choose one"));
  EXPECT_THAT(error_of([&] { samering::convert_twemproxy(yaml, "zeta"); }),
              HasSubstr("no pool \"zeta\" in the file (its pools: alpha, beta, gamma, delta, omega)"));

  // delta: ten servers on 127.0.0.1, default-style fnv1a_64 ketama. Names "127.0.0.1:112NN" sort
  // as written.
  const RingSpec delta = samering::convert_twemproxy(yaml, "delta");
  EXPECT_EQ(std::get<std::string>(delta.options.at("hash")), "fnv1a_64");
  ASSERT_EQ(delta.servers.size(), 10u);
  std::vector<std::tuple<const char*, in_port_t, std::uint32_t>> sorted;
  for (in_port_t p = 11214; p <= 11223; ++p) sorted.emplace_back("127.0.0.1", p, 1);
  expect_libmemcached_picks(delta, nutcracker_ketama(MEMCACHED_HASH_FNV1A_64, sorted)->m, 3000, 12);

  // beta: named servers (the ring hashes "server1-0", ...: libmemcached's "host-j" for port 11211)
  // and hash_tag "{}": nc_server.c server_pool_idx hashes only the text between the tags.
  const RingSpec beta = samering::convert_twemproxy(yaml, "beta");
  EXPECT_EQ(std::get<std::string>(beta.options.at("hash_tag")), "{}");
  ASSERT_EQ(beta.servers.size(), 4u);
  EXPECT_EQ(beta.servers[0].name, "server1");
  EXPECT_EQ(beta.servers[0].address(), "127.0.0.1:6380");
  auto memc = nutcracker_ketama(MEMCACHED_HASH_FNV1A_64, {{"server1", 11211, 1},
                                                          {"server2", 11211, 1},
                                                          {"server3", 11211, 1},
                                                          {"server4", 11211, 1}});
  const std::map<std::string, std::string> label = {{"server1:11211", "127.0.0.1:6380"},
                                                    {"server2:11211", "127.0.0.1:6381"},
                                                    {"server3:11211", "127.0.0.1:6382"},
                                                    {"server4:11211", "127.0.0.1:6383"}};
  expect_libmemcached_picks(beta, memc->m, 2000, 13, label,  // keys without a tag: the whole key
                            [](const std::string& k) { return k.find('{') != std::string::npos; });
  const samering::Ring ring = samering::ring_from_spec(beta);
  for (const auto& inner : keys(300, 14)) {
    if (inner.find_first_of("{}") != std::string::npos || inner.size() > 240) continue;
    const std::string key = "user:{" + inner + "}:profile";
    EXPECT_EQ(address_of(ring, ring.pick(key)), label.at(libmemcached_pick(memc->m, inner))) << samering_test::hex(key);
  }

  // omega: weight 100000 and hsieh (twemproxy's own hash; Debian's libmemcached lacks it).
  const RingSpec omega = samering::convert_twemproxy(yaml, "omega");
  EXPECT_EQ(std::get<std::string>(omega.options.at("hash")), "hsieh");
  EXPECT_EQ(omega.servers.at(0).weight, 100000);
  EXPECT_NO_THROW(samering::build_ring(omega));
}

TEST(ConvertTwemproxy, MalformedConfigurations) {
  const auto msg = [](const std::string& yaml) { return error_of([&] { samering::convert_twemproxy(yaml); }); };
  const std::string head = "p:\n  listen: 127.0.0.1:22121\n";
  EXPECT_THAT(msg(head + "  hashh: md5\n  servers:\n   - a:11211:1\n"),
              StartsWith("line 3, column 3: pool \"p\": unknown key \"hashh\""));
  EXPECT_THAT(msg(head + "  servers: [a:11211:1]\n"), StartsWith("line 3, column 12: a flow list ([...]) is not allowed"));
  EXPECT_THAT(msg(head + "  servers:\n   - a:11211:0\n"), StartsWith("line 4, column 6: server \"a:11211:0\" has a zero weight"));
  EXPECT_THAT(msg(head + "  servers:\n   - a:11211\n"), StartsWith("line 4, column 6: server \"a:11211\" is not \"host:port:weight [name]\""));
  EXPECT_THAT(msg(head + "  servers:\n   - /tmp/mc.sock:1\n"), StartsWith("line 4, column 6: server \"/tmp/mc.sock:1\" is a unix socket"));
  EXPECT_THAT(msg(head + "  hash: md5\n  hash: crc32\n  servers:\n   - a:11211:1\n"),
              StartsWith("line 4, column 9: hash: is a duplicate (first at line 3, column 9)"));
  EXPECT_THAT(msg(head + "  hash: sha1\n  servers:\n   - a:11211:1\n"), StartsWith("line 3, column 9: hash: \"sha1\" is not a valid hash"));
  EXPECT_THAT(msg(head + "  hash_tag: \"{\"\n  servers:\n   - a:11211:1\n"), StartsWith("line 3, column 13: hash_tag: \"{\" is not a valid hash tag"));
  EXPECT_THAT(msg(head + "  distribution: random\n  servers:\n   - a:11211:1\n"), StartsWith("line 3, column 17: distribution: random"));
  EXPECT_THAT(msg(head + "  servers:\n   - a:11211:1\n   - a:011211:1\n"),
              StartsWith("line 5, column 6: pool \"p\" has servers with same name \"a\""));
  EXPECT_THAT(msg(head + "  servers:\n   - a:11211:1 x\n   - a:11211:1 y\n"),
              StartsWith("line 5, column 6: \"a:11211:1 y\" is the same server as \"a:11211:1 x\""));
  EXPECT_THAT(msg("p:\n  servers:\n   - a:11211:1\n"), StartsWith("line 1, column 1: pool \"p\": listen: is missing"));
  EXPECT_THAT(msg(head + "  servers:\n   - a:11211:1\n  auto_eject_hosts: yes\n"),
              StartsWith("line 5, column 21: auto_eject_hosts: \"yes\" is not \"true\" or \"false\""));
  EXPECT_THAT(msg(head + " hash: md5\n"), StartsWith("line 3, column 2: invalid YAML: did not find expected key"));
  EXPECT_THAT(msg(head + "  hash: \"md5\n"), StartsWith("line 4, column 1: invalid YAML: found unexpected end of stream"));
  // A less-indented "- b" continues the plain scalar, as libyaml (and so nutcracker) reads it.
  EXPECT_THAT(msg(head + "  servers:\n  - a:11211:1\n   - b\n"),
              StartsWith("line 4, column 5: server \"a:11211:1 - b\" has an invalid weight"));
  EXPECT_THAT(msg("---\n" + head + "  servers:\n   - a:11211:1\n"), StartsWith("line 1, column 1: a document start marker"));
  EXPECT_THAT(msg(""), StartsWith("line 1, column 1: the file has no pools"));
  EXPECT_THAT(msg("p:\n  listen: /tmp/x 77777777777777777777777777\n  servers:\n   - a:1:1\n"),
              StartsWith("line 2, column 11: listen: \"/tmp/x 77777777777777777777777777\" has an invalid file permission"));
  // Keys that do not change the mapping are accepted.
  const RingSpec ok = samering::convert_twemproxy(head + "  redis: true\n  auto_eject_hosts: true\n  timeout: 400\n"
                                                         "  servers:\n   - a:011212:3 primary\n");
  EXPECT_EQ(ok.servers.at(0).port, "011212");  // as written: part of the ring name (here the name wins)
  EXPECT_EQ(ok.servers.at(0).name, "primary");
  EXPECT_EQ(ok.servers.at(0).weight, 3);
}

// ---- Cache::Memcached::Fast ----------------------------------------------------------------------

TEST(ConvertCmf, KetamaHostnamesPickAsTheVector) {
  const RingSpec spec = samering::convert_cmf(input("cmf-ketama-10srv-hostnames-p7.json"));
  EXPECT_EQ(spec.flavor, "cmf");
  EXPECT_EQ(std::get<std::int64_t>(spec.options.at("ketama_points")), 7);
  EXPECT_EQ(spec.options.count("namespace"), 0u);
  expect_same_servers(spec, "cmf-ketama-10srv-hostnames-p7");
  expect_vector_picks(spec, "cmf-ketama-10srv-hostnames-p7");
}

TEST(ConvertCmf, EveryServerFormAndAHashedNamespace) {
  const RingSpec spec = samering::convert_cmf(input("cmf-ketama-3srv-W-ns-hashed.json"));
  EXPECT_EQ(std::get<std::int64_t>(spec.options.at("ketama_points")), 150);
  EXPECT_EQ(std::get<std::string>(spec.options.at("namespace")), "app:");
  EXPECT_EQ(std::get<bool>(spec.options.at("hash_namespace")), true);
  expect_same_servers(spec, "cmf-ketama-3srv-W-ns-hashed");
  expect_vector_picks(spec, "cmf-ketama-3srv-W-ns-hashed");
}

TEST(ConvertCmf, CompatibleModeByDefault) {
  const RingSpec spec = samering::convert_cmf(input("cmf-compat-3srv-hostnames-ns-unhashed.json"));
  EXPECT_EQ(std::get<std::int64_t>(spec.options.at("ketama_points")), 0);
  EXPECT_EQ(spec.options.count("hash_namespace"), 0u);
  expect_same_servers(spec, "cmf-compat-3srv-hostnames-ns-unhashed");
  expect_vector_picks(spec, "cmf-compat-3srv-hostnames-ns-unhashed");

  const RingSpec fractional = samering::convert_cmf(input("cmf-compat-10srv-fractional.json"));
  expect_same_servers(fractional, "cmf-compat-10srv-fractional");
  expect_vector_picks(fractional, "cmf-compat-10srv-fractional");
}

TEST(ConvertCmf, PodSynopsis) {
  // The constructor of CMF's SYNOPSIS has a unix socket: refused, at its line.
  const std::string json = input("cmf-pod-synopsis.json");
  EXPECT_THAT(error_of([&] { samering::convert_cmf(json); }),
              StartsWith("line 4, column 29: servers[2]: \"/path/to/unix.sock\" has no ':' so CMF takes it as a unix socket"));
  // Without it, every other argument is accepted.
  std::string tcp_only = json;
  tcp_only.replace(tcp_only.find("\"/path/to/unix.sock\""), 20, "\"10.0.0.9:11211\"");
  const RingSpec spec = samering::convert_cmf(tcp_only);
  EXPECT_EQ(std::get<std::int64_t>(spec.options.at("ketama_points")), 150);
  EXPECT_EQ(std::get<std::string>(spec.options.at("namespace")), "my:");
  EXPECT_EQ(std::get<bool>(spec.options.at("hash_namespace")), true);
  ASSERT_EQ(spec.servers.size(), 3u);
  EXPECT_EQ(spec.servers[0].address(), "localhost:11211");
  EXPECT_EQ(spec.servers[0].weight, 2.5);
  EXPECT_EQ(spec.servers[1].address(), "192.168.254.2:11211");
  EXPECT_EQ(spec.servers[2].address(), "10.0.0.9:11211");
}

TEST(ConvertCmf, PortTextIsKeptAsWritten) {
  // CMF hashes the port text: "011211" is kept, and it splits at the last ':'.
  const RingSpec spec = samering::convert_cmf(R"({"servers": ["[::1]:011211", "a:b:11212"], "ketama_points": 10})");
  EXPECT_EQ(spec.servers.at(0).host, "[::1]");
  EXPECT_EQ(spec.servers.at(0).port, "011211");
  EXPECT_EQ(spec.servers.at(1).host, "a:b");
  EXPECT_EQ(spec.servers.at(1).port, "11212");
}

TEST(ConvertCmf, MalformedConstructors) {
  const auto msg = [](const std::string& json) { return error_of([&] { samering::convert_cmf(json); }); };
  EXPECT_THAT(msg("{\"servers\": [\"a:1\",]}"), StartsWith("line 1, column 20: invalid JSON: expected a value"));
  EXPECT_THAT(msg("{\n  \"servers\": [\"a:1\"],\n  \"ketama\": 150\n}"),
              StartsWith("line 3, column 3: unknown constructor argument \"ketama\""));
  EXPECT_THAT(msg("{\"servers\": [{\"address\": \"a:1\", \"weight\": 0}]}"),
              StartsWith("line 1, column 43: servers[0]: the weight must be > 0"));
  EXPECT_THAT(msg("{\"servers\": [{\"addr\": \"a:1\"}]}"), StartsWith("line 1, column 15: servers[0]: unknown key \"addr\""));
  EXPECT_THAT(msg("{\"servers\": [\"a:memcache\"]}"), StartsWith("line 1, column 14: servers[0]: the port \"memcache\" is not a number"));
  EXPECT_THAT(msg("{\"servers\": [\"a:11211\", \"a:011211\"]}"), StartsWith("line 1, column 25: \"a:011211\" is the same server as \"a:11211\""));
  EXPECT_THAT(msg("{\"servers\": [\"a:1\"], \"ketama_points\": -1}"), StartsWith("line 1, column 39: ketama_points: must be an integer"));
  EXPECT_THAT(msg("{\"servers\": []}"), StartsWith("line 1, column 13: no servers"));
  EXPECT_THAT(msg("{\"servers\": [\"a:1\"], \"ketama_points\": 1e999}"), StartsWith("line 1, column 39: ketama_points: must be"));
  EXPECT_THAT(msg("{\"servers\": [[\"a:1\", 1e999]]}"), StartsWith("line 1, column 22: servers[0]: the weight does not fit a double"));
  EXPECT_THAT(msg("[\"a:1\"]"), StartsWith("line 1, column 1: the constructor arguments must be a JSON object"));
  EXPECT_THAT(msg("{\"servers\": [\"a:1\"], \"servers\": []}"), StartsWith("line 1, column 22: duplicate key \"servers\""));
}

// ---- gomemcache -----------------------------------------------------------------------------------

TEST(ConvertGomemcache, GoQuotedListWithARepeatPicksAsTheVector) {
  const RingSpec spec = samering::convert_gomemcache(input("gomemcache-3srv-W-repeat.go.txt"));
  EXPECT_EQ(spec.flavor, "gomemcache");
  EXPECT_EQ(std::get<bool>(spec.options.at("repeat_by_weight")), true);
  expect_same_servers(spec, "gomemcache-3srv-W-repeat");
  expect_vector_picks(spec, "gomemcache-3srv-W-repeat");
}

TEST(ConvertGomemcache, OneAddressPerLine) {
  const RingSpec spec = samering::convert_gomemcache(input("gomemcache-10srv-hostnames.txt"));
  EXPECT_EQ(spec.options.count("repeat_by_weight"), 0u);
  expect_same_servers(spec, "gomemcache-10srv-hostnames");
  expect_vector_picks(spec, "gomemcache-10srv-hostnames");
}

TEST(ConvertGomemcache, RepeatsInARowAreWeights) {
  const RingSpec spec = samering::convert_gomemcache(input("gomemcache-10srv-repeat-weights.txt"));
  expect_same_servers(spec, "gomemcache-10srv-repeat-weights");
  expect_vector_picks(spec, "gomemcache-10srv-repeat-weights");
}

TEST(ConvertGomemcache, MalformedLists) {
  const auto msg = [](const std::string& list) { return error_of([&] { samering::convert_gomemcache(list); }); };
  EXPECT_THAT(msg("a:11211, b:11211, a:11211"),
              StartsWith("line 1, column 19: \"a:11211\" is the same server as \"a:11211\" (line 1, column 1); gomemcache picks by position"));
  EXPECT_THAT(msg("a:11211\n/var/run/memcached.sock"), StartsWith("line 2, column 1: \"/var/run/memcached.sock\" is a unix socket"));
  EXPECT_THAT(msg("a:11211 b"), StartsWith("line 1, column 9: \"b\": missing port in address"));
  EXPECT_THAT(msg("::1:11211"), StartsWith("line 1, column 1: \"::1:11211\": too many colons"));
  EXPECT_THAT(msg("a:memcache"), StartsWith("line 1, column 3: \"a:memcache\": the port \"memcache\" is not a number"));
  EXPECT_THAT(msg("a:0"), StartsWith("line 1, column 3: \"a:0\": the port \"0\" is not 1-65535"));
  EXPECT_THAT(msg("\"a:11211"), StartsWith("line 1, column 1: this quote is not closed"));
  EXPECT_THAT(msg(" , \n"), StartsWith("line 1, column 1: no address in the list"));
  const RingSpec v6 = samering::convert_gomemcache("[::1]:11211 `[fe80::1]:11212`");
  EXPECT_EQ(v6.servers.at(0).host, "[::1]");
  EXPECT_EQ(v6.servers.at(1).address(), "[fe80::1]:11212");
}

// ---- every converted spec survives JSON and builds ----------------------------------------------

TEST(Convert, OutputIsACanonicalSpec) {
  const std::vector<RingSpec> specs = {
      samering::convert_libmemcached(input("libmemcached-servers-first.conf")),
      samering::convert_twemproxy(input("twemproxy-nutcracker.yml"), "beta"),
      samering::convert_cmf(input("cmf-ketama-3srv-W-ns-hashed.json")),
      samering::convert_gomemcache(input("gomemcache-10srv-repeat-weights.txt")),
  };
  for (const auto& spec : specs) {
    const std::string json = samering::to_json(spec);
    EXPECT_EQ(samering::to_json(samering::parse_spec(json)), json);
    EXPECT_NO_THROW(samering::ring_from_json(json)) << json;
  }
}

// ---- the CLI ------------------------------------------------------------------------------------

struct CliResult {
  int exit_code = -1;
  std::string out, err;
};

CliResult run_cli(const std::vector<std::string>& args, const std::string& stdin_text = "") {
  samering_test::TempDir dir;
  const auto in = dir.write("stdin", stdin_text);
  const auto out = dir.path() / "stdout", err = dir.path() / "stderr";
  std::vector<std::string> argv_s = {SAMERING_CLI};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    if (!freopen(in.c_str(), "r", stdin) || !freopen(out.c_str(), "w", stdout) || !freopen(err.c_str(), "w", stderr))
      _exit(127);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CliResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

TEST(ConvertCli, PrintsTheSpecAsOneLine) {
  const auto r = run_cli({"convert", "--from", "twemproxy", "--pool", "sessions", (kInputs / "twemproxy-memcache.yml").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const RingSpec expected = samering::convert_twemproxy(input("twemproxy-memcache.yml"), "sessions");
  EXPECT_EQ(r.out, samering::to_json(expected) + "\n");
}

TEST(ConvertCli, ReadsStdin) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{"convert", "--from", "gomemcache"},
                                               std::vector<std::string>{"convert", "--from", "gomemcache", "-"}}) {
    const auto r = run_cli(args, "10.0.0.1:11211, 10.0.0.2:11211\n");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "{\"flavor\":\"gomemcache\",\"options\":{},\"servers\":[{\"host\":\"10.0.0.1\",\"port\":11211,\"weight\":1},"
                     "{\"host\":\"10.0.0.2\",\"port\":11211,\"weight\":1}]}\n");
  }
}

TEST(ConvertCli, MalformedInputExitsTwoWithOneLine) {
  const auto file = (kInputs / "libmemcached-docs-example.conf").string();
  auto r = run_cli({"convert", "--from", "libmemcached", file});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, StartsWith("samering: " + file + ": line 1, column 66: "));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);

  r = run_cli({"convert", "--from", "cmf"}, "{\"servers\": [\"a:1\"],\n \"nope\": 1}");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, StartsWith("samering: stdin: line 2, column 2: unknown constructor argument \"nope\""));

  r = run_cli({"convert", "--from", "cmf", "/nonexistent/ring.json"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("/nonexistent/ring.json: cannot read the file"));

  r = run_cli({"convert", "--from", "gomemcache", "--pool", "x"}, "a:1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--pool applies to --from twemproxy only"));

  r = run_cli({"convert", "--from", "yaml"}, "");
  EXPECT_EQ(r.exit_code, 2);
}

TEST(ConvertCli, HelpDescribesEveryFormat) {
  const auto r = run_cli({"convert", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* word : {"libmemcached", "--SERVER=", "memcached_servers_parse", "twemproxy", "--pool", "cmf",
                           "ketama_points", "gomemcache", "repeat_by_weight"})
    EXPECT_THAT(r.out, HasSubstr(word));
}

// ---- pecl memcache (php-memcache) and spymemcached ----------------------------------------------

TEST(ConvertPhpMemcache, ProgramWithDefaultIniPicksAsTheVector) {
  const RingSpec spec = samering::convert_php_memcache(input("php-memcache-consistent-10srv-hostnames-weights.txt"));
  EXPECT_EQ(spec.flavor, "php-memcache");
  EXPECT_TRUE(spec.options.empty()) << "no ini setting given: the extension's defaults";
  expect_same_servers(spec, "php-memcache-consistent-10srv-hostnames-weights");
  expect_vector_picks(spec, "php-memcache-consistent-10srv-hostnames-weights");
}

TEST(ConvertPhpMemcache, IniFileWithStandardFnvAndDefaultPortPicksAsTheVector) {
  const RingSpec spec = samering::convert_php_memcache(input("php-memcache-standard-fnv-10srv-weights.txt"));
  EXPECT_EQ(std::get<std::string>(spec.options.at("hash_strategy")), "standard");
  EXPECT_EQ(std::get<std::string>(spec.options.at("hash_function")), "fnv");  // "FNV" in the file
  expect_same_servers(spec, "php-memcache-standard-fnv-10srv-weights");
  expect_vector_picks(spec, "php-memcache-standard-fnv-10srv-weights");
}

TEST(ConvertPhpMemcache, PortDefaultsAndLiterals) {
  const RingSpec spec = samering::convert_php_memcache(
      "memcache.default_port = 21000\n$m = new Memcache();\n$m->addServer('a');\n$m->addServer('b', null, true, null);\n"
      "addServer('it\\'s', 1, false, 3, 0.5, -1, true, null);\n");
  ASSERT_EQ(spec.servers.size(), 3u);
  EXPECT_EQ(spec.servers[0].address(), "a:21000");
  EXPECT_EQ(spec.servers[1].address(), "b:21000");
  EXPECT_EQ(spec.servers[2].host, "it's");
  EXPECT_EQ(spec.servers[2].weight, 3);
}

TEST(ConvertPhpMemcache, MalformedAndUnconvertible) {
  const auto msg = [](const std::string& t) { return error_of([&] { samering::convert_php_memcache(t); }); };
  EXPECT_THAT(msg("memcache.hash_strategy = ketama\naddServer('a');"),
              StartsWith("line 1, column 1: memcache.hash_strategy must be in set {standard, consistent} ('ketama' given)"));
  EXPECT_THAT(msg("addServer('a');\nmemcache.hash_function = fnv"),
              StartsWith("line 2, column 1: memcache.hash_function is read when the pool is created"));
  EXPECT_THAT(msg("addServer('a', 11211, true, 0);"), StartsWith("line 1, column 29: the weight must be >= 1"));
  EXPECT_THAT(msg("addServer('a', 65536);"), StartsWith("line 1, column 16: the port 65536 is not 1-65535"));
  EXPECT_THAT(msg("addServer('a', 11211, true, 1, 1, 15, false);"), StartsWith("line 1, column 39: status false"));
  EXPECT_THAT(msg("addServer('unix:///tmp/mc.sock', 0);"), StartsWith("line 1, column 11: \"unix:///tmp/mc.sock\" is a URL or a unix socket"));
  EXPECT_THAT(msg("addServer(\"$host\");"), StartsWith("line 1, column 12: a double-quoted PHP string with $"));
  EXPECT_THAT(msg("addServer('a', '11211');"), StartsWith("line 1, column 16: the port must be an integer"));
  EXPECT_THAT(msg("addServer('a'"), StartsWith("line 1, column 14: the addServer call is not closed"));
  EXPECT_THAT(msg("memcache.prefix_static_key = app\naddServer('a');"), StartsWith("line 1, column 1: memcache.prefix_static_key puts a prefix"));
  EXPECT_THAT(msg("memcache.redundancy = 2\naddServer('a');"), StartsWith("line 1, column 1: memcache.redundancy other than 1"));
  EXPECT_THAT(msg("memcache.hash_strateg = standard\naddServer('a');"), StartsWith("line 1, column 1: unknown setting"));
  EXPECT_THAT(msg("addServer('a', 1);\naddServer('a', 1);"), StartsWith("line 2, column 1: \"addServer('a', 1);\" is the same server as"));
  EXPECT_THAT(msg("; nothing\n"), StartsWith("line 2, column 1: no addServer call"));
  EXPECT_THAT(msg("connect('a', 11211);"), StartsWith("line 1, column 1: expected an ini setting (name = value) or an addServer(...) call"));
}

TEST(ConvertSpymemcached, KetamaHostnamesAsSpymemcachedPrintsThemPickAsTheVector) {
  const RingSpec spec = samering::convert_spymemcached(input("spymemcached-ketama-10srv-hostnames.properties"));
  EXPECT_EQ(spec.flavor, "spymemcached");
  EXPECT_EQ(std::get<std::string>(spec.options.at("locator")), "CONSISTENT");
  EXPECT_EQ(std::get<std::string>(spec.options.at("hash")), "KETAMA_HASH");
  expect_same_servers(spec, "spymemcached-ketama-10srv-hostnames");
  ASSERT_TRUE(spec.servers.at(0).name.has_value());
  EXPECT_EQ(*spec.servers[0].name, "mc1.cache.internal/127.0.3.1:11211");
  EXPECT_FALSE(spec.servers.at(6).name.has_value()) << "an address literal is its own node string";
  expect_vector_picks(spec, "spymemcached-ketama-10srv-hostnames");
}

TEST(ConvertSpymemcached, WeightsAndArrayModPickAsTheVectors) {
  const RingSpec w = samering::convert_spymemcached(input("spymemcached-ketama-weighted-10srv-hostnames-weights.properties"));
  EXPECT_EQ(std::get<bool>(w.options.at("weighted")), true);
  expect_same_servers(w, "spymemcached-ketama-weighted-10srv-hostnames-weights");
  expect_vector_picks(w, "spymemcached-ketama-weighted-10srv-hostnames-weights");
  const RingSpec m = samering::convert_spymemcached(input("spymemcached-array-mod-10srv-hostnames.properties"));
  EXPECT_TRUE(m.options.empty()) << "the builder's defaults: ARRAY_MOD, NATIVE_HASH";
  expect_same_servers(m, "spymemcached-array-mod-10srv-hostnames");
  expect_vector_picks(m, "spymemcached-array-mod-10srv-hostnames");
}

TEST(ConvertSpymemcached, AddrUtilSplitting) {
  // white space and commas; the host before the last ':'; Integer.parseInt keeps no leading zero
  const RingSpec spec = samering::convert_spymemcached("servers = a:011211,,b:2 \t /10.0.0.1:3 ::1:11211\n");
  ASSERT_EQ(spec.servers.size(), 4u);
  EXPECT_EQ(spec.servers[0].address(), "a:11211");
  EXPECT_EQ(spec.servers[1].address(), "b:2");
  EXPECT_EQ(spec.servers[2].address(), "10.0.0.1:3") << "\"/address\" as spymemcached prints a literal";
  EXPECT_EQ(spec.servers[3].host, "::1");
}

TEST(ConvertSpymemcached, MalformedAndUnconvertible) {
  const auto msg = [](const std::string& t) { return error_of([&] { samering::convert_spymemcached(t); }); };
  EXPECT_THAT(msg("locator = CONSISTENT\nservers = cache-a:11211"),
              StartsWith("line 2, column 11: \"cache-a:11211\": the CONSISTENT locator hashes \"hostname/address:port\""));
  EXPECT_THAT(msg("locator = VBUCKET\nservers = a:1"), StartsWith("line 1, column 11: locator must be ARRAY_MOD or CONSISTENT"));
  EXPECT_THAT(msg("hash = MD5\nservers = a:1"), StartsWith("line 1, column 8: hash must be a DefaultHashAlgorithm"));
  EXPECT_THAT(msg("servers = a"), StartsWith("line 1, column 11: Invalid server \"a\""));
  EXPECT_THAT(msg("servers = :11211"), StartsWith("line 1, column 11: Invalid server \":11211\""));
  EXPECT_THAT(msg("servers = a:memcache"), StartsWith("line 1, column 13: \"a:memcache\": the port \"memcache\" is not a number"));
  EXPECT_THAT(msg("locator = CONSISTENT\nservers = 10.0.0.1:1 10.0.0.2:2\nweights = 1"), StartsWith("line 3, column 11: 1 weights for 2 servers"));
  EXPECT_THAT(msg("locator = CONSISTENT\nservers = 10.0.0.1:1\nweights = 0"), StartsWith("line 3, column 11: the weight \"0\" must be an integer"));
  EXPECT_THAT(msg("servers = 10.0.0.1/10.0.0.1:1"), StartsWith("line 1, column 11: \"10.0.0.1/10.0.0.1:1\": an address literal has no hostname part"));
  EXPECT_THAT(msg("servers = a:1 a:01"), StartsWith("line 1, column 15: \"a:01\" is the same server as \"a:1\""));
  EXPECT_THAT(msg("locator = CONSISTENT\nlocator = ARRAY_MOD\nservers = a:1"), StartsWith("line 2, column 1: locator is given twice"));
  EXPECT_THAT(msg("servers = a:1\nfailureMode = Retry"), StartsWith("line 2, column 1: unknown setting \"failureMode\""));
  EXPECT_THAT(msg("# nothing\n"), StartsWith("line 2, column 1: no servers = ... line"));
  EXPECT_THAT(msg("servers = 127.0.0.1:1 , 127.0.0.2:2\nweights = 1 2"),
              StartsWith("line 2, column 11: weights need locator = CONSISTENT"));
}

TEST(ConvertCli, HelpDescribesThePhpAndJavaFormats) {
  const auto r = run_cli({"convert", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* word : {"php-memcache", "memcache.hash_strategy", "addServer", "spymemcached", "AddrUtil.getAddresses",
                           "hostname/address:port"})
    EXPECT_THAT(r.out, HasSubstr(word));
}

}  // namespace
