// The client's C API (samering/client.h) against real memcached: codes, messages, NULL arguments,
// options, every command, multi calls with per-key codes, and the strict C99 unit.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "memcached_process.hpp"
#include "samering/client.h"

extern "C" int samering_c99_client_roundtrip(const char* json, size_t json_len);

namespace {

using client_test::Cluster;
using client_test::RawConnection;

struct Handle {
  client_t* p = nullptr;
  ~Handle() { client_free(p); }
};

int make(const std::string& json, Handle& h, char* err = nullptr, size_t errlen = 0) {
  return client_new_from_json(json.data(), json.size(), &h.p, err, errlen);
}

class CClient : public ::testing::Test {
 protected:
  CClient() { EXPECT_EQ(make(cluster.spec(), c), SAMERING_OK); }
  int set(const std::string& k, const std::string& v, uint32_t flags = 0, int opts = 0) {
    return client_set(c.p, k.data(), k.size(), v.data(), v.size(), flags, 0, opts);
  }
  int get(const std::string& k, std::string& v, uint32_t* flags = nullptr, uint64_t* cas = nullptr) {
    client_value_t out;
    const int rc = cas ? client_gets(c.p, k.data(), k.size(), &out) : client_get(c.p, k.data(), k.size(), &out);
    if (rc == SAMERING_OK) {
      v.assign(out.value, out.value_len);
      if (flags) *flags = out.flags;
      if (cas) *cas = out.cas;
    }
    return rc;
  }
  Cluster cluster;
  Handle c;
};

TEST(CClientC99, RoundTripFromC) {
  Cluster cluster;
  const std::string json = cluster.spec();
  EXPECT_EQ(samering_c99_client_roundtrip(json.data(), json.size()), 0);
}

TEST(CClientNew, ErrorsGoToTheBufferAndLeaveOutNull) {
  char err[256] = "x";
  client_t* out = reinterpret_cast<client_t*>(0x1);
  const std::string bad = R"({"flavor":"cmf","servers":[]})";
  EXPECT_EQ(client_new_from_json(bad.data(), bad.size(), &out, err, sizeof err), SAMERING_ESPEC);
  EXPECT_EQ(out, nullptr);
  EXPECT_STRNE(err, "");
  EXPECT_EQ(client_new_from_json("{", 1, nullptr, err, sizeof err), SAMERING_EINVAL);
  EXPECT_EQ(client_new_from_file("/nonexistent/ring.json", &out, err, sizeof err), SAMERING_EIO);
  EXPECT_NE(std::string(err).find("/nonexistent/ring.json"), std::string::npos);
  EXPECT_EQ(client_new_from_image("junk", 4, &out, err, sizeof err), SAMERING_EIMAGE);
  const std::string spaced = R"({"flavor":"cmf","options":{"namespace":"a b"},"servers":[{"host":"h","port":1}]})";
  EXPECT_EQ(client_new_from_json(spaced.data(), spaced.size(), &out, err, sizeof err), SAMERING_ESPEC);
  EXPECT_NE(std::string(err).find("namespace"), std::string::npos) << err;
  // A tiny buffer is still NUL-terminated.
  char tiny[4];
  EXPECT_EQ(client_new_from_json(bad.data(), bad.size(), &out, tiny, sizeof tiny), SAMERING_ESPEC);
  EXPECT_EQ(std::strlen(tiny), 3u);
}

TEST(CClientNew, NullHandleIsEinvalEverywhere) {
  client_value_t v;
  uint64_t n;
  const char* ver;
  EXPECT_EQ(client_get(nullptr, "k", 1, &v), SAMERING_EINVAL);
  EXPECT_EQ(client_set(nullptr, "k", 1, "v", 1, 0, 0, 0), SAMERING_EINVAL);
  EXPECT_EQ(client_incr(nullptr, "k", 1, 1, &n, 0), SAMERING_EINVAL);
  EXPECT_EQ(client_delete(nullptr, "k", 1, 0), SAMERING_EINVAL);
  EXPECT_EQ(client_touch(nullptr, "k", 1, 0), SAMERING_EINVAL);
  EXPECT_EQ(client_version(nullptr, 0, &ver), SAMERING_EINVAL);
  EXPECT_EQ(client_get_multi(nullptr, nullptr, nullptr, 0, nullptr, nullptr, nullptr), SAMERING_EINVAL);
  EXPECT_EQ(client_sync(nullptr), SAMERING_EINVAL);
  EXPECT_EQ(client_server_count(nullptr), SAMERING_EINVAL);
  EXPECT_EQ(client_server(nullptr, 0), nullptr);
  EXPECT_STREQ(client_last_error(nullptr), "");
  client_free(nullptr);
}

TEST(CClientStrerror, NamesEveryCode) {
  for (int code = SAMERING_EBROKER; code <= SAMERING_EXISTS; ++code) {
    EXPECT_STRNE(samering_strerror(code), "unknown status code") << code;
  }
  EXPECT_STREQ(samering_strerror(SAMERING_ETOOLARGE), "value too large");
  EXPECT_STREQ(samering_strerror(SAMERING_NOT_FOUND), "not found");
  EXPECT_STREQ(samering_strerror(-99), "unknown status code");
}

TEST_F(CClient, RingAndOptions) {
  ASSERT_EQ(client_server_count(c.p), 3);
  EXPECT_EQ(std::string(client_server(c.p, 1)), "127.0.0.1:" + std::to_string(cluster.node(1).port()));
  EXPECT_EQ(client_server(c.p, 3), nullptr);
  EXPECT_GE(client_pick(c.p, "k", 1), 0);
  EXPECT_EQ(client_pick(c.p, "a b", 3), SAMERING_EKEY);
  EXPECT_STREQ(client_namespace(c.p), "");
  int64_t v = 0;
  EXPECT_EQ(client_get_option(c.p, CLIENT_OPT_IO_TIMEOUT_MS, &v), SAMERING_OK);
  EXPECT_EQ(v, 1000);
  EXPECT_EQ(client_set_option(c.p, CLIENT_OPT_RETRY_TIMEOUT_MS, 500), SAMERING_OK);
  EXPECT_EQ(client_get_option(c.p, CLIENT_OPT_RETRY_TIMEOUT_MS, &v), SAMERING_OK);
  EXPECT_EQ(v, 500);
  EXPECT_EQ(client_set_option(c.p, 99, 1), SAMERING_EINVAL);
  EXPECT_EQ(client_set_option(c.p, CLIENT_OPT_IO_TIMEOUT_MS, -1), SAMERING_EINVAL);
  EXPECT_STRNE(client_last_error(c.p), "");
}

TEST_F(CClient, MaxFailuresOption) {
  int64_t v = -1;
  EXPECT_EQ(client_get_option(c.p, CLIENT_OPT_MAX_FAILURES, &v), SAMERING_OK);
  EXPECT_EQ(v, 1);
  EXPECT_EQ(client_set_option(c.p, CLIENT_OPT_MAX_FAILURES, 3), SAMERING_OK);
  EXPECT_EQ(client_get_option(c.p, CLIENT_OPT_MAX_FAILURES, &v), SAMERING_OK);
  EXPECT_EQ(v, 3);
}

TEST_F(CClient, SetNamespacePrefixesLaterKeysAndRefusesWhatCannotBeSent) {
  ASSERT_EQ(set("k", "plain"), SAMERING_OK);
  ASSERT_EQ(client_set_namespace(c.p, "ns:", 3), SAMERING_OK);
  EXPECT_STREQ(client_namespace(c.p), "ns:");
  std::string v;
  EXPECT_EQ(get("k", v), SAMERING_NOT_FOUND);
  ASSERT_EQ(set("k", "spaced"), SAMERING_OK);
  const int home = client_pick(c.p, "k", 1);
  ASSERT_GE(home, 0);
  RawConnection raw(cluster.node(static_cast<std::size_t>(home)).port());
  const auto on_wire = raw.get("ns:k");
  ASSERT_TRUE(on_wire);
  EXPECT_EQ(on_wire->data, "spaced");
  EXPECT_EQ(client_set_namespace(c.p, "a b", 3), SAMERING_ESPEC);
  EXPECT_NE(std::string(client_last_error(c.p)).find("namespace"), std::string::npos) << client_last_error(c.p);
  EXPECT_STREQ(client_namespace(c.p), "ns:");  // unchanged
  ASSERT_EQ(client_set_namespace(c.p, nullptr, 0), SAMERING_OK);
  EXPECT_STREQ(client_namespace(c.p), "");
  ASSERT_EQ(get("k", v), SAMERING_OK);
  EXPECT_EQ(v, "plain");
  EXPECT_EQ(client_set_namespace(nullptr, "x", 1), SAMERING_EINVAL);
  EXPECT_EQ(client_set_namespace(c.p, nullptr, 1), SAMERING_EINVAL);
}

TEST_F(CClient, EveryCommand) {
  std::string v;
  uint32_t flags = 0;
  uint64_t cas = 0, n = 0;
  const std::string bin("a\0b\r\nc", 6);
  ASSERT_EQ(set("k", bin, 0xdeadbeef), SAMERING_OK);
  ASSERT_EQ(get("k", v, &flags), SAMERING_OK);
  EXPECT_EQ(v, bin);
  EXPECT_EQ(flags, 0xdeadbeefu);
  EXPECT_EQ(get("missing", v), SAMERING_NOT_FOUND);
  EXPECT_EQ(client_add(c.p, "k", 1, "x", 1, 0, 0, 0), SAMERING_NOT_STORED);
  EXPECT_EQ(client_replace(c.p, "k", 1, "mid", 3, 5, 0, 0), SAMERING_OK);
  EXPECT_EQ(client_append(c.p, "k", 1, ">", 1, 0, 0, 0), SAMERING_OK);
  EXPECT_EQ(client_prepend(c.p, "k", 1, "<", 1, 0, 0, 0), SAMERING_OK);
  ASSERT_EQ(get("k", v, &flags, &cas), SAMERING_OK);
  EXPECT_EQ(v, "<mid>");
  EXPECT_EQ(flags, 5u);
  EXPECT_NE(cas, 0u);
  EXPECT_EQ(client_cas(c.p, "k", 1, cas, "new", 3, 0, 0, 0), SAMERING_OK);
  EXPECT_EQ(client_cas(c.p, "k", 1, cas, "newer", 5, 0, 0, 0), SAMERING_EXISTS);
  EXPECT_EQ(client_cas(c.p, "k", 1, 0, "x", 1, 0, 0, 0), SAMERING_EINVAL);
  ASSERT_EQ(set("n", "41"), SAMERING_OK);
  EXPECT_EQ(client_incr(c.p, "n", 1, 1, &n, 0), SAMERING_OK);
  EXPECT_EQ(n, 42u);
  EXPECT_EQ(client_decr(c.p, "n", 1, 2, &n, 0), SAMERING_OK);
  EXPECT_EQ(n, 40u);
  EXPECT_EQ(client_incr(c.p, "k", 1, 1, &n, 0), SAMERING_ESERVER);
  EXPECT_NE(std::string(client_last_error(c.p)).find("non-numeric"), std::string::npos) << client_last_error(c.p);
  EXPECT_EQ(client_touch(c.p, "n", 1, 100), SAMERING_OK);
  EXPECT_EQ(client_delete(c.p, "n", 1, 0), SAMERING_OK);
  EXPECT_EQ(client_delete(c.p, "n", 1, 0), SAMERING_NOT_FOUND);
  EXPECT_EQ(client_touch(c.p, "n", 1, 100), SAMERING_NOT_FOUND);
  const std::string big(2 << 20, 'x');
  EXPECT_EQ(client_set(c.p, "big", 3, big.data(), big.size(), 0, 0, 0), SAMERING_ETOOLARGE);
  EXPECT_EQ(client_set(c.p, "a key", 5, "v", 1, 0, 0, 0), SAMERING_EKEY);
  EXPECT_NE(std::string(client_last_error(c.p)).find("bad key"), std::string::npos);
  EXPECT_EQ(client_set(c.p, nullptr, 1, "v", 1, 0, 0, 0), SAMERING_EINVAL);
  EXPECT_EQ(client_set(c.p, "k", 1, nullptr, 1, 0, 0, 0), SAMERING_EINVAL);
  EXPECT_EQ(client_set(c.p, "k", 1, nullptr, 0, 0, 0, 0), SAMERING_OK);  // empty value

  const char* ver = nullptr;
  ASSERT_EQ(client_version(c.p, 2, &ver), SAMERING_OK);
  RawConnection raw(cluster.node(2).port());
  EXPECT_EQ("VERSION " + std::string(ver), raw.command("version"));
  EXPECT_EQ(client_version(c.p, 3, &ver), SAMERING_EINVAL);

  // noreply, then sync.
  for (int i = 0; i < 20; ++i) ASSERT_EQ(set("nr" + std::to_string(i), "x", 0, CLIENT_NOREPLY), SAMERING_OK);
  ASSERT_EQ(client_sync(c.p), SAMERING_OK);
  EXPECT_EQ(get("nr19", v), SAMERING_OK);

  int status[3];
  EXPECT_EQ(client_flush_all(c.p, 0, status, 0), 3);
  EXPECT_EQ(status[0], SAMERING_OK);
  EXPECT_EQ(get("nr19", v), SAMERING_NOT_FOUND);
  EXPECT_EQ(client_flush(c.p, 3, 0, 0), SAMERING_EINVAL);
  EXPECT_EQ(client_disconnect_all(c.p), SAMERING_OK);
  EXPECT_EQ(set("after-disconnect", "x"), SAMERING_OK);
}

TEST_F(CClient, MultiCallsGiveEveryKeyItsCode) {
  client_store_t items[4] = {};
  const char* names[4] = {"m:a", "m:b", "bad key", "m:c"};
  const char* values[4] = {"1", "2", "x", "3"};
  for (int i = 0; i < 4; ++i) {
    items[i].key = names[i];
    items[i].key_len = std::strlen(names[i]);
    items[i].value = values[i];
    items[i].value_len = 1;
    items[i].flags = static_cast<uint32_t>(i);
  }
  EXPECT_EQ(client_store_multi(c.p, CLIENT_SET, items, 4, 0), 3);
  EXPECT_EQ(items[2].status, SAMERING_EKEY);
  EXPECT_EQ(client_store_multi(c.p, CLIENT_ADD, items, 2, 0), 0);
  EXPECT_EQ(items[0].status, SAMERING_NOT_STORED);
  EXPECT_EQ(client_store_multi(c.p, 42, items, 1, 0), SAMERING_EINVAL);

  const char* keys[5] = {"m:a", "m:b", "m:missing", "bad key", "m:c"};
  size_t lens[5];
  for (int i = 0; i < 5; ++i) lens[i] = std::strlen(keys[i]);
  int status[5];
  std::map<size_t, std::string> got;
  auto collect = [](void* ctx, size_t index, const char* value, size_t len, uint32_t, uint64_t cas) {
    (*static_cast<std::map<size_t, std::string>*>(ctx))[index] =
        std::string(value, len) + ":" + std::to_string(cas != 0);
  };
  EXPECT_EQ(client_get_multi(c.p, keys, lens, 5, status, collect, &got), 3);
  EXPECT_EQ(got[0], "1:0");
  EXPECT_EQ(got[4], "3:0");
  EXPECT_EQ(status[2], SAMERING_NOT_FOUND);
  EXPECT_EQ(status[3], SAMERING_EKEY);
  got.clear();
  EXPECT_EQ(client_gets_multi(c.p, keys, lens, 5, nullptr, collect, &got), 3);
  EXPECT_EQ(got[1], "2:1");
  EXPECT_EQ(client_get_multi(c.p, keys, nullptr, 5, status, nullptr, nullptr), SAMERING_EINVAL);

  client_arith_t ar[2] = {{"m:a", 3, 10, 0, 0}, {"m:missing", 9, 1, 0, 0}};
  EXPECT_EQ(client_incr_multi(c.p, ar, 2, 0), 1);
  EXPECT_EQ(ar[0].value, 11u);
  EXPECT_EQ(ar[1].status, SAMERING_NOT_FOUND);
  EXPECT_EQ(client_decr_multi(c.p, ar, 1, 0), 1);
  EXPECT_EQ(ar[0].value, 1u);

  client_touch_t t[2] = {{"m:b", 3, 100, 0}, {"m:missing", 9, 100, 0}};
  EXPECT_EQ(client_touch_multi(c.p, t, 2), 1);
  EXPECT_EQ(t[1].status, SAMERING_NOT_FOUND);

  EXPECT_EQ(client_delete_multi(c.p, keys, lens, 5, status, 0), 3);
  EXPECT_EQ(status[2], SAMERING_NOT_FOUND);
  EXPECT_EQ(status[3], SAMERING_EKEY);
}

TEST(CClientDown, DownServerIsEdownWithAMessage) {
  const std::uint16_t port = client_test::free_port();
  const std::string json = R"({"flavor":"cmf","servers":[{"host":"127.0.0.1","port":)" + std::to_string(port) + "}]}";
  Handle c;
  ASSERT_EQ(make(json, c), SAMERING_OK);
  client_value_t v;
  EXPECT_EQ(client_get(c.p, "k", 1, &v), SAMERING_EDOWN);
  EXPECT_NE(std::string(client_last_error(c.p)).find("127.0.0.1:" + std::to_string(port)), std::string::npos)
      << client_last_error(c.p);
  EXPECT_EQ(client_set(c.p, "k", 1, "v", 1, 0, 0, 0), SAMERING_EDOWN);
  const char* k = "k";
  size_t len = 1;
  int status = 0;
  EXPECT_EQ(client_get_multi(c.p, &k, &len, 1, &status, nullptr, nullptr), 0);
  EXPECT_EQ(status, SAMERING_EDOWN);
}

}  // namespace
