// The broker under load: 1,000 simultaneous connections, the connection limit, 64 forked children
// pipelining picks through one inherited BrokerSelector (no cross-talk), and reloads under load
// where every answer matches the generation that produced it.
#include <gtest/gtest.h>
#include <poll.h>

#include <map>

#include "broker_support.hpp"

namespace {

using namespace broker_test;
using proto::ErrorCode;

TEST(BrokerConnections, AThousandAtOnce) {
  raise_nofile(4096);
  Fixture f(ketama_spec(5), {"--max-connections", "2000"});
  constexpr int kClients = 1000;
  std::vector<std::unique_ptr<RawClient>> clients;
  clients.reserve(kClients);
  for (int i = 0; i < kClients; ++i) clients.push_back(std::make_unique<RawClient>(f.socket));
  // Everyone sends HELLO + PING(i) before anyone reads.
  for (int i = 0; i < kClients; ++i)
    clients[i]->send(hello_frame(1) + raw_frame(static_cast<std::uint8_t>(proto::Opcode::kPing), 2, std::to_string(i)));
  EXPECT_TRUE(eventually([&] { return f.stats()["connections"]["current"] >= kClients; }, 5000ms));
  for (int i = 0; i < kClients; ++i) {
    ASSERT_TRUE(clients[i]->read_frame()) << i;
    auto r = clients[i]->read_frame();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->payload, std::to_string(i));
  }
  clients.clear();
  EXPECT_TRUE(eventually([&] { return f.stats()["connections"]["current"] == 1; }, 5000ms));
}

TEST(BrokerConnections, BeyondTheLimitGetsAnErrorFrameAndIsClosed) {
  Fixture f(ketama_spec(3), {"--max-connections", "2"});
  RawClient a(f.socket), b(f.socket);
  a.send(hello_frame(1));
  b.send(hello_frame(1));
  ASSERT_TRUE(a.read_frame());
  ASSERT_TRUE(b.read_frame());
  RawClient c(f.socket);
  auto r = c.read_frame();
  ASSERT_TRUE(r);
  EXPECT_EQ(error_of(*r).code, ErrorCode::kTooManyConnections);
  EXPECT_TRUE(c.closed_by_peer());
  try {
    samering::BrokerSelector d(f.socket, "main");
    FAIL() << "a third connection must be refused";
  } catch (const samering::BrokerError& e) {
    EXPECT_EQ(e.kind(), samering::BrokerError::Kind::kConnect) << e.what();
  }
  a.send(raw_frame(static_cast<std::uint8_t>(proto::Opcode::kPing), 2, "still"));
  r = a.read_frame();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->payload, "still");
}

TEST(BrokerFork, SixtyFourChildrenPipelineThroughAnInheritedSelectorWithoutCrossTalk) {
  const std::string spec = ketama_spec(11);
  Fixture f(spec);
  const samering::Ring local = samering::ring_from_json(spec);
  samering::BrokerSelector sel(f.socket, "main");  // connected in the parent before fork
  ASSERT_EQ(sel.pick("parent").index, local.pick("parent"));
  constexpr int kChildren = 64;
  std::vector<pid_t> pids;
  for (int c = 0; c < kChildren; ++c) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int rc = 0;
      try {
        // Child-specific keys: an answer meant for another process would not match.
        const auto keys = make_keys(400, "child" + std::to_string(c) + ":");
        auto v = views(keys);
        std::vector<std::int32_t> out(v.size(), -2);
        for (int round = 0; round < 3 && rc == 0; ++round) {
          sel.pick_pipelined(v.data(), v.size(), out.data(), nullptr);
          for (std::size_t i = 0; i < v.size(); ++i)
            if (out[i] != local.pick(v[i])) rc = 2;
          std::fill(out.begin(), out.end(), -2);
          sel.pick_many(v.data(), v.size(), out.data());
          for (std::size_t i = 0; i < v.size(); ++i)
            if (out[i] != local.pick(v[i])) rc = 3;
          const auto p = sel.pick(keys[round]);
          if (p.index != local.pick(keys[round]) || p.address != local.server(static_cast<std::size_t>(p.index)).address)
            rc = 4;
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child %d: %s\n", c, e.what());
        rc = 5;
      }
      ::_exit(rc);
    }
    pids.push_back(pid);
  }
  std::map<int, int> codes;
  for (pid_t pid : pids) {
    const auto st = wait_child(pid, 30000ms);
    ASSERT_TRUE(st) << "a child did not finish in 30 s";
    codes[WIFEXITED(*st) ? WEXITSTATUS(*st) : 100 + WTERMSIG(*st)]++;
  }
  EXPECT_EQ(codes[0], kChildren) << "exit codes: 2/3/4 = wrong answer, 5 = exception";
  // The parent's own connection was never touched by a child: its ids still line up.
  for (const auto& k : make_keys(200, "parent-after:")) ASSERT_EQ(sel.pick(k).index, local.pick(k));
  const auto s = f.stats();
  EXPECT_EQ(s["errors"]["bad_frame"], 0);
  EXPECT_EQ(s["errors"]["handshake_required"], 0);
  EXPECT_GE(s["connections"]["total"], kChildren + 1);
}

