// samering::Client against three real memcached processes: every command, key rules, values that
// memcached refuses, and multi-get routing checked by asking each node alone.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "memcached_process.hpp"
#include "samering/client.hpp"
#include "status_printer.hpp"

namespace {

using client_test::Cluster;
using client_test::RawConnection;
using samering::Client;
using samering::Item;
using samering::Reply;
using samering::Status;

class ClientCommands : public ::testing::Test {
 protected:
  ClientCommands() : client(samering::ring_from_json(cluster.spec())) {}

  // The node the ring picks for key, asked directly (not through the client).
  std::optional<RawConnection::Value> on_node(std::size_t node, const std::string& key) {
    RawConnection raw(cluster.node(node).port());
    return raw.get(key);
  }
  std::size_t node_of(std::string_view key) const {
    const std::int32_t i = client.server_for(key);
    EXPECT_GE(i, 0) << key;
    return static_cast<std::size_t>(i);
  }

  Cluster cluster;
  Client client;
};

std::string all_bytes() {
  std::string s;
  for (int round = 0; round < 3; ++round) {
    for (int c = 0; c < 256; ++c) s.push_back(static_cast<char>(c));
  }
  return s + "\r\nEND\r\n";  // protocol look-alikes inside a value
}

TEST_F(ClientCommands, SetThenGetKeepsArbitraryBytesAndFlags) {
  const std::string value = all_bytes();
  ASSERT_EQ(client.set("bytes", value, 0xfffffffeu), Status::ok) << client.last_error();
  Item item;
  ASSERT_EQ(client.get("bytes", item), Status::ok) << client.last_error();
  EXPECT_EQ(item.value, value);
  EXPECT_EQ(item.flags, 0xfffffffeu);
  EXPECT_EQ(item.cas, 0u);  // get, not gets
  // Stored on the ring's node, as that node alone says.
  const auto raw = on_node(node_of("bytes"), "bytes");
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->data, value);
  EXPECT_EQ(raw->flags, 0xfffffffeu);
}

TEST_F(ClientCommands, EmptyValueAndMiss) {
  ASSERT_EQ(client.set("empty", ""), Status::ok);
  Item item;
  item.value = "stale";
  ASSERT_EQ(client.get("empty", item), Status::ok);
  EXPECT_EQ(item.value, "");
  EXPECT_EQ(client.get("never-set", item), Status::not_found);
}

TEST_F(ClientCommands, AddReplaceAppendPrepend) {
  EXPECT_EQ(client.add("k", "1", 5), Status::ok);
  EXPECT_EQ(client.add("k", "2"), Status::not_stored);
  EXPECT_EQ(client.replace("missing", "x"), Status::not_stored);
  EXPECT_EQ(client.replace("k", "mid", 9), Status::ok);
  EXPECT_EQ(client.append("k", ">>"), Status::ok);
  EXPECT_EQ(client.prepend("k", "<<"), Status::ok);
  EXPECT_EQ(client.append("missing", "x"), Status::not_stored);
  EXPECT_EQ(client.prepend("missing", "x"), Status::not_stored);
  Item item;
  ASSERT_EQ(client.get("k", item), Status::ok);
  EXPECT_EQ(item.value, "<<mid>>");
  EXPECT_EQ(item.flags, 9u);  // append/prepend keep the flags
}

TEST_F(ClientCommands, GetsAndCas) {
  ASSERT_EQ(client.set("c", "v1"), Status::ok);
  Item item;
  ASSERT_EQ(client.gets("c", item), Status::ok);
  ASSERT_NE(item.cas, 0u);
  const std::uint64_t first = item.cas;
  EXPECT_EQ(client.cas("c", first, "v2", 3), Status::ok);
  EXPECT_EQ(client.cas("c", first, "v3"), Status::exists);  // changed since that gets
  EXPECT_EQ(client.cas("nope", first, "v"), Status::not_found);
  EXPECT_EQ(client.cas("c", 0, "v"), Status::invalid_argument);
  ASSERT_EQ(client.gets("c", item), Status::ok);
  EXPECT_EQ(item.value, "v2");
  EXPECT_EQ(item.flags, 3u);
  EXPECT_NE(item.cas, first);
}

