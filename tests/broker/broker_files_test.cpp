// The broker's files against other local users and odd files (issue 20, defects 3–7 and 10;
// docs/protocol.md "Shared memory" and "Reload"): a shm dir another user owns or can write, or
// reached through a symbolic link, is refused (and nothing in a link's target is touched); readers
// refuse files they cannot trust; no reader can hold the broker's liveness lock; a FIFO at the
// spec path is refused without blocking the broker; STATS names a failed spec's file but never
// quotes it; and shm readers follow a broker restarted on a re-created shm dir, whose generations
// never repeat the old broker's.
//
// Tests that need another user run as root and setuid() a forked child to nobody; without root
// they skip, saying so. Every wait is bounded.
#include <fmt/format.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/mman.h>

#include "broker_support.hpp"
#include "samering/error.hpp"
#include "samering/selector.h"
#include "shm_format.hpp"

namespace {

using namespace broker_test;
using proto::ErrorCode;
namespace shm = samering::broker::shm;

const passwd* nobody() { return ::getpwnam("nobody"); }

// Forks a child that becomes `user` (if given and we are root) and runs `body`; its exit code.
template <typename F>
int as_user(const passwd* user, F body) {
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (user && (::setgroups(0, nullptr) != 0 || ::setgid(user->pw_gid) != 0 || ::setuid(user->pw_uid) != 0))
      ::_exit(90);
    int rc = 91;
    try {
      rc = body();
    } catch (...) {
    }
    ::_exit(rc);
  }
  const auto st = wait_child(pid, 10000ms);
  return st && WIFEXITED(*st) ? WEXITSTATUS(*st) : -1;
}

std::vector<std::string> shm_args(const Fixture& f, const std::string& shm_dir) {
  return {"--socket", f.socket, "--ring", "main=" + f.spec.string(), "--shm-dir", shm_dir, "--no-watch"};
}

// ---- defect 3: the shm dir and the files in it belong to the broker's uid ----------------------

// nobody makes the README's shm dir before the broker (root) starts; the broker used it, and
// nobody could then rename a control file and an image of their own making into it.
TEST(BrokerShmDir, ADirAnotherUserMadeFirstIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to setuid() a child to nobody";
  ASSERT_NE(nobody(), nullptr);
  samering_test::TempDir dir;
  ::chmod(dir.path().c_str(), 0755);
  const fs::path open_dir = dir.path() / "shared";  // like /dev/shm: world-writable and sticky
  fs::create_directory(open_dir);
  ::chmod(open_dir.c_str(), 01777);
  const std::string shm_dir = (open_dir / "samering").string();
  ASSERT_EQ(as_user(nobody(), [&] { return ::mkdir(shm_dir.c_str(), 0755) == 0 ? 0 : 1; }), 0);
  const auto spec = dir.write("main.json", ketama_spec(3));
  BrokerProcess b(
      {"--socket", (dir.path() / "b.sock").string(), "--ring", "main=" + spec.string(), "--shm-dir", shm_dir},
      dir.path() / "b.log");
  EXPECT_EQ(b.wait_exit(5000ms), 1) << b.log();
  EXPECT_NE(b.log().find(fmt::format("owned by uid {}, not by the broker's uid 0", nobody()->pw_uid)),
            std::string::npos)
      << b.log();
  EXPECT_FALSE(fs::exists(shm_dir + "/main.ctl"));
  // In the sticky directory the broker may make its own dir.
  const std::string mine = (open_dir / "mine").string();
  BrokerProcess ok(
      {"--socket", (dir.path() / "ok.sock").string(), "--ring", "main=" + spec.string(), "--shm-dir", mine},
      dir.path() / "ok.log");
  ASSERT_TRUE(ok.wait_ready()) << ok.log();
  EXPECT_NO_THROW(samering::ShmSelector(mine, "main"));
}