TEST(BrokerReload, UnderLoadEveryAnswerMatchesItsGeneration) {
  // Every reload flips the file between spec A and spec B, so each generation serves one of them.
  const std::string spec_a = ketama_spec(4, 21000), spec_b = ketama_spec(9, 42000);
  Fixture f(spec_a);
  const samering::Ring a = samering::ring_from_json(spec_a), b = samering::ring_from_json(spec_b);
  const std::uint64_t g0 = f.generation();  // serves A; g0 + 1 serves B, g0 + 2 A again, ...
  auto ring_of = [&](std::uint64_t g) -> const samering::Ring& { return (g - g0) % 2 ? b : a; };
  constexpr int kWorkers = 4;
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  std::vector<pid_t> pids;
  for (int w = 0; w < kWorkers; ++w) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(go[1]);
      int rc = 0;
      std::uint64_t max_gen = 0;
      try {
        samering::BrokerSelector sel(f.socket, "main");
        const auto keys = make_keys(64, "w" + std::to_string(w) + ":");
        auto v = views(keys);
        std::vector<std::int32_t> out(v.size());
        std::vector<std::uint64_t> gens(v.size());
        char x;
        (void)!::read(go[0], &x, 1);  // start together
        const auto until = Clock::now() + 1500ms;
        while (Clock::now() < until && rc == 0) {
          sel.pick_pipelined(v.data(), v.size(), out.data(), gens.data());
          for (std::size_t i = 0; i < v.size(); ++i) {
            const samering::Ring& r = ring_of(gens[i]);
            if (out[i] != r.pick(v[i])) rc = 2;
            max_gen = std::max(max_gen, gens[i]);
          }
          const std::uint64_t g = sel.pick_many(v.data(), v.size(), out.data());
          for (std::size_t i = 0; i < v.size() && g; ++i)
            if (out[i] != ring_of(g).pick(v[i])) rc = 3;
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "worker %d: %s\n", w, e.what());
        rc = 5;
      }
      if (rc == 0 && max_gen < g0 + 2) rc = 6;  // the load must have seen several generations
      ::_exit(rc);
    }
    pids.push_back(pid);
  }
  ::close(go[0]);
  samering::BrokerSelector admin(f.socket, "main");
  (void)!::write(go[1], "gogo", kWorkers);
  ::close(go[1]);
  int reloads = 0;
  const auto until = Clock::now() + 1300ms;
  while (Clock::now() < until) {
    write_atomically(f.spec, reloads % 2 ? spec_a : spec_b);
    admin.reload("main");
    ++reloads;
    std::this_thread::sleep_for(20ms);
  }
  for (pid_t pid : pids) {
    const auto st = wait_child(pid, 20000ms);
    ASSERT_TRUE(st);
    EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0)
        << "worker exit " << (WIFEXITED(*st) ? WEXITSTATUS(*st) : -1) << " (2/3 = answer of the wrong generation)";
  }
  const auto s = f.stats();
  EXPECT_EQ(s["rings"]["main"]["generation"], g0 + reloads);
  EXPECT_EQ(s["reloads"]["failed"], 0);
}

}  // namespace