TEST_F(ClientCommands, IncrDecr) {
  ASSERT_EQ(client.set("n", "10"), Status::ok);
  std::uint64_t v = 0;
  EXPECT_EQ(client.incr("n", 5, &v), Status::ok);
  EXPECT_EQ(v, 15u);
  EXPECT_EQ(client.decr("n", 20, &v), Status::ok);
  EXPECT_EQ(v, 0u);                                              // memcached stops at 0
  EXPECT_EQ(client.incr("n", 0xffffffffffull, &v), Status::ok);  // a delta over 32 bits
  EXPECT_EQ(v, 0xffffffffffull);
  EXPECT_EQ(client.incr("n-missing", 1, &v), Status::not_found);
  ASSERT_EQ(client.set("text", "abc"), Status::ok);
  EXPECT_EQ(client.incr("text", 1, &v), Status::server_error);
  EXPECT_NE(client.last_error().find("non-numeric"), std::string_view::npos) << client.last_error();
  // The connection is still in step after an error reply.
  Item item;
  ASSERT_EQ(client.get("text", item), Status::ok);
  EXPECT_EQ(item.value, "abc");
}

TEST_F(ClientCommands, DeleteAndTouch) {
  ASSERT_EQ(client.set("d", "x"), Status::ok);
  EXPECT_EQ(client.remove("d"), Status::ok);
  EXPECT_EQ(client.remove("d"), Status::not_found);
  Item item;
  EXPECT_EQ(client.get("d", item), Status::not_found);

  ASSERT_EQ(client.set("t", "x"), Status::ok);
  EXPECT_EQ(client.touch("t", 3600), Status::ok);
  EXPECT_EQ(client.touch("t-missing", 3600), Status::not_found);
  EXPECT_EQ(client.touch("t", -1), Status::ok);  // negative: expired at once
  EXPECT_EQ(client.get("t", item), Status::not_found);
}

TEST_F(ClientCommands, NegativeExptimeExpiresAtOnce) {
  ASSERT_EQ(client.set("gone", "x", 0, -1), Status::ok);
  Item item;
  EXPECT_EQ(client.get("gone", item), Status::not_found);
  ASSERT_EQ(client.set("kept", "x", 0, 3600), Status::ok);
  EXPECT_EQ(client.get("kept", item), Status::ok);
}

TEST_F(ClientCommands, FlushAllAndVersions) {
  std::vector<std::string> keys;
  for (int i = 0; i < 30; ++i) keys.push_back(std::string("f") + std::to_string(i));
  for (const auto& k : keys) ASSERT_EQ(client.set(k, "x"), Status::ok);
  std::vector<Status> status(cluster.size());
  EXPECT_EQ(client.flush_all(0, status), cluster.size());
  for (const Status s : status) EXPECT_EQ(s, Status::ok);
  Item item;
  for (const auto& k : keys) EXPECT_EQ(client.get(k, item), Status::not_found) << k;
  for (std::size_t j = 0; j < cluster.size(); ++j) {
    std::string version;
    ASSERT_EQ(client.version(j, version), Status::ok) << client.last_error();
    RawConnection raw(cluster.node(j).port());
    EXPECT_EQ("VERSION " + version, raw.command("version"));
  }
  std::string version;
  EXPECT_EQ(client.version(cluster.size(), version), Status::invalid_argument);
  EXPECT_EQ(client.flush(cluster.size()), Status::invalid_argument);
}

