// The C API over the broker (selector_new_from_broker) and its error codes; local selectors are
// unchanged (source LOCAL, generation 0).
#include <gtest/gtest.h>

#include <cstring>

#include "broker_support.hpp"
#include "samering/selector.h"

namespace {

using namespace broker_test;

struct Handle {
  selector_t* sel = nullptr;
  ~Handle() { selector_free(sel); }
};

TEST(BrokerCApi, NoBrokerIsEconnWithTheReason) {
  samering_test::TempDir dir;
  const std::string path = (dir.path() / "nobody.sock").string();
  Handle h;
  char err[256];
  EXPECT_EQ(selector_new_from_broker(path.c_str(), "main", 1000, &h.sel, err, sizeof err), SAMERING_EDOWN);
  EXPECT_EQ(h.sel, nullptr);
  EXPECT_NE(std::string(err).find(path), std::string::npos) << err;
  EXPECT_NE(std::string(err).find("connect"), std::string::npos) << err;
  // One code space (samering/common.h): the broker's failures share the client's names.
  EXPECT_STREQ(samering_strerror(SAMERING_EDOWN), "cannot connect (server or broker down)");
  EXPECT_STREQ(samering_strerror(SAMERING_ETIMEDOUT), "timeout");
  EXPECT_STREQ(samering_strerror(SAMERING_EBROKER), "the broker answered with an error");
  EXPECT_STREQ(samering_strerror(SAMERING_EPROTO), "protocol error");
}

TEST(BrokerCApi, NullArgumentsAndMissingRing) {
  Fixture f;
  Handle h;
  char err[256];
  EXPECT_EQ(selector_new_from_broker(nullptr, "main", 0, &h.sel, err, sizeof err), SAMERING_EINVAL);
  EXPECT_EQ(selector_new_from_broker(f.socket.c_str(), nullptr, 0, &h.sel, err, sizeof err), SAMERING_EINVAL);
  EXPECT_EQ(selector_new_from_broker(f.socket.c_str(), "main", 0, nullptr, err, sizeof err), SAMERING_EINVAL);
  EXPECT_EQ(selector_new_from_broker(f.socket.c_str(), "nosuch", 0, &h.sel, err, sizeof err), SAMERING_EBROKER);
  EXPECT_NE(std::string(err).find("no_such_ring"), std::string::npos) << err;
  EXPECT_EQ(selector_new_from_shm(nullptr, "main", &h.sel, err, sizeof err), SAMERING_EINVAL);
}

TEST(BrokerCApi, TimeoutWhenNobodyAnswers) {
  samering_test::TempDir dir;
  const std::string path = (dir.path() / "mute.sock").string();
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strcpy(a.sun_path, path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 8), 0);  // accepts into the backlog, never answers
  Handle h;
  char err[256];
  const auto t0 = Clock::now();
  EXPECT_EQ(selector_new_from_broker(path.c_str(), "main", 200, &h.sel, err, sizeof err), SAMERING_ETIMEDOUT) << err;
  EXPECT_LT(Clock::now() - t0, 2s);
  ::close(fd);
}

