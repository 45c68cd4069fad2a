// The shared-memory publication and its readers: a reader follows reloads and broker restarts,
// a truncated or corrupt image is refused with an error naming the file (and a reader that is
// already running keeps its ring), superseded images are removed after the grace period, and a
// pick makes no system call (checked under seccomp strict mode).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "broker_support.hpp"
#include "samering/error.hpp"
#include "samering/selector.h"
#include "shm_format.hpp"

namespace {

using namespace broker_test;
namespace shm = samering::broker::shm;

struct ShmDir {
  samering_test::TempDir tmp;
  std::string shm_dir = (tmp.path() / "shm").string();
};

// A broker with --shm-dir (ShmDir is initialised first, destroyed last).
struct ShmFixture : ShmDir, Fixture {
  explicit ShmFixture(const std::string& spec, std::vector<std::string> extra = {})
      : ShmDir(), Fixture(spec, with_shm(std::move(extra), shm_dir)) {}
  static std::vector<std::string> with_shm(std::vector<std::string> extra, const std::string& dir) {
    extra.insert(extra.end(), {"--shm-dir", dir, "--no-watch"});
    return extra;
  }
  std::string image(std::uint64_t g) const { return shm_dir + "/" + shm::image_file_name("main", g); }
};

TEST(ShmReader, FollowsReloadsAndOldImagesGoAfterTheGrace) {
  const std::string a = ketama_spec(3), b = ketama_spec(8, 50000);
  ShmFixture f(a, {"--shm-grace", "0.2"});
  const samering::Ring ra = samering::ring_from_json(a), rb = samering::ring_from_json(b);
  samering::ShmSelector reader(f.shm_dir, "main");
  samering::BrokerSelector admin(f.socket, "main");
  const std::uint64_t g = reader.generation();
  EXPECT_EQ(g, admin.info().generation);
  const auto keys = make_keys(1000);
  for (const auto& k : keys) ASSERT_EQ(reader.pick(k), ra.pick(k));
  write_atomically(f.spec, b);
  admin.reload();
  for (const auto& k : keys) ASSERT_EQ(reader.pick(k), rb.pick(k));  // the first pick follows
  EXPECT_EQ(reader.generation(), g + 1);
  EXPECT_EQ(reader.last_error(), "");
  EXPECT_TRUE(fs::exists(f.image(g + 1)));
  EXPECT_TRUE(eventually([&] { return !fs::exists(f.image(g)); }, 3000ms)) << "the old generation was not removed";
  // The mapping a reader holds survives the removal.
  for (const auto& k : keys) ASSERT_EQ(reader.pick(k), rb.pick(k));
  // Files are read-only to others, like the socket's group/other bits; the dir is searchable by
  // the socket's group; the lock file is the broker's alone.
  struct stat st{};
  ASSERT_EQ(::stat(f.image(g + 1).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  ASSERT_EQ(::stat((f.shm_dir + "/main.ctl").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  ASSERT_EQ(::stat(f.shm_dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0750u);
  ASSERT_EQ(::stat((f.shm_dir + "/.main.lock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(ShmReader, ForkedChildrenKeepTheMappingAndFollow) {
  const std::string a = ketama_spec(3), b = ketama_spec(6, 50000);
  ShmFixture f(a);
  const samering::Ring rb = samering::ring_from_json(b);
  samering::ShmSelector reader(f.shm_dir, "main");
  reader.pick("warm");
  samering::BrokerSelector admin(f.socket, "main");
  const std::uint64_t g = reader.generation();
  write_atomically(f.spec, b);
  admin.reload();
  std::vector<pid_t> pids;
  for (int c = 0; c < 8; ++c) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int rc = 0;
      for (const auto& k : make_keys(500, "c" + std::to_string(c)))
        if (reader.pick(k) != rb.pick(k)) rc = 2;
      if (reader.generation() != g + 1) rc = 3;
      ::_exit(rc);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    const auto st = wait_child(pid, 10000ms);
    ASSERT_TRUE(st);
    EXPECT_EQ(WEXITSTATUS(*st), 0);
  }
}

TEST(ShmReader, FollowsAcrossABrokerRestartAndKeepsAnUnchangedGeneration) {
  const std::string a = ketama_spec(3), b = ketama_spec(5, 50000);
  ShmFixture f(a);
  samering::ShmSelector reader(f.shm_dir, "main");
  const std::uint64_t g = reader.generation();
  ASSERT_EQ(f.broker->stop(), 0);
  EXPECT_TRUE(fs::exists(f.image(g)));  // the current image outlives the broker
  EXPECT_EQ(reader.pick("k"), samering::ring_from_json(a).pick("k"));
  {  // same spec: same generation, nothing re-published
    BrokerProcess again({"--socket", f.socket, "--ring", "main=" + f.spec.string(), "--shm-dir", f.shm_dir},
                        f.dir.path() / "again.log");
    ASSERT_TRUE(again.wait_ready()) << again.log();
    EXPECT_TRUE(reader.refresh());
    EXPECT_EQ(reader.generation(), g);
    EXPECT_EQ(samering::BrokerSelector(f.socket, "main").info().generation, g);
    EXPECT_EQ(shm_files(f.shm_dir), std::vector<std::string>{shm::image_file_name("main", g)});
    again.stop();
  }
  write_atomically(f.spec, b);
  BrokerProcess third({"--socket", f.socket, "--ring", "main=" + f.spec.string(), "--shm-dir", f.shm_dir},
                      f.dir.path() / "third.log");
  ASSERT_TRUE(third.wait_ready()) << third.log();
  const samering::Ring rb = samering::ring_from_json(b);
  for (const auto& k : make_keys(300)) ASSERT_EQ(reader.pick(k), rb.pick(k));
  EXPECT_GT(reader.generation(), g);  // generations go on growing across restarts
  EXPECT_EQ(reader.generation(), samering::BrokerSelector(f.socket, "main").info().generation);
}

TEST(ShmReader, TruncatedImageIsRefusedWithAClearError) {
  ShmFixture f(ketama_spec(4));
  const std::string image = f.image(f.generation());
  ASSERT_EQ(f.broker->stop(), 0);
  const auto size = fs::file_size(image);
  fs::resize_file(image, size / 2);
  try {
    samering::ShmSelector reader(f.shm_dir, "main");
    FAIL() << "a truncated image must be refused";
  } catch (const samering::ImageError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(image), std::string::npos) << m;
    EXPECT_NE(m.find("truncated"), std::string::npos) << m;
  }
  selector_t* sel = nullptr;
  char err[512];
  EXPECT_EQ(selector_new_from_shm(f.shm_dir.c_str(), "main", &sel, err, sizeof err), SAMERING_EIMAGE);
  EXPECT_EQ(sel, nullptr);
  EXPECT_NE(std::string(err).find("truncated"), std::string::npos) << err;
}

TEST(ShmReader, CorruptImageIsRefusedWithAClearError) {
  ShmFixture f(ketama_spec(4));
  const std::string image = f.image(f.generation());
  ASSERT_EQ(f.broker->stop(), 0);
  {
    std::fstream io(image, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(200);
    io.put('\x5a');
  }
  try {
    samering::ShmSelector reader(f.shm_dir, "main");
    FAIL() << "a corrupt image must be refused";
  } catch (const samering::ImageError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(image), std::string::npos) << m;
    EXPECT_NE(m.find("checksum"), std::string::npos) << m;
  }
}

TEST(ShmReader, MissingControlFileIsAConnectError) {
  samering_test::TempDir dir;
  try {
    samering::ShmSelector reader(dir.path().string(), "main");
    FAIL();
  } catch (const samering::BrokerError& e) {
    EXPECT_EQ(e.kind(), samering::BrokerError::Kind::kConnect);
    EXPECT_NE(std::string(e.what()).find("main.ctl"), std::string::npos);
  }
  selector_t* sel = nullptr;
  char err[256];
  EXPECT_EQ(selector_new_from_shm(dir.path().c_str(), "main", &sel, err, sizeof err), SAMERING_EDOWN);
  EXPECT_EQ(selector_new_from_shm(dir.path().c_str(), "../etc", &sel, err, sizeof err), SAMERING_EDOWN);
}

// A running reader sees the control block name a corrupt image: it keeps its ring and says why;
// a good image after that is followed again.
TEST(ShmReader, RunningReaderKeepsItsRingWhenTheNextImageIsCorrupt) {
  const std::string a = ketama_spec(4);
  ShmFixture f(a);
  const samering::Ring ra = samering::ring_from_json(a);
  const std::uint64_t g = f.generation();
  ASSERT_EQ(f.broker->stop(), 0);  // we play the broker from here
  samering::ShmSelector reader(f.shm_dir, "main");
  selector_t* csel = nullptr;
  char err[256];
  ASSERT_EQ(selector_new_from_shm(f.shm_dir.c_str(), "main", &csel, err, sizeof err), SAMERING_OK) << err;

  const std::string good = read_text(f.image(g));
  std::string bad = good;
  bad[bad.size() / 2] ^= 0x55;
  const int fd = ::open((f.shm_dir + "/main.ctl").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  void* p = ::mmap(nullptr, shm::kControlFileSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  ASSERT_NE(p, MAP_FAILED);
  auto& control = *static_cast<shm::Control*>(p);
  std::uint64_t checksum;
  std::memcpy(&checksum, good.data() + 24, 8);
  write_private_file(f.image(g + 1), bad);
  shm::publish(control, {0, g + 1, bad.size(), checksum, 0});
  for (const auto& k : make_keys(200)) ASSERT_EQ(reader.pick(k), ra.pick(k));
  EXPECT_EQ(reader.generation(), g);
  EXPECT_NE(reader.last_error().find(f.image(g + 1)), std::string::npos) << reader.last_error();
  EXPECT_NE(reader.last_error().find("checksum"), std::string::npos) << reader.last_error();
  EXPECT_EQ(selector_pick(csel, "k", 1), ra.pick("k"));
  EXPECT_NE(std::string(selector_last_error(csel)).find("checksum"), std::string::npos);
  EXPECT_EQ(selector_generation(csel), g);
  // A missing image: also refused.
  shm::publish(control, {0, g + 6, good.size(), checksum, 0});
  EXPECT_EQ(reader.pick("k"), ra.pick("k"));
  EXPECT_NE(reader.last_error().find(shm::image_file_name("main", g + 6)), std::string::npos) << reader.last_error();
  // Then a good one.
  write_private_file(f.image(g + 2), good);
  shm::publish(control, {0, g + 2, good.size(), checksum, 0});
  EXPECT_EQ(reader.pick("k"), ra.pick("k"));
  EXPECT_EQ(reader.generation(), g + 2);
  EXPECT_EQ(reader.last_error(), "");
  EXPECT_EQ(selector_generation(csel), g + 2);
  selector_free(csel);
  ::munmap(p, shm::kControlFileSize);
}

// The hot path makes no system call: after prctl(SECCOMP_MODE_STRICT) any syscall other than
// read/write/exit/sigreturn kills the process, and 200,000 picks run there (the coarse clock a
// reader reads every 64 picks is a vDSO read, not a system call).
TEST(ShmReader, PicksMakeNoSystemCall) {
#if defined(__SANITIZE_THREAD__)
  // The child runs under SECCOMP_MODE_STRICT, where any system call kills it; ThreadSanitizer's
  // runtime makes its own calls on every instrumented path, so this count says nothing there.
  GTEST_SKIP() << "not meaningful under ThreadSanitizer (its runtime makes system calls of its own)";
#endif
  const std::string a = ketama_spec(10);
  ShmFixture f(a);
  const samering::Ring ra = samering::ring_from_json(a);
  const auto keys = make_keys(1000);
  std::vector<std::int32_t> expected;
  for (const auto& k : keys) expected.push_back(ra.pick(k));
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(pipefd[0]);
    // Made here, right before the picks: a reader checks its control file's path (one lstat) once
    // a second of picking, and 200,000 picks take a few milliseconds.
    samering::ShmSelector reader(f.shm_dir, "main");
    selector_t* csel = nullptr;
    char err[256];
    if (selector_new_from_shm(f.shm_dir.c_str(), "main", &csel, err, sizeof err) != SAMERING_OK) ::_exit(8);
    if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0) ::syscall(SYS_exit, 9);
    std::int32_t wrong = 0;
    for (int round = 0; round < 100; ++round)
      for (std::size_t i = 0; i < keys.size(); ++i) {
        wrong += reader.pick(keys[i]) != expected[i];
        wrong += selector_pick(csel, keys[i].data(), keys[i].size()) != expected[i];
      }
    (void)!::syscall(SYS_write, pipefd[1], &wrong, sizeof wrong);
    ::syscall(SYS_exit, 0);
  }
  ::close(pipefd[1]);
  std::int32_t wrong = -1;
  pollfd pfd{pipefd[0], POLLIN, 0};
  const ssize_t n = ::poll(&pfd, 1, 20000) == 1 ? ::read(pipefd[0], &wrong, sizeof wrong) : -1;
  ::close(pipefd[0]);
  const auto st = wait_child(pid, 20000ms);
  ASSERT_TRUE(st);
  ASSERT_TRUE(WIFEXITED(*st)) << "killed by signal " << (WIFSIGNALED(*st) ? WTERMSIG(*st) : 0)
                              << " (SIGKILL = a system call on the pick path)";
  EXPECT_EQ(WEXITSTATUS(*st), 0);
  ASSERT_EQ(n, static_cast<ssize_t>(sizeof wrong));
  EXPECT_EQ(wrong, 0);
}

}  // namespace