TEST_F(ClientCommands, NoreplyCommandsThenSync) {
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(client.set("nr" + std::to_string(i), std::to_string(i), 0, 0, Reply::noreply), Status::ok);
  }
  ASSERT_EQ(client.set("nr-count", "0"), Status::ok);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(client.incr("nr-count", 1, nullptr, Reply::noreply), Status::ok);
  ASSERT_EQ(client.remove("nr0", Reply::noreply), Status::ok);
  ASSERT_EQ(client.add("nr1", "no", 0, 0, Reply::noreply), Status::ok);  // not stored, silently
  ASSERT_EQ(client.sync(), Status::ok);
  Item item;
  EXPECT_EQ(client.get("nr0", item), Status::not_found);
  ASSERT_EQ(client.get("nr1", item), Status::ok);
  EXPECT_EQ(item.value, "1");
  ASSERT_EQ(client.get("nr49", item), Status::ok);
  EXPECT_EQ(item.value, "49");
  ASSERT_EQ(client.get("nr-count", item), Status::ok);
  EXPECT_EQ(item.value, "10");
  // A noreply value that memcached refuses leaves the connection in step (memcached 1.6 sends no
  // error line for a noreply command).
  ASSERT_EQ(client.set("nr-big", std::string(2 << 20, 'x'), 0, 0, Reply::noreply), Status::ok);
  ASSERT_EQ(client.sync(), Status::ok);
  EXPECT_EQ(client.get("nr-big", item), Status::not_found);
  ASSERT_EQ(client.get("nr1", item), Status::ok);
}

// Regression: sync() asked "version", which libmemcached 1.1.4 answers from its cache after the
// first time on a handle, so a second sync() returned without waiting and another connection
// could still miss the noreply writes.
TEST_F(ClientCommands, EverySyncWaitsForTheServer) {
  const std::string key = "sync-every-time";
  const std::size_t node = node_of(key);
  RawConnection raw(cluster.node(node).port());
  const auto gets_before = std::stoull(raw.stat("cmd_get"));
  for (int round = 0; round < 200; ++round) {
    const std::string value = std::to_string(round);
    ASSERT_EQ(client.set(key, value, 0, 0, Reply::noreply), Status::ok);
    ASSERT_EQ(client.sync(), Status::ok);
    const auto v = raw.get(key);  // another connection
    ASSERT_TRUE(v) << "round " << round;
    ASSERT_EQ(v->data, value) << "round " << round;
  }
  // One request of the client's per sync, plus the raw gets.
  EXPECT_EQ(std::stoull(raw.stat("cmd_get")) - gets_before, 400u);
}

TEST_F(ClientCommands, ValuesOverOneMegabyteAreRefusedAsMemcachedDoes) {
  // memcached's default item size limit (-I 1m) includes the item header: 1 MB + 1 is refused
  // with "SERVER_ERROR object too large for cache".
  const std::string big(1024 * 1024 + 1, 'b');
  EXPECT_EQ(client.set("big", big), Status::too_large);
  EXPECT_NE(client.last_error().find("too large"), std::string_view::npos) << client.last_error();
  EXPECT_EQ(client.set("big", std::string(4 << 20, 'b')), Status::too_large);
  Item item;
  EXPECT_EQ(client.get("big", item), Status::not_found);
  // Under the limit it round-trips, and the connection stayed in step.
  const std::string fits(1000 * 1000, 'f');
  ASSERT_EQ(client.set("big", fits), Status::ok);
  ASSERT_EQ(client.get("big", item), Status::ok);
  EXPECT_EQ(item.value, fits);
}

TEST_F(ClientCommands, KeysAreCheckedAsMemcachedDoes) {
  Item item;
  const std::vector<std::string> bad = {"",         std::string(251, 'k'),       "with space", "tab\there", "nl\nhere",
                                        "cr\rhere", std::string("nul\0here", 8), "del\x7f"};
  for (const auto& k : bad) {
    EXPECT_EQ(client.set(k, "x"), Status::bad_key) << k;
    EXPECT_EQ(client.get(k, item), Status::bad_key) << k;
    EXPECT_EQ(client.server_for(k), static_cast<std::int32_t>(Status::bad_key));
    EXPECT_NE(client.last_error().find("bad key"), std::string_view::npos);
  }
  EXPECT_NE(client.last_error().find("\\x7f"), std::string_view::npos) << client.last_error();
  // 250 bytes and bytes >= 0x80 (UTF-8) are keys memcached takes.
  const std::string longest(250, 'k');
  ASSERT_EQ(client.set(longest, "x"), Status::ok);
  ASSERT_EQ(client.get(longest, item), Status::ok);
  const std::string utf8 = "cl\xc3\xa9-\xe2\x82\xac";
  ASSERT_EQ(client.set(utf8, "euro"), Status::ok);
  ASSERT_TRUE(on_node(node_of(utf8), utf8));
}