TEST(BrokerShmDir, ADirWritableByOthersIsRefused) {
  samering_test::TempDir dir;
  const auto spec = dir.write("main.json", ketama_spec(3));
  const fs::path shm_dir = dir.path() / "shm";
  fs::create_directory(shm_dir);
  ::chmod(shm_dir.c_str(), 0777);
  BrokerProcess b(
      {"--socket", (dir.path() / "b.sock").string(), "--ring", "main=" + spec.string(), "--shm-dir", shm_dir.string()},
      dir.path() / "b.log");
  EXPECT_EQ(b.wait_exit(5000ms), 1) << b.log();
  EXPECT_NE(b.log().find("writable by group or others (mode 0777)"), std::string::npos) << b.log();
  EXPECT_TRUE(fs::is_empty(shm_dir));
}

TEST(BrokerShmDir, CreatingItInsideADirOthersCanWriteIsRefused) {
  samering_test::TempDir dir;
  const auto spec = dir.write("main.json", ketama_spec(3));
  const fs::path parent = dir.path() / "open";
  fs::create_directory(parent);
  ::chmod(parent.c_str(), 0777);  // not sticky: anyone could rename what the broker makes there
  BrokerProcess b({"--socket", (dir.path() / "b.sock").string(), "--ring", "main=" + spec.string(), "--shm-dir",
                   (parent / "shm").string()},
                  dir.path() / "b.log");
  EXPECT_EQ(b.wait_exit(5000ms), 1) << b.log();
  EXPECT_NE(b.log().find("writable by group or others and not sticky"), std::string::npos) << b.log();
  EXPECT_FALSE(fs::exists(parent / "shm"));
}

// The reader side of the same rule: an image or control file another user owns, or that group or
// others may write, is never trusted (the socket still serves the right ring; a shm reader must
// not pick an attacker's servers).
TEST(ShmReaderTrust, FilesAnotherUserOwnsOrOthersCanWriteAreRefused) {
  samering_test::TempDir tmp;
  const std::string shm_dir = (tmp.path() / "shm").string();
  Fixture f(ketama_spec(4), {"--shm-dir", shm_dir, "--no-watch"});
  const std::uint64_t g = f.generation();
  const std::string control = shm_dir + "/main.ctl", image = shm_dir + "/" + shm::image_file_name("main", g);
  ASSERT_EQ(f.broker->stop(), 0);
  EXPECT_NO_THROW(samering::ShmSelector(shm_dir, "main"));

  ::chmod(image.c_str(), 0666);
  try {
    samering::ShmSelector r(shm_dir, "main");
    ADD_FAILURE() << "an image others can write was trusted";
  } catch (const samering::ImageError& e) {
    EXPECT_NE(std::string(e.what()).find(image + ": writable by group or others"), std::string::npos) << e.what();
  }
  selector_t* sel = nullptr;
  char err[512];
  EXPECT_EQ(selector_new_from_shm(shm_dir.c_str(), "main", &sel, err, sizeof err), SAMERING_EIMAGE) << err;
  ::chmod(image.c_str(), 0644);
  ::chmod(control.c_str(), 0646);
  EXPECT_THROW(samering::ShmSelector(shm_dir, "main"), std::exception);
  ::chmod(control.c_str(), 0644);
  ::chmod(shm_dir.c_str(), 0757);
  try {
    samering::ShmSelector r(shm_dir, "main");
    ADD_FAILURE() << "a dir others can write was trusted";
  } catch (const samering::BrokerError& e) {
    EXPECT_EQ(e.kind(), samering::BrokerError::Kind::kConnect);
    EXPECT_NE(std::string(e.what()).find("writable by group or others"), std::string::npos) << e.what();
  }
  ::chmod(shm_dir.c_str(), 0755);
  EXPECT_NO_THROW(samering::ShmSelector(shm_dir, "main"));

  if (::geteuid() != 0) GTEST_SKIP() << "the other-owner half needs root (chown to nobody)";
  ASSERT_NE(nobody(), nullptr);
  const uid_t other = nobody()->pw_uid;
  ASSERT_EQ(::chown(image.c_str(), other, static_cast<gid_t>(-1)), 0);
  try {
    samering::ShmSelector r(shm_dir, "main");
    ADD_FAILURE() << "an image another user owns was trusted";
  } catch (const samering::ImageError& e) {
    EXPECT_NE(std::string(e.what()).find(fmt::format("{}: owned by uid {}", image, other)), std::string::npos)
        << e.what();
  }
  // ...unless the reader was told to trust that uid (a broker running as that user).
  EXPECT_NO_THROW(samering::ShmSelector(shm_dir, "main", samering::ShmOptions{static_cast<long long>(other)}));
  EXPECT_EQ(selector_new_from_shm(shm_dir.c_str(), "main", &sel, err, sizeof err), SAMERING_EIMAGE) << err;
  ASSERT_EQ(selector_new_from_shm_owned_by(shm_dir.c_str(), "main", other, &sel, err, sizeof err), SAMERING_OK) << err;
  EXPECT_GE(selector_pick(sel, "k", 1), 0);
  selector_free(sel);
  sel = nullptr;
  ASSERT_EQ(::chown(image.c_str(), 0, static_cast<gid_t>(-1)), 0);
  ASSERT_EQ(::chown(shm_dir.c_str(), other, static_cast<gid_t>(-1)), 0);
  EXPECT_THROW(samering::ShmSelector(shm_dir, "main"), samering::BrokerError);
  EXPECT_EQ(selector_new_from_shm(shm_dir.c_str(), "main", &sel, err, sizeof err), SAMERING_EDOWN) << err;
  EXPECT_NE(std::string(err).find("owned by uid"), std::string::npos) << err;
}

