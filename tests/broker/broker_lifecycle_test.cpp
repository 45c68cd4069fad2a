// The broker process: socket file mode and stale-socket handling, --validate, start-up errors,
// reloads (RELOAD, SIGHUP, spec-file change; a bad spec keeps the old ring; RELOAD from another
// uid is refused), graceful shutdown, and a client that outlives a broker restart.
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>

#include <fmt/format.h>

#include "broker_support.hpp"

namespace {

using namespace broker_test;
using proto::ErrorCode;

unsigned mode_of(const std::string& path) {
  struct stat st{};
  if (::lstat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

TEST(BrokerSocket, DefaultModeIs0660) {
  Fixture f;
  EXPECT_EQ(mode_of(f.socket), 0660u);
}

TEST(BrokerSocket, ModeOption) {
  Fixture f(ketama_spec(2), {"--socket-mode", "0666"});
  EXPECT_EQ(mode_of(f.socket), 0666u);
}

TEST(BrokerSocket, StaleSocketIsRemoved) {
  samering_test::TempDir dir;
  const auto spec = dir.write("s.json", ketama_spec(3));
  const std::string path = (dir.path() / "b.sock").string();
  {  // a socket file nobody listens on: what a killed broker leaves behind
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strcpy(a.sun_path, path.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ::close(fd);
  }
  ASSERT_TRUE(fs::exists(path));
  BrokerProcess b({"--socket", path, "--ring", "main=" + spec.string()}, dir.path() / "log");
  ASSERT_TRUE(b.wait_ready()) << b.log();
  EXPECT_NE(b.log().find("removed stale socket"), std::string::npos) << b.log();
  samering::BrokerSelector c(path, "main");
  EXPECT_NO_THROW(c.ping());
}

TEST(BrokerSocket, PathOfALiveBrokerIsRefused) {
  Fixture f;
  BrokerProcess second({"--socket", f.socket, "--ring", "main=" + f.spec.string()}, f.dir.path() / "second.log");
  EXPECT_EQ(second.wait_exit(5000ms), 1);
  EXPECT_NE(second.log().find("in use by a live broker"), std::string::npos) << second.log();
  samering::BrokerSelector c(f.socket, "main");
  EXPECT_NO_THROW(c.ping());
  EXPECT_EQ(c.broker_pid(), static_cast<std::uint32_t>(f.broker->pid()));
}

TEST(BrokerSocket, ListeningNonBrokerIsRefused) {
  samering_test::TempDir dir;
  const auto spec = dir.write("s.json", ketama_spec(3));
  const std::string path = (dir.path() / "b.sock").string();
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strcpy(a.sun_path, path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  BrokerProcess b({"--socket", path, "--ring", "main=" + spec.string()}, dir.path() / "log");
  EXPECT_EQ(b.wait_exit(5000ms), 1);
  EXPECT_NE(b.log().find("a live process is listening"), std::string::npos) << b.log();
  EXPECT_TRUE(fs::exists(path));
  ::close(fd);
}

TEST(BrokerSocket, RegularFileIsNeverRemoved) {
  samering_test::TempDir dir;
  const auto spec = dir.write("s.json", ketama_spec(3));
  const auto path = dir.write("not-a-socket", "precious");
  BrokerProcess b({"--socket", path.string(), "--ring", "main=" + spec.string()}, dir.path() / "log");
  EXPECT_EQ(b.wait_exit(5000ms), 1);
  EXPECT_NE(b.log().find("not a socket"), std::string::npos) << b.log();
  EXPECT_EQ(read_text(path), "precious");
}

TEST(BrokerSocket, SigtermStopsGracefullyAndRemovesTheSocket) {
  Fixture f;
  samering::BrokerSelector c(f.socket, "main");
  c.ping();
  EXPECT_EQ(f.broker->stop(), 0);
  EXPECT_FALSE(fs::exists(f.socket));
  EXPECT_NE(f.broker->log().find("SIGTERM: shutting down"), std::string::npos);
}

TEST(BrokerStart, ValidateReportsEveryBadSpecAndExitsNonZero) {
  samering_test::TempDir dir;
  const auto good = dir.write("good.json", ketama_spec(3));
  const auto bad = dir.write("bad.json", R"({"flavor": "cmf", "servers": [{"host": "a", "port": 99999}]})");
  {
    BrokerProcess b({"--validate", "--ring", "a=" + good.string()}, dir.path() / "ok.log");
    EXPECT_EQ(b.wait_exit(), 0);
    EXPECT_NE(b.log().find("ring a: ok"), std::string::npos);
  }
  BrokerProcess b({"--validate", "--ring", "a=" + good.string(), "--ring", "b=" + bad.string(), "--ring",
                   "c=" + (dir.path() / "missing.json").string()},
                  dir.path() / "bad.log");
  EXPECT_EQ(b.wait_exit(), 1);
  const std::string log = b.log();
  EXPECT_NE(log.find("ring b:"), std::string::npos) << log;
  EXPECT_NE(log.find("port"), std::string::npos) << log;
  EXPECT_NE(log.find("ring c:"), std::string::npos) << log;
  EXPECT_NE(log.find("cannot read"), std::string::npos) << log;
}

TEST(BrokerStart, BadSpecOrArgumentsPreventStarting) {
  samering_test::TempDir dir;
  const auto bad = dir.write("bad.json", "{not json");
  const std::string sock = (dir.path() / "b.sock").string();
  BrokerProcess b({"--socket", sock, "--ring", "main=" + bad.string()}, dir.path() / "1.log");
  EXPECT_EQ(b.wait_exit(), 1);
  EXPECT_FALSE(fs::exists(sock));
  BrokerProcess c({"--socket", sock, "--ring", "bad/name=" + bad.string()}, dir.path() / "2.log");
  EXPECT_EQ(c.wait_exit(), 2);
  BrokerProcess d({"--ring", "main=" + bad.string()}, dir.path() / "3.log");
  EXPECT_EQ(d.wait_exit(), 2);  // --socket missing
}

// ---- reload ----------------------------------------------------------------------------------

TEST(BrokerReload, ReloadRequestSwapsAndBumpsTheGeneration) {
  Fixture f(ketama_spec(3), {"--no-watch"});
  const samering::Ring a = samering::ring_from_json(ketama_spec(3));
  const samering::Ring b = samering::ring_from_json(ketama_spec(6, 40000));
  samering::BrokerSelector c(f.socket, "main");
  const std::uint64_t g = c.pick("key").generation;
  EXPECT_GT(g, 0u);
  // Unchanged spec: nothing moves.
  auto j = nlohmann::json::parse(c.reload());
  EXPECT_EQ(j["rings"]["main"]["ok"], true);
  EXPECT_EQ(j["rings"]["main"]["changed"], false);
  EXPECT_EQ(j["rings"]["main"]["generation"], g);
  write_atomically(f.spec, ketama_spec(6, 40000));
  j = nlohmann::json::parse(c.reload("main"));
  EXPECT_EQ(j["rings"]["main"]["changed"], true);
  EXPECT_EQ(j["rings"]["main"]["generation"], g + 1);
  for (const auto& k : make_keys(500)) {
    const auto p = c.pick(k);
    EXPECT_EQ(p.generation, g + 1);
    EXPECT_EQ(p.index, b.pick(k));
    EXPECT_EQ(p.address, b.server(static_cast<std::size_t>(p.index)).address);
  }
  const auto s = nlohmann::json::parse(c.stats());
  EXPECT_EQ(s["reloads"]["ok"], 2);
  EXPECT_EQ(s["rings"]["main"]["reloads"]["unchanged"], 1);
  EXPECT_EQ(s["rings"]["main"]["generation"], g + 1);
}

TEST(BrokerReload, BadSpecKeepsTheOldRingAndSaysWhy) {
  Fixture f(ketama_spec(4), {"--no-watch"});
  const samering::Ring a = samering::ring_from_json(ketama_spec(4));
  samering::BrokerSelector c(f.socket, "main");
  const std::uint64_t g = c.info().generation;
  write_atomically(f.spec, R"({"flavor": "cmf", "servers": [{"host": "10.0.0.1", "port": 0}]})");
  try {
    c.reload();
    FAIL() << "RELOAD of a bad spec must fail";
  } catch (const samering::BrokerError& e) {
    EXPECT_EQ(e.kind(), samering::BrokerError::Kind::kBroker);
    EXPECT_EQ(e.broker_code(), static_cast<int>(ErrorCode::kReloadFailed));
    EXPECT_NE(std::string(e.what()).find("servers[0].port"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(fmt::format("generation {} kept", g)), std::string::npos) << e.what();
  }
  for (const auto& k : make_keys(300)) {
    const auto p = c.pick(k);
    EXPECT_EQ(p.generation, g);
    EXPECT_EQ(p.index, a.pick(k));
  }
  // SIGHUP with the same bad spec: also refused, also kept.
  ::kill(f.broker->pid(), SIGHUP);
  EXPECT_TRUE(eventually([&] { return nlohmann::json::parse(c.stats())["reloads"]["failed"] == 2; }));
  auto s = nlohmann::json::parse(c.stats());
  EXPECT_EQ(s["rings"]["main"]["generation"], g);
  // STATS (any client) names the kind of failure and the file; the reason is the log's.
  EXPECT_EQ(s["rings"]["main"]["last_error"], f.spec.string() + ": invalid spec");
  EXPECT_EQ(s["reloads"]["last_error"], "ring main: " + f.spec.string() + ": invalid spec");
  EXPECT_NE(f.broker->log().find(fmt::format("reload (SIGHUP) failed, keeping generation {}: {}: servers[0].port", g,
                                             f.spec.string())),
            std::string::npos)
      << f.broker->log();
  // Unreadable JSON too.
  write_atomically(f.spec, "{\"flavor\": ");
  EXPECT_THROW(c.reload(), samering::BrokerError);
  EXPECT_EQ(c.pick("x").generation, g);
  // Fixed: the next reload succeeds.
  write_atomically(f.spec, ketama_spec(2));
  EXPECT_NO_THROW(c.reload());
  EXPECT_EQ(c.pick("x").generation, g + 1);
  s = nlohmann::json::parse(c.stats());
  EXPECT_EQ(s["rings"]["main"]["last_error"], "");
}

TEST(BrokerReload, SighupReloads) {
  Fixture f(ketama_spec(3), {"--no-watch"});
  samering::BrokerSelector c(f.socket, "main");
  const std::uint64_t g = c.info().generation;
  write_atomically(f.spec, ketama_spec(8));
  ::kill(f.broker->pid(), SIGHUP);
  EXPECT_TRUE(eventually([&] { return c.pick("k").generation == g + 1; }));
  EXPECT_EQ(c.info().servers.size(), 8u);
}

TEST(BrokerReload, SpecFileChangeReloads) {
  Fixture f(ketama_spec(3));
  samering::BrokerSelector c(f.socket, "main");
  const std::uint64_t g = c.info().generation;
  write_atomically(f.spec, ketama_spec(5));  // rename over the file, as config managers do
  EXPECT_TRUE(eventually([&] { return c.pick("k").generation == g + 1; }, 3000ms));
  {
    std::ofstream out(f.spec, std::ios::trunc);  // an in-place rewrite
    out << ketama_spec(7);
  }
  EXPECT_TRUE(eventually([&] { return c.pick("k").generation == g + 2; }, 3000ms));
  EXPECT_EQ(c.info().servers.size(), 7u);
  EXPECT_NE(f.broker->log().find("spec file changed"), std::string::npos);
}

TEST(BrokerReload, ReloadFromAnotherUidIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to setuid() a child to nobody";
  const passwd* nobody = ::getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  Fixture f(ketama_spec(3), {"--socket-mode", "0666", "--no-watch"});
  const std::uint64_t g = f.generation();
  ::chmod(f.dir.path().c_str(), 0755);  // nobody must reach the socket
  write_atomically(f.spec, ketama_spec(4));
  ::chmod(f.spec.c_str(), 0644);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int rc = 10;
    if (::setgroups(0, nullptr) == 0 && ::setgid(nobody->pw_gid) == 0 && ::setuid(nobody->pw_uid) == 0) {
      rc = 11;
      try {
        samering::BrokerSelector c(f.socket, "main");
        rc = 12;
        if (c.pick("k").generation != g) ::_exit(13);
        try {
          c.reload();
          rc = 14;  // must not succeed
        } catch (const samering::BrokerError& e) {
          rc = e.broker_code() == static_cast<int>(ErrorCode::kPermissionDenied) ? 0 : 15;
        }
        if (rc == 0 && c.pick("k").generation != g) rc = 16;  // still served, nothing reloaded
      } catch (...) {
      }
    }
    ::_exit(rc);
  }
  const auto status = wait_child(child, 10000ms);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0) << "child step failed (see the rc values in the test)";
  samering::BrokerSelector root(f.socket, "main");
  EXPECT_EQ(root.pick("k").generation, g);
  EXPECT_NO_THROW(root.reload());  // root (the broker's own uid here) may
  EXPECT_EQ(root.pick("k").generation, g + 1);
  EXPECT_EQ(nlohmann::json::parse(root.stats())["errors"]["permission_denied"], 1);
}

TEST(BrokerClient, SurvivesABrokerRestart) {
  Fixture f(ketama_spec(3));
  samering::BrokerSelector c(f.socket, "main");
  const auto before = c.pick("k");
  ASSERT_EQ(f.broker->stop(), 0);
  try {
    c.pick("k");
    FAIL() << "no broker: the pick must fail";
  } catch (const samering::BrokerError& e) {
    EXPECT_TRUE(e.kind() == samering::BrokerError::Kind::kConnect || e.kind() == samering::BrokerError::Kind::kIo)
        << e.what();
  }
  BrokerProcess again({"--socket", f.socket, "--ring", "main=" + f.spec.string()}, f.dir.path() / "again.log");
  ASSERT_TRUE(again.wait_ready()) << again.log();
  EXPECT_EQ(c.pick("k").index, before.index);  // reconnected by itself
  EXPECT_EQ(c.broker_pid(), static_cast<std::uint32_t>(again.pid()));
}

TEST(BrokerClient, IdleConnectionsAreClosedAndClientsReconnect) {
  Fixture f(ketama_spec(3), {"--idle-timeout", "0.2"});
  RawClient raw(f.socket);
  raw.send(hello_frame(1));
  ASSERT_TRUE(raw.read_frame());
  auto r = raw.read_frame(3000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(error_of(*r).code, ErrorCode::kIdleTimeout);
  EXPECT_TRUE(raw.closed_by_peer());
  samering::BrokerSelector c(f.socket, "main");
  const auto first = c.pick("k");
  std::this_thread::sleep_for(600ms);  // closed by the broker meanwhile
  EXPECT_EQ(c.pick("k").index, first.index);  // reconnects transparently
  EXPECT_GE(nlohmann::json::parse(c.stats())["connections"]["idle_closed"], 2);
}

}  // namespace