TEST_F(ClientCommands, MultiGetAcrossServersMatchesEachNode) {
  // 300 keys, every third one missing; each stored key is on the node the ring picks and on no
  // other node (asked directly).
  std::vector<std::string> names;
  for (int i = 0; i < 300; ++i) names.push_back("multi:" + std::to_string(i));
  std::set<std::size_t> nodes_used;
  for (int i = 0; i < 300; ++i) {
    if (i % 3 == 2) continue;
    ASSERT_EQ(client.set(names[i], "value-" + std::to_string(i), static_cast<std::uint32_t>(i)), Status::ok);
    nodes_used.insert(node_of(names[i]));
  }
  ASSERT_EQ(nodes_used.size(), cluster.size()) << "the keys should spread over every node";
  for (int i = 0; i < 300; ++i) {
    const std::size_t home = node_of(names[i]);
    for (std::size_t j = 0; j < cluster.size(); ++j) {
      const bool held = on_node(j, names[i]).has_value();
      EXPECT_EQ(held, j == home && i % 3 != 2) << names[i] << " on node " << j;
    }
  }
  // Ask for them all, plus a bad key and a duplicate.
  std::vector<std::string_view> keys(names.begin(), names.end());
  keys.push_back("bad key");
  keys.push_back(names[0]);
  std::vector<Status> status(keys.size(), Status::internal);
  std::map<std::size_t, std::string> got;
  const std::size_t hits = client.get_multi(keys, status, [&](const samering::Hit& h) {
    EXPECT_EQ(h.key, keys[h.index]);
    EXPECT_EQ(h.flags, h.index == 301 ? 0u : h.index);
    EXPECT_EQ(h.cas, 0u);
    EXPECT_TRUE(got.emplace(h.index, std::string(h.value)).second) << "twice: " << h.index;
  });
  EXPECT_EQ(hits, 200u + 1u);
  for (int i = 0; i < 300; ++i) {
    if (i % 3 == 2) {
      EXPECT_EQ(status[i], Status::not_found) << names[i];
      EXPECT_FALSE(got.count(i));
    } else {
      EXPECT_EQ(status[i], Status::ok) << names[i];
      EXPECT_EQ(got[i], "value-" + std::to_string(i));
    }
  }
  EXPECT_EQ(status[300], Status::bad_key);
  EXPECT_EQ(status[301], Status::ok);
  EXPECT_EQ(got[301], "value-0");
}

TEST_F(ClientCommands, GetsMultiReturnsTheCasOfGets) {
  std::vector<std::string> names = {"gm:a", "gm:b", "gm:c", "gm:d", "gm:e", "gm:f"};
  for (const auto& n : names) ASSERT_EQ(client.set(n, n + "!"), Status::ok);
  std::vector<std::string_view> keys(names.begin(), names.end());
  keys.push_back("gm:missing");
  const auto results = client.gets_multi(keys);
  ASSERT_EQ(results.size(), keys.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    ASSERT_EQ(results[i].status, Status::ok);
    EXPECT_EQ(results[i].item.value, names[i] + "!");
    Item item;
    ASSERT_EQ(client.gets(names[i], item), Status::ok);
    EXPECT_EQ(results[i].item.cas, item.cas);
  }
  EXPECT_EQ(results.back().status, Status::not_found);
  // And the plain form: no cas.
  const auto plain = client.get_multi(keys);
  EXPECT_EQ(plain[0].item.cas, 0u);
  EXPECT_EQ(plain[0].item.value, "gm:a!");
}