// ---- defect 4: nobody else can hold the broker's lock ------------------------------------------

// The control file is readable by the socket's group (by all with --socket-mode 0666), and the
// liveness lock used to be a flock on it: any reader could take it and the next broker start
// exited with "in use by another running broker".
TEST(BrokerShmDir, AReaderHoldingALockOnTheControlFileDoesNotStopARestart) {
  samering_test::TempDir tmp;
  ::chmod(tmp.path().c_str(), 0755);
  const std::string shm_dir = (tmp.path() / "shm").string();
  Fixture f(ketama_spec(4), {"--shm-dir", shm_dir, "--socket-mode", "0666", "--no-watch"});
  ::chmod(f.dir.path().c_str(), 0755);
  const std::uint64_t g = f.generation();
  ASSERT_EQ(f.broker->stop(), 0);
  const passwd* reader = ::geteuid() == 0 ? nobody() : nullptr;  // without root: a reader of our own uid
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t holder = ::fork();
  ASSERT_GE(holder, 0);
  if (holder == 0) {
    ::close(ready[0]);
    if (reader && (::setgroups(0, nullptr) != 0 || ::setgid(reader->pw_gid) != 0 || ::setuid(reader->pw_uid) != 0))
      ::_exit(90);
    const int fd = ::open((shm_dir + "/main.ctl").c_str(), O_RDONLY);  // what any reader may do
    char r = fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) == 0 ? 'L' : 'x';
    if (reader && r == 'L' && ::open((shm_dir + "/.main.lock").c_str(), O_RDONLY) >= 0)
      r = 'o';  // must be the broker's alone
    (void)!::write(ready[1], &r, 1);
    ::pause();
    ::_exit(0);
  }
  ::close(ready[1]);
  char r = 0;
  ASSERT_EQ(::read(ready[0], &r, 1), 1);
  ::close(ready[0]);
  EXPECT_EQ(r, 'L') << "the reader could not lock the control file (o: it could open the broker's lock file)";
  BrokerProcess again(shm_args(f, shm_dir), f.dir.path() / "again.log");
  const bool started = again.wait_ready();
  ::kill(holder, SIGKILL);
  wait_child(holder, 5000ms);
  ASSERT_TRUE(started) << again.log();
  EXPECT_EQ(samering::BrokerSelector(f.socket, "main").info().generation, g);
  // Two brokers on one shm dir and ring are still refused: the lock is the broker's own file.
  BrokerProcess second(
      {"--socket", (f.dir.path() / "second.sock").string(), "--ring", "main=" + f.spec.string(), "--shm-dir", shm_dir},
      f.dir.path() / "second.log");
  EXPECT_EQ(second.wait_exit(5000ms), 1);
  EXPECT_NE(second.log().find(".main.lock: in use by another running broker"), std::string::npos) << second.log();
}