TEST(BrokerCApi, PicksGenerationsAndServerListsFollowReloads) {
  const std::string a = ketama_spec(3), b = ketama_spec(7, 60000);
  Fixture f(a, {"--no-watch"});
  const samering::Ring ra = samering::ring_from_json(a), rb = samering::ring_from_json(b);
  Handle h;
  char err[256];
  ASSERT_EQ(selector_new_from_broker(f.socket.c_str(), "main", 2000, &h.sel, err, sizeof err), SAMERING_OK) << err;
  EXPECT_EQ(selector_source(h.sel), SELECTOR_SOURCE_BROKER);
  const std::uint64_t g0 = f.generation();
  EXPECT_EQ(selector_generation(h.sel), g0);
  EXPECT_EQ(selector_server_count(h.sel), 3);
  EXPECT_EQ(std::string(selector_server(h.sel, 0)), ra.server(0).address);
  std::uint64_t g = 0;
  const char* address = nullptr;
  EXPECT_EQ(selector_pick_server(h.sel, "key", 3, &g, &address), ra.pick("key"));
  EXPECT_EQ(g, g0);
  ASSERT_NE(address, nullptr);
  EXPECT_EQ(std::string(address), ra.server(static_cast<std::size_t>(ra.pick("key"))).address);

  write_atomically(f.spec, b);
  samering::BrokerSelector(f.socket, "main").reload();
  const int i = selector_pick_server(h.sel, "key", 3, &g, nullptr);
  EXPECT_EQ(i, rb.pick("key"));
  EXPECT_EQ(g, g0 + 1);
  EXPECT_EQ(selector_generation(h.sel), g0 + 1);
  EXPECT_EQ(selector_server_count(h.sel), 7);
  EXPECT_EQ(std::string(selector_server(h.sel, i)), rb.server(static_cast<std::size_t>(i)).address);
  EXPECT_EQ(selector_server(h.sel, 7), nullptr);
  // Strings of a broker handle live until the next call (selector.h): the handle keeps one list.
  // A batch answers from one generation with that generation's addresses.
  const char* keys[] = {"key", "other", "third"};
  const size_t lens[] = {3, 5, 5};
  int out[3];
  const char* addresses[3] = {};
  std::uint64_t batch_generation = 0;
  ASSERT_EQ(selector_pick_many(h.sel, keys, lens, 3, out, addresses, &batch_generation), SAMERING_OK);
  EXPECT_EQ(batch_generation, g0 + 1);
  for (int k = 0; k < 3; ++k) {
    ASSERT_EQ(out[k], rb.pick(keys[k]));
    ASSERT_NE(addresses[k], nullptr);
    EXPECT_EQ(std::string(addresses[k]), rb.server(static_cast<std::size_t>(out[k])).address);
  }
}

TEST(BrokerCApi, BrokerShmFindsTheSharedMemoryThroughTheBroker) {
  const std::string a = ketama_spec(4);
  const samering::Ring ra = samering::ring_from_json(a);
  char err[256];
  {
    Fixture no_shm(a, {"--no-watch"});
    Handle h;
    EXPECT_EQ(selector_new_from_broker_shm(no_shm.socket.c_str(), "main", 2000, &h.sel, err, sizeof err),
              SAMERING_EBROKER);
    EXPECT_NE(std::string(err).find("--shm-dir"), std::string::npos) << err;
    EXPECT_EQ(h.sel, nullptr);
  }
  samering_test::TempDir shm;
  Fixture f(a, {"--no-watch", "--shm-dir", shm.path().string()});
  Handle h;
  ASSERT_EQ(selector_new_from_broker_shm(f.socket.c_str(), "main", 2000, &h.sel, err, sizeof err), SAMERING_OK)
      << err;
  EXPECT_EQ(selector_source(h.sel), SELECTOR_SOURCE_SHM);
  for (const char* key : {"a", "foo", "user:1234", "session:9f8e7d"})
    EXPECT_EQ(selector_pick(h.sel, key, std::strlen(key)), ra.pick(key)) << key;
  Handle missing;
  EXPECT_EQ(selector_new_from_broker_shm(f.socket.c_str(), "nope", 2000, &missing.sel, err, sizeof err),
            SAMERING_EBROKER);
}

TEST(BrokerCApi, BrokerGoneIsEconnAndTheHandleRecovers) {
  Fixture f;
  const samering::Ring r = samering::ring_from_json(ketama_spec(5));
  Handle h;
  char err[256];
  ASSERT_EQ(selector_new_from_broker(f.socket.c_str(), "main", 2000, &h.sel, err, sizeof err), SAMERING_OK) << err;
  ASSERT_EQ(f.broker->stop(), 0);
  EXPECT_EQ(selector_pick(h.sel, "k", 1), SAMERING_EDOWN);
  EXPECT_NE(std::string(selector_last_error(h.sel)).find(f.socket), std::string::npos) << selector_last_error(h.sel);
  const char* keys[] = {"a", "b"};
  const size_t lens[] = {1, 1};
  int out[2];
  EXPECT_EQ(selector_pick_many(h.sel, keys, lens, 2, out, nullptr, nullptr), SAMERING_EDOWN);
  BrokerProcess again({"--socket", f.socket, "--ring", "main=" + f.spec.string()}, f.dir.path() / "again.log");
  ASSERT_TRUE(again.wait_ready()) << again.log();
  EXPECT_EQ(selector_pick(h.sel, "k", 1), r.pick("k"));
  ASSERT_EQ(selector_pick_many(h.sel, keys, lens, 2, out, nullptr, nullptr), SAMERING_OK);
  EXPECT_EQ(out[0], r.pick("a"));
  EXPECT_EQ(out[1], r.pick("b"));
}

