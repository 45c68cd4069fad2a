// samering::Client across fork (DESIGN.md "Fork safety"): a child drops the parent's connections
// without writing a byte or a shutdown on them and opens its own; 64 children and the parent use
// one Client's connections concurrently with no cross-talk.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
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
using samering::Client;
using samering::Item;
using samering::Status;

// Waits (bounded) for a child; its exit status, or -1 on timeout (the child is then killed).
int wait_child(pid_t pid, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      return -1;
    }
    std::this_thread::sleep_for(1ms);
  }
}

// The child's work: its own keys written, read one by one and in a multi-get. 0 if all agree.
int child_work(Client& client, int child) {
  const std::string tag = std::to_string(child) + "/" + std::to_string(::getpid());
  std::vector<std::string> names;
  for (int k = 0; k < 20; ++k) names.push_back("child:" + std::to_string(child) + ":" + std::to_string(k));
  for (int round = 0; round < 3; ++round) {
    for (int k = 0; k < 20; ++k) {
      const std::string value = tag + ":" + std::to_string(round) + ":" + std::to_string(k);
      if (client.set(names[k], value, static_cast<std::uint32_t>(child)) != Status::ok) {
        std::fprintf(stderr, "child %d: set: %s\n", child, std::string(client.last_error()).c_str());
        return 1;
      }
      Item item;
      if (client.get(names[k], item) != Status::ok || item.value != value ||
          item.flags != static_cast<std::uint32_t>(child)) {
        std::fprintf(stderr, "child %d: get %s gave '%s'\n", child, names[k].c_str(), item.value.c_str());
        return 2;
      }
    }
    std::vector<std::string_view> keys(names.begin(), names.end());
    const auto results = client.get_multi(keys);
    for (int k = 0; k < 20; ++k) {
      const std::string value = tag + ":" + std::to_string(round) + ":" + std::to_string(k);
      if (results[k].status != Status::ok || results[k].item.value != value) {
        std::fprintf(stderr, "child %d: get_multi %s gave '%s'\n", child, names[k].c_str(),
                     results[k].item.value.c_str());
        return 3;
      }
    }
  }
  return 0;
}

TEST(ClientFork, SixtyFourChildrenAndTheParentShareNoReplies) {
  Cluster cluster;
  Client client(samering::ring_from_json(cluster.spec()));
  // The parent's connections to every node are open before the fork.
  std::vector<std::string> mine;
  for (int i = 0; i < 30; ++i) {
    mine.push_back(std::string("parent:") + std::to_string(i));
    ASSERT_EQ(client.set(mine.back(), std::string("p") + std::to_string(i)), Status::ok);
  }
  std::vector<pid_t> children;
  for (int c = 0; c < 64; ++c) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) ::_exit(child_work(client, c));  // _exit: no gtest teardown in the child
    children.push_back(pid);
  }
  // The parent keeps using its own connections while the children run.
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 30; ++i) {
      const std::string value = "p" + std::to_string(i) + "r" + std::to_string(round);
      ASSERT_EQ(client.set(mine[i], value), Status::ok) << client.last_error();
      Item item;
      ASSERT_EQ(client.get(mine[i], item), Status::ok) << client.last_error();
      ASSERT_EQ(item.value, value);
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  for (std::size_t c = 0; c < children.size(); ++c) {
    EXPECT_EQ(wait_child(children[c], deadline), 0) << "child " << c;
  }
  // After all children exited (closing their copies), the parent's connections still work.
  std::vector<std::string_view> keys(mine.begin(), mine.end());
  const auto results = client.get_multi(keys);
  for (int i = 0; i < 30; ++i) {
    ASSERT_EQ(results[i].status, Status::ok) << mine[i];
    EXPECT_EQ(results[i].item.value, "p" + std::to_string(i) + "r19");
  }
  // And every child's last values are there, each on its own key.
  for (int c = 0; c < 64; ++c) {
    Item item;
    ASSERT_EQ(client.get("child:" + std::to_string(c) + ":7", item), Status::ok);
    EXPECT_EQ(item.value.substr(0, item.value.find('/')), std::to_string(c));
  }
}

TEST(ClientFork, ChildWritesNothingOnTheParentsSocket) {
  FakeServer fake(1, FakeServer::Mode::immediate);
  Client client(samering::ring_from_json(R"({"flavor":"cmf","servers":[{"host":"127.0.0.1","port":)" +
                                         std::to_string(fake.port(0)) + "}]}"));
  Item item;
  ASSERT_EQ(client.get("from-parent-1", item), Status::ok) << client.last_error();
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    Item child_item;
    const bool ok = client.get("from-child", child_item) == Status::ok && child_item.value == "v:from-child";
    client.disconnect_all();  // the child's own connection: "quit" on it
    ::_exit(ok ? 0 : 1);
  }
  ASSERT_EQ(wait_child(pid, std::chrono::steady_clock::now() + 10s), 0);
  ASSERT_EQ(client.get("from-parent-2", item), Status::ok) << client.last_error();
  EXPECT_EQ(item.value, "v:from-parent-2");

  const auto log = fake.report();
  ASSERT_EQ(log.size(), 2u) << "the parent's connection and the child's own";
  // The parent's connection carried the parent's two requests and nothing else, and was never
  // shut down (the child did not "quit" or shutdown(2) it).
  EXPECT_EQ(log[0].received, "get from-parent-1\r\nget from-parent-2\r\n");
  EXPECT_FALSE(log[0].closed);
  EXPECT_EQ(log[1].received, "get from-child\r\nquit\r\n");
}

TEST(ClientFork, ChildThatNeverUsedTheClientLeavesTheParentAlone) {
  // A child that only destroys its copy of the Client (e.g. at exit) must not "quit" either.
  FakeServer fake(1, FakeServer::Mode::immediate);
  auto client = std::make_unique<Client>(samering::ring_from_json(
      R"({"flavor":"cmf","servers":[{"host":"127.0.0.1","port":)" + std::to_string(fake.port(0)) + "}]}"));
  Item item;
  ASSERT_EQ(client->get("p1", item), Status::ok);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    client.reset();
    ::_exit(0);
  }
  ASSERT_EQ(wait_child(pid, std::chrono::steady_clock::now() + 10s), 0);
  ASSERT_EQ(client->get("p2", item), Status::ok) << client->last_error();
  const auto log = fake.report();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].received, "get p1\r\nget p2\r\n");
  EXPECT_FALSE(log[0].closed);
}

}  // namespace