TEST_F(ClientCommands, MultiStoreArithDeleteTouch) {
  std::vector<samering::StoreItem> items = {{"ms:a", "1"}, {"ms:b", "2", 7}, {"ms:c", "3", 0, -1}, {"bad key", "x"}};
  EXPECT_EQ(client.store_multi(samering::StoreCommand::set, items), 3u);
  EXPECT_EQ(items[3].status, Status::bad_key);
  std::vector<samering::StoreItem> adds = {{"ms:a", "x"}, {"ms:new", "n"}};
  EXPECT_EQ(client.store_multi(samering::StoreCommand::add, adds), 1u);
  EXPECT_EQ(adds[0].status, Status::not_stored);
  EXPECT_EQ(adds[1].status, Status::ok);

  std::vector<samering::ArithItem> ar = {{"ms:a", 10}, {"ms:b", 1}, {"ms:none", 1}};
  EXPECT_EQ(client.incr_multi(ar), 2u);
  EXPECT_EQ(ar[0].value, 11u);
  EXPECT_EQ(ar[1].value, 3u);
  EXPECT_EQ(ar[2].status, Status::not_found);
  EXPECT_EQ(client.decr_multi(ar), 2u);
  EXPECT_EQ(ar[0].value, 1u);

  std::vector<samering::TouchItem> touches = {{"ms:a", 100}, {"ms:c", 100}};
  EXPECT_EQ(client.touch_multi(touches), 1u);
  EXPECT_EQ(touches[1].status, Status::not_found);  // expired at once when set

  std::vector<std::string_view> dels = {"ms:a", "ms:b", "ms:none"};
  std::vector<Status> st(dels.size());
  EXPECT_EQ(client.remove_multi(dels, st), 2u);
  EXPECT_EQ(st[2], Status::not_found);
}

TEST(ClientKeys, EveryByteAtEveryPositionOfShortAndLongKeys) {
  // server_for() checks a key without I/O (the word-at-a-time check against the byte rule).
  Client client(samering::ring_from_json(R"({"flavor":"cmf","servers":[{"host":"127.0.0.1","port":1}]})"));
  for (const std::size_t len : {1u, 2u, 7u, 8u, 9u, 15u, 16u, 17u, 31u, 250u}) {
    std::vector<std::size_t> positions;
    for (std::size_t pos = 0; pos<len; pos += len> 40 ? 13 : 1) positions.push_back(pos);
    positions.push_back(len - 1);
    for (const std::size_t pos : positions) {
      for (int b = 0; b < 256; ++b) {
        std::string key(len, 'k');
        key[pos] = static_cast<char>(b);
        const bool allowed = b > 0x20 && b != 0x7f;
        EXPECT_EQ(client.server_for(key) >= 0, allowed) << "len " << len << " pos " << pos << " byte " << b;
      }
    }
  }
}

TEST(ClientNamespace, PrefixedOnTheWireAndCountedInTheKeyLength) {
  Cluster cluster;
  Client client(samering::ring_from_json(cluster.spec("cmf", R"({"namespace":"app:"})")));
  EXPECT_EQ(client.key_prefix(), "app:");
  ASSERT_EQ(client.set("k1", "v1", 4), Status::ok);
  const auto home = static_cast<std::size_t>(client.server_for("k1"));
  RawConnection raw(cluster.node(home).port());
  const auto v = raw.get("app:k1");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->data, "v1");
  EXPECT_FALSE(raw.get("k1"));
  // Multi-get answers name the key without the namespace.
  std::vector<std::string_view> keys = {"k1", "k2"};
  const auto r = client.get_multi(keys);
  EXPECT_EQ(r[0].status, Status::ok);
  EXPECT_EQ(r[0].item.value, "v1");
  EXPECT_EQ(r[1].status, Status::not_found);
  // 4 + 246 = 250 bytes is the longest key.
  EXPECT_EQ(client.set(std::string(246, 'x'), "v"), Status::ok);
  EXPECT_EQ(client.set(std::string(247, 'x'), "v"), Status::bad_key);
}

