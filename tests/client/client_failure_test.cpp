// samering::Client when servers fail: a node killed mid-run gives errors for its own keys only and
// nothing is written elsewhere (no rehash); it recovers after the retry timeout once restarted;
// I/O timeouts; and the multi-get wire order (every request written before any reply is read).
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "fake_server.hpp"
#include "memcached_process.hpp"
#include "samering/client.hpp"
#include "status_printer.hpp"

namespace {

using namespace std::chrono_literals;
using client_test::Cluster;
using client_test::FakeServer;
using client_test::RawConnection;
using samering::Client;
using samering::ClientOptions;
using samering::Item;
using samering::Status;

std::string fake_spec(const FakeServer& fake) {
  std::string s = R"({"flavor":"cmf","servers":[)";
  for (std::size_t i = 0; i < fake.listeners(); ++i) {
    if (i) s += ",";
    s += R"({"host":"127.0.0.1","port":)" + std::to_string(fake.port(i)) + "}";
  }
  return s + "]}";
}

TEST(ClientFailure, KilledNodeFailsOnlyItsKeysAndRecoversAfterRetryTimeout) {
  Cluster cluster;
  ClientOptions options;
  options.connect_timeout = 200ms;
  options.io_timeout = 500ms;
  options.retry_timeout = 1000ms;
  Client client(samering::ring_from_json(cluster.spec()), options);

  std::vector<std::string> keys;
  std::vector<std::size_t> home;
  for (int i = 0; i < 150; ++i) {
    keys.push_back("kill:" + std::to_string(i));
    home.push_back(static_cast<std::size_t>(client.server_for(keys.back())));
    ASSERT_EQ(client.set(keys.back(), "before"), Status::ok);
  }
  const std::size_t dead = 1;
  ASSERT_GT(std::count(home.begin(), home.end(), dead), 10);
  cluster.node(dead).kill();

  // Every key written again: errors for the dead node's keys only.
  auto last_failure = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const Status s = client.set(keys[i], "after");
    if (home[i] == dead) {
      EXPECT_TRUE(s == Status::server_down || s == Status::connection_lost)
          << keys[i] << ": " << samering::to_string(s);
      last_failure = std::chrono::steady_clock::now();
    } else {
      EXPECT_EQ(s, Status::ok) << keys[i] << ": " << client.last_error();
    }
  }
  EXPECT_NE(client.last_error().find("127.0.0.1:" + std::to_string(cluster.node(dead).port())), std::string_view::npos)
      << client.last_error();
  // Nothing went to another node: the live nodes hold their own keys ("after") and none of the
  // dead node's keys.
  for (std::size_t j = 0; j < cluster.size(); ++j) {
    if (j == dead) continue;
    RawConnection raw(cluster.node(j).port());
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const auto v = raw.get(keys[i]);
      if (home[i] == j) {
        ASSERT_TRUE(v) << keys[i];
        EXPECT_EQ(v->data, "after");
      } else {
        EXPECT_FALSE(v) << keys[i] << " leaked to node " << j;
      }
    }
  }
  // A multi-get gives the dead node's keys its error and the others their values.
  std::vector<std::string_view> views(keys.begin(), keys.end());
  const auto results = client.get_multi(views);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (home[i] == dead) {
      EXPECT_EQ(results[i].status, Status::server_down) << keys[i];
    } else {
      ASSERT_EQ(results[i].status, Status::ok) << keys[i];
      EXPECT_EQ(results[i].item.value, "after");
    }
  }

  // Restarted: still refused by the client until the retry timeout has passed, then served. The
  // retry timeout starts at a refused connect: wait out the current one, then make one.
  std::size_t dead_key = 0;
  while (home[dead_key] != dead) ++dead_key;
  std::this_thread::sleep_for(options.retry_timeout + 50ms);
  ASSERT_EQ(client.set(keys[dead_key], "refused"), Status::server_down);
  last_failure = std::chrono::steady_clock::now();
  cluster.node(dead).restart();
  if (std::chrono::steady_clock::now() - last_failure < 800ms) {
    EXPECT_EQ(client.set(keys[dead_key], "too-early"), Status::server_down);
    EXPECT_NE(client.last_error().find("not retried"), std::string_view::npos) << client.last_error();
  }
  std::this_thread::sleep_until(last_failure + options.retry_timeout + 100ms);
  ASSERT_EQ(client.set(keys[dead_key], "recovered"), Status::ok) << client.last_error();
  RawConnection raw(cluster.node(dead).port());
  const auto v = raw.get(keys[dead_key]);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->data, "recovered");
  Item item;
  EXPECT_EQ(client.get(keys[dead_key], item), Status::ok);
}

TEST(ClientFailure, RefusedConnectStartsTheRetryTimeoutWithoutWaiting) {
  // A port nobody listens on: connect is refused at once; then the server is left alone.
  const std::uint16_t port = client_test::free_port();
  ClientOptions options;
  options.retry_timeout = 60'000ms;
  Client client(samering::ring_from_json(R"({"flavor":"cmf","servers":[{"host":"127.0.0.1","port":)" +
                                         std::to_string(port) + "}]}"),
                options);
  Item item;
  EXPECT_EQ(client.get("k", item), Status::server_down) << client.last_error();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(client.set("k", "v"), Status::server_down);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms) << "no connect attempts inside the retry timeout";
  EXPECT_NE(client.last_error().find("not retried"), std::string_view::npos) << client.last_error();
  // A bad key is still a bad key, whatever the server's state.
  EXPECT_EQ(client.set("bad key", "v"), Status::bad_key);
}