// ---- defect 5: a FIFO at the spec path -----------------------------------------------------------

TEST(BrokerSpecFile, AFifoAtTheSpecPathIsRefusedAndDoesNotBlockTheBroker) {
  Fixture f(ketama_spec(3));  // the file watch is on
  samering::BrokerOptions opt;
  opt.timeout_ms = 2000;
  samering::BrokerSelector c(f.socket, "main", opt);
  const std::uint64_t g = c.info().generation;
  const fs::path fifo = f.dir.path() / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  fs::rename(fifo, f.spec);  // the watch sees it and reads the spec
  EXPECT_TRUE(eventually([&] { return f.stats()["rings"]["main"]["reloads"]["failed"] == 1; }, 3000ms))
      << f.broker->log();
  EXPECT_NO_THROW(c.ping()) << "the broker stopped answering";
  try {
    c.reload();
    ADD_FAILURE() << "RELOAD of a FIFO must fail";
  } catch (const samering::BrokerError& e) {
    EXPECT_EQ(e.broker_code(), static_cast<int>(ErrorCode::kReloadFailed)) << e.what();
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
  ::kill(f.broker->pid(), SIGHUP);
  EXPECT_TRUE(eventually([&] { return f.stats()["reloads"]["failed"] == 3; }, 3000ms));
  EXPECT_EQ(c.pick("k").generation, g);
  EXPECT_EQ(f.stats()["rings"]["main"]["last_error"],
            f.spec.string() + ": not a regular file (a spec file must be one)");
  EXPECT_EQ(f.broker->stop(), 0) << "SIGTERM must stop it";
}

// ---- defect 6: STATS says what failed and where, never what the file holds ----------------------

TEST(BrokerSpecFile, StatsNamesAFailedSpecsFileButNeverQuotesIt) {
  Fixture f(ketama_spec(3), {"--no-watch"});
  samering::BrokerSelector admin(f.socket, "main");
  const fs::path secret = f.dir.write("secret.json", R"({"hunter2-key": "hunter2-value", "servers": []})");
  ::chmod(secret.c_str(), 0600);
  const fs::path link = f.dir.path() / "link";
  fs::create_symlink(secret, link);
  fs::rename(link, f.spec);  // the spec path now points at a file only its owner may read
  std::string detail;
  try {
    admin.reload();
    ADD_FAILURE() << "the reload must fail";
  } catch (const samering::BrokerError& e) {
    detail = e.what();  // the RELOAD reply (the broker's uid and root only) has the reason
  }
  EXPECT_NE(detail.find("hunter2-key: unknown field"), std::string::npos) << detail;
  const auto s = f.stats();  // what every client may ask
  const std::string ring_error = s["rings"]["main"]["last_error"], last = s["reloads"]["last_error"];
  EXPECT_EQ(ring_error, f.spec.string() + ": invalid spec");
  EXPECT_EQ(last, "ring main: " + f.spec.string() + ": invalid spec");
  EXPECT_EQ(s.dump().find("hunter2"), std::string::npos) << s.dump();
  EXPECT_NE(f.broker->log().find("hunter2-key: unknown field"), std::string::npos) << "the log keeps the reason";
}

// ---- defect 7: a symlinked shm dir is not followed ---------------------------------------------

TEST(BrokerShmDir, ASymbolicLinkIsRefusedAndItsTargetIsNotTouched) {
  samering_test::TempDir dir;
  const auto spec = dir.write("main.json", ketama_spec(3));
  const fs::path target = dir.path() / "precious";
  fs::create_directory(target);
  const auto file = target / "main.ctl";
  { std::ofstream(file) << "precious bytes"; }
  fs::create_directory_symlink(target, dir.path() / "shm");
  BrokerProcess b({"--socket", (dir.path() / "b.sock").string(), "--ring", "main=" + spec.string(), "--shm-dir",
                   (dir.path() / "shm").string()},
                  dir.path() / "b.log");
  EXPECT_EQ(b.wait_exit(5000ms), 1) << b.log();
  EXPECT_NE(b.log().find("a symbolic link: refused"), std::string::npos) << b.log();
  EXPECT_EQ(read_text(file), "precious bytes");
  EXPECT_EQ(std::distance(fs::directory_iterator(target), fs::directory_iterator()), 1);
  // Inside a good shm dir, a link at the control file's name is not followed either.
  const fs::path real = dir.path() / "real";
  fs::create_directory(real);
  ::chmod(real.c_str(), 0755);
  fs::create_symlink(file, real / "main.ctl");
  BrokerProcess c(
      {"--socket", (dir.path() / "c.sock").string(), "--ring", "main=" + spec.string(), "--shm-dir", real.string()},
      dir.path() / "c.log");
  EXPECT_EQ(c.wait_exit(5000ms), 1) << c.log();
  EXPECT_EQ(read_text(file), "precious bytes");
}

// ---- defect 10: a broker restarted on a re-created shm dir --------------------------------------

// Picks `keys` until they all match `want` and the reader names generation `g` (bounded): the
// reader checks its control file's path once a second of picking.
template <typename Pick>
bool follows(Pick pick, const std::vector<std::string>& keys, const samering::Ring& want) {
  return eventually(
      [&] {
        for (int round = 0; round < 20; ++round)
          for (const auto& k : keys)
            if (pick(k) != want.pick(k)) return false;
        return true;
      },
      5000ms);
}

// systemd removes a RuntimeDirectory on every stop; the broker started again on it made a new
// control file, and every shm reader that existed kept the old, unlinked one (and its ring)
// forever, with no error; the new broker counted generations from 1 again, so an old and a new
// reader both said "generation 2" for different server lists.
TEST(ShmReaderRestart, ReadersFollowABrokerRestartedOnARecreatedShmDir) {
  const std::string a = ketama_spec(4, 21000), b = ketama_spec(7, 31000), c = ketama_spec(5, 41000);
  const samering::Ring ra = samering::ring_from_json(a), rb = samering::ring_from_json(b),
                       rc = samering::ring_from_json(c);
  samering_test::TempDir tmp;
  const std::string shm_dir = (tmp.path() / "shm").string();
  Fixture f(a, {"--shm-dir", shm_dir, "--no-watch"});
  const std::uint64_t g_a = f.generation();
  samering::ShmSelector reader(shm_dir, "main");
  selector_t* csel = nullptr;
  char err[512];
  ASSERT_EQ(selector_new_from_shm(shm_dir.c_str(), "main", &csel, err, sizeof err), SAMERING_OK) << err;
  const auto keys = make_keys(200);
  for (const auto& k : keys) ASSERT_EQ(reader.pick(k), ra.pick(k));

  // Stop, remove the dir, start with another spec.
  ASSERT_EQ(f.broker->stop(), 0);
  fs::remove_all(shm_dir);
  for (int i = 0; i < 40; ++i) reader.pick(keys[0]);  // still answering from the old mapping
  write_atomically(f.spec, b);
  auto second = std::make_unique<BrokerProcess>(shm_args(f, shm_dir), f.dir.path() / "second.log");
  ASSERT_TRUE(second->wait_ready()) << second->log();
  const std::uint64_t g_b = samering::BrokerSelector(f.socket, "main").info().generation;
  EXPECT_NE(g_b, g_a) << "one generation named two rings";
  EXPECT_GT(g_b, g_a);
  EXPECT_TRUE(follows([&](const std::string& k) { return reader.pick(k); }, keys, rb))
      << "the C++ reader kept the old ring (last error: " << reader.last_error() << ")";
  EXPECT_EQ(reader.generation(), g_b);
  EXPECT_EQ(reader.last_error(), "");
  EXPECT_TRUE(follows([&](const std::string& k) { return selector_pick(csel, k.data(), k.size()); }, keys, rb))
      << "the C reader kept the old ring (" << selector_last_error(csel) << ")";
  EXPECT_EQ(selector_generation(csel), g_b);
  EXPECT_EQ(selector_server_count(csel), 7);

  // The same after a SIGKILL (nothing is cleaned up or marked), and for a reader forked after.
  ASSERT_EQ(::kill(second->pid(), SIGKILL), 0);
  second->wait_exit(5000ms);
  fs::remove_all(shm_dir);
  write_atomically(f.spec, c);
  BrokerProcess third(shm_args(f, shm_dir), f.dir.path() / "third.log");
  ASSERT_TRUE(third.wait_ready()) << third.log();
  const std::uint64_t g_c = samering::BrokerSelector(f.socket, "main").info().generation;
  EXPECT_GT(g_c, g_b);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // inherits the reader still on generation g_b
    const bool ok =
        follows([&](const std::string& k) { return reader.pick(k); }, keys, rc) && reader.generation() == g_c;
    ::_exit(ok ? 0 : 1);
  }
  EXPECT_TRUE(follows([&](const std::string& k) { return reader.pick(k); }, keys, rc)) << reader.last_error();
  EXPECT_EQ(reader.generation(), g_c);
  const auto st = wait_child(child, 10000ms);
  ASSERT_TRUE(st);
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << "a reader forked before the restart did not follow";
  selector_free(csel);
}