TEST(ClientNamespace, RefusesANamespaceLibmemcachedCannotSend) {
  Cluster cluster(1);
  EXPECT_THROW(Client(samering::ring_from_json(cluster.spec("cmf", R"({"namespace":"a b"})"))), samering::SpecError);
  EXPECT_THROW(
      Client(samering::ring_from_json(cluster.spec("cmf", "{\"namespace\":\"" + std::string(128, 'n') + "\"}"))),
      samering::SpecError);
}

TEST(ClientNamespace, SetNamespaceChangesThePrefixOnOpenConnections) {
  Cluster cluster;
  Client client(samering::ring_from_json(cluster.spec("cmf", R"({"namespace":"a:"})")));
  ASSERT_EQ(client.set("k", "1"), Status::ok);
  const auto home = static_cast<std::size_t>(client.server_for("k"));
  client.set_namespace("b:");
  EXPECT_EQ(client.key_prefix(), "b:");
  EXPECT_EQ(static_cast<std::size_t>(client.server_for("k")), home);  // not hashed: same node
  ASSERT_EQ(client.set("k", "2"), Status::ok);
  client.set_namespace("");
  EXPECT_EQ(client.key_prefix(), "");
  ASSERT_EQ(client.set("k", "3"), Status::ok);
  RawConnection raw(cluster.node(home).port());
  for (const auto& [key, value] : {std::pair{"a:k", "1"}, {"b:k", "2"}, {"k", "3"}}) {
    const auto v = raw.get(key);
    ASSERT_TRUE(v) << key;
    EXPECT_EQ(v->data, value) << key;
  }
  // Refused: the client keeps its namespace and its ring.
  EXPECT_THROW(client.set_namespace("x y"), samering::SpecError);
  EXPECT_THROW(client.set_namespace(std::string(128, 'n')), samering::SpecError);
  EXPECT_EQ(client.key_prefix(), "");
  Item item;
  ASSERT_EQ(client.get("k", item), Status::ok);
  EXPECT_EQ(item.value, "3");
}

TEST(ClientNamespace, SetNamespaceReroutesAHashedNamespace) {
  Cluster cluster(5);
  Client hashed(samering::ring_from_json(
      cluster.spec("cmf", R"({"namespace":"n1:","hash_namespace":true,"ketama_points":150})")));
  Client bare(samering::ring_from_json(cluster.spec("cmf", R"({"hash_namespace":true,"ketama_points":150})")));
  hashed.set_namespace("n2:");
  int moved = 0;
  for (int i = 0; i < 500; ++i) {
    const std::string key = "key" + std::to_string(i);
    EXPECT_EQ(hashed.server_for(key), bare.server_for("n2:" + key)) << key;
    moved += hashed.server_for(key) != bare.server_for("n1:" + key);
  }
  EXPECT_GT(moved, 100);  // the old namespace would have routed elsewhere
  // The ring's spec says so too.
  EXPECT_NE(hashed.ring().spec_json().find("\"n2:\""), std::string_view::npos) << hashed.ring().spec_json();
}

TEST(ClientNamespace, SetNamespaceNeedsAFlavorWithANamespace) {
  Cluster cluster(2);
  Client client(samering::ring_from_json(cluster.spec("gomemcache")));
  EXPECT_THROW(client.set_namespace("ns:"), samering::SpecError);
  EXPECT_EQ(client.key_prefix(), "");
}

TEST(ClientStatus, NamesEveryStatus) {
  for (int s = -10; s <= 3; ++s) {
    EXPECT_NE(samering::to_string(static_cast<Status>(s)), "unknown status code") << s;
  }
  EXPECT_EQ(samering::to_string(Status::too_large), "value too large");
  EXPECT_TRUE(samering::failed(Status::server_down));
  EXPECT_FALSE(samering::failed(Status::not_found));
}

}  // namespace