std::string refused_spec(std::uint16_t port) {
  return R"({"flavor":"cmf","servers":[{"host":"127.0.0.1","port":)" + std::to_string(port) + "}]}";
}

TEST(ClientFailure, MaxFailuresWithinTheRetryTimeoutStartIt) {
  ClientOptions options;
  options.retry_timeout = 60'000ms;
  options.max_failures = 3;
  Client client(samering::ring_from_json(refused_spec(client_test::free_port())), options);
  for (int i = 1; i <= 2; ++i) {
    EXPECT_EQ(client.set("k", "v"), Status::server_down) << i;
    EXPECT_EQ(client.last_error().find("not retried"), std::string_view::npos) << i << ": " << client.last_error();
  }
  EXPECT_EQ(client.set("k", "v"), Status::server_down);
  EXPECT_NE(client.last_error().find("not retried for 60000 ms"), std::string_view::npos) << client.last_error();
  EXPECT_EQ(client.set("k", "v"), Status::server_down);
  EXPECT_NE(client.last_error().find("not retried for another"), std::string_view::npos) << client.last_error();
}

TEST(ClientFailure, MaxFailuresCountOnlyWithinTheRetryTimeout) {
  ClientOptions options;
  options.retry_timeout = 200ms;
  options.max_failures = 2;
  Client client(samering::ring_from_json(refused_spec(client_test::free_port())), options);
  EXPECT_EQ(client.set("k", "v"), Status::server_down);
  std::this_thread::sleep_for(300ms);  // the first failure is too old to count
  EXPECT_EQ(client.set("k", "v"), Status::server_down);
  EXPECT_EQ(client.last_error().find("not retried"), std::string_view::npos) << client.last_error();
  EXPECT_EQ(client.set("k", "v"), Status::server_down);
  EXPECT_NE(client.last_error().find("not retried for 200 ms"), std::string_view::npos) << client.last_error();
}

TEST(ClientFailure, SilentServerTimesOutWithinTheIoTimeout) {
  FakeServer fake(1, FakeServer::Mode::silent);
  ClientOptions options;
  options.io_timeout = 200ms;
  options.retry_timeout = 300ms;
  Client client(samering::ring_from_json(fake_spec(fake)), options);
  Item item;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(client.get("k", item), Status::timeout) << client.last_error();
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, 150ms);
  EXPECT_LT(took, 2s);
  // Inside the retry timeout: refused at once.
  EXPECT_EQ(client.get("k", item), Status::server_down);
}

TEST(ClientFailure, ConnectTimeoutOnAServerThatNeverAccepts) {
  // A listener whose accept queue is full (backlog 0, never accepted): Linux drops further SYNs,
  // so a connect hangs until the client's connect timeout.
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(listener, 0), 0);
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len), 0);
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    fillers.push_back(fd);
  }
  std::this_thread::sleep_for(100ms);
  ClientOptions options;
  options.connect_timeout = 200ms;
  options.retry_timeout = 5000ms;
  Client client(samering::ring_from_json(R"({"flavor":"cmf","servers":[{"host":"127.0.0.1","port":)" +
                                         std::to_string(ntohs(a.sin_port)) + "}]}"),
                options);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(client.set("k", "v"), Status::timeout) << client.last_error();
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, 150ms);
  EXPECT_LT(took, 2s);
  EXPECT_EQ(client.set("k", "v"), Status::server_down);  // inside the retry timeout: no new attempt
  for (const int fd : fillers) ::close(fd);
  ::close(listener);
}

TEST(ClientWire, MultiGetSendsEveryRequestBeforeReadingAnyReply) {
  // The fake servers answer only once all three have a get request. A client that read server
  // A's reply before sending B's and C's requests would time out here.
  FakeServer fake(3, FakeServer::Mode::hold_until_all);
  ClientOptions options;
  options.io_timeout = 2000ms;
  Client client(samering::ring_from_json(fake_spec(fake)), options);
  std::vector<std::string> names;
  std::vector<bool> used(3, false);
  for (int i = 0; i < 60; ++i) {
    names.push_back(std::string("w") + std::to_string(i));
    used[static_cast<std::size_t>(client.server_for(names.back()))] = true;
  }
  ASSERT_TRUE(used[0] && used[1] && used[2]);
  std::vector<std::string_view> keys(names.begin(), names.end());
  const auto results = client.get_multi(keys);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ(results[i].status, Status::ok) << names[i] << ": " << client.last_error();
    EXPECT_EQ(results[i].item.value, "v:" + names[i]);
  }
  // Each server received exactly one request, holding exactly its own keys in key order.
  const auto log = fake.report();
  ASSERT_EQ(log.size(), 3u);
  for (const auto& conn : log) {
    std::string expected = "get";
    for (const auto& n : names) {
      if (client.server_for(n) == conn.listener) expected += " " + n;
    }
    EXPECT_EQ(conn.received, expected + "\r\n") << "listener " << conn.listener;
  }
}

}  // namespace