// Issue 20, defect 10: a generation never names two rings on one host. A broker restarted
// without --shm-dir and with another spec used to count from 1 again, so one number named two
// server lists; now its first generation is above every earlier one, and the handle's server
// list follows the new broker's ring.
TEST(BrokerCApi, ARestartedBrokerWithAnotherSpecGetsANewGenerationAndItsOwnServers) {
  Fixture f(ketama_spec(3, 21000));
  const samering::Ring b = samering::ring_from_json(ketama_spec(7, 23000));
  Handle h;
  char err[256];
  ASSERT_EQ(selector_new_from_broker(f.socket.c_str(), "main", 2000, &h.sel, err, sizeof err), SAMERING_OK) << err;
  ASSERT_GE(selector_pick(h.sel, "k", 1), 0);
  const std::uint64_t before = selector_generation(h.sel);
  ASSERT_EQ(f.broker->stop(), 0);
  write_atomically(f.spec, ketama_spec(7, 23000));
  BrokerProcess again({"--socket", f.socket, "--ring", "main=" + f.spec.string()}, f.dir.path() / "again.log");
  ASSERT_TRUE(again.wait_ready()) << again.log();
  std::size_t checked = 0;
  std::uint64_t after = 0;
  for (const auto& k : make_keys(200)) {
    std::uint64_t gen = 0;
    const int i = selector_pick_server(h.sel, k.data(), k.size(), &gen, nullptr);
    ASSERT_EQ(i, b.pick(k)) << k;
    after = gen;
    ASSERT_NE(selector_server(h.sel, i), nullptr);
    EXPECT_EQ(std::string(selector_server(h.sel, i)), b.server(static_cast<std::size_t>(i)).address) << k;
    ++checked;
  }
  EXPECT_GT(after, before) << "the restarted broker's generation must not repeat the old one's";
  EXPECT_EQ(selector_generation(h.sel), after);
  EXPECT_EQ(selector_server_count(h.sel), 7);
  EXPECT_EQ(checked, 200u);
}

TEST(BrokerCApi, ForkedChildrenShareNothingOnTheWire) {
  Fixture f(ketama_spec(9));
  const samering::Ring r = samering::ring_from_json(ketama_spec(9));
  Handle h;
  char err[256];
  ASSERT_EQ(selector_new_from_broker(f.socket.c_str(), "main", 5000, &h.sel, err, sizeof err), SAMERING_OK) << err;
  std::vector<pid_t> pids;
  for (int c = 0; c < 16; ++c) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int rc = 0;
      for (const auto& k : make_keys(300, "c" + std::to_string(c) + "-"))
        if (selector_pick(h.sel, k.data(), k.size()) != r.pick(k)) rc = 2;
      ::_exit(rc);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    const auto st = wait_child(pid, 20000ms);
    ASSERT_TRUE(st);
    EXPECT_EQ(WEXITSTATUS(*st), 0);
  }
  EXPECT_EQ(selector_pick(h.sel, "parent", 6), r.pick("parent"));
}

TEST(BrokerCApi, LocalSelectorsAreUnchanged) {
  const std::string spec = ketama_spec(4);
  Handle h;
  char err[256];
  ASSERT_EQ(selector_new_from_json(spec.data(), spec.size(), &h.sel, err, sizeof err), SAMERING_OK);
  EXPECT_EQ(selector_source(h.sel), SELECTOR_SOURCE_LOCAL);
  EXPECT_EQ(selector_generation(h.sel), 0u);
  std::uint64_t g = 99;
  EXPECT_EQ(selector_pick_server(h.sel, "k", 1, &g, nullptr), selector_pick(h.sel, "k", 1));
  EXPECT_EQ(g, 0u);
  EXPECT_EQ(selector_source(nullptr), SAMERING_EINVAL);
}

}  // namespace