// While the shm dir is gone and no broker has made it again, a reader keeps answering from its
// ring and says why (a monitor can see it).
TEST(ShmReaderRestart, AReaderWhoseControlFileWasRemovedKeepsItsRingAndSaysSo) {
  const std::string a = ketama_spec(4);
  const samering::Ring ra = samering::ring_from_json(a);
  samering_test::TempDir tmp;
  const std::string shm_dir = (tmp.path() / "shm").string();
  Fixture f(a, {"--shm-dir", shm_dir, "--no-watch"});
  samering::ShmSelector reader(shm_dir, "main");
  const std::uint64_t g = reader.generation();
  ASSERT_EQ(f.broker->stop(), 0);
  fs::remove_all(shm_dir);
  const auto keys = make_keys(100);
  EXPECT_TRUE(eventually(
      [&] {
        for (const auto& k : keys)
          if (reader.pick(k) != ra.pick(k)) return false;
        return !reader.last_error().empty();
      },
      5000ms));
  EXPECT_NE(reader.last_error().find("no longer the published one"), std::string::npos) << reader.last_error();
  EXPECT_NE(reader.last_error().find(shm_dir + "/main.ctl"), std::string::npos) << reader.last_error();
  EXPECT_EQ(reader.generation(), g);
  EXPECT_FALSE(reader.refresh());
}

// Without --shm-dir there is nothing to continue from: the first generation comes from the clock,
// so a restarted broker's generations are above the old one's, whatever it served.
TEST(ShmReaderRestart, GenerationsGrowAcrossRestartsWithoutAShmDir) {
  Fixture f(ketama_spec(3), {"--no-watch"});
  samering::BrokerSelector c(f.socket, "main");
  const std::uint64_t g1 = c.pick("k").generation;
  write_atomically(f.spec, ketama_spec(6));
  c.reload();
  const std::uint64_t g2 = c.pick("k").generation;
  EXPECT_EQ(g2, g1 + 1);
  ASSERT_EQ(f.broker->stop(), 0);
  write_atomically(f.spec, ketama_spec(3));
  BrokerProcess again({"--socket", f.socket, "--ring", "main=" + f.spec.string(), "--no-watch"},
                      f.dir.path() / "again.log");
  ASSERT_TRUE(again.wait_ready()) << again.log();
  EXPECT_GT(c.pick("k").generation, g2);
}

}  // namespace
