// The `samering` command-line tool (DESIGN.md "CLI"): run as a child process with a file as stdin;
// stdout, stderr and the exit code are checked. Exit 0 success, 2 bad input with one line on stderr.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "samering/error.hpp"
#include "samering/ring.hpp"
#include "test_support.hpp"

namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

struct CliResult {
  int exit_code = -1;
  std::string out, err;
};

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs SAMERING_CLI with `args`, `input` as stdin. Fails the test if the child does not exit.
CliResult run(const std::vector<std::string>& args, const std::string& input = "", const char* stdout_path = nullptr) {
  samering_test::TempDir dir;
  const auto in = dir.write("stdin", input);
  const std::filesystem::path out = stdout_path ? std::filesystem::path(stdout_path) : dir.path() / "stdout";
  const auto err = dir.path() / "stderr";
  std::vector<std::string> argv_s = {SAMERING_CLI};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    const int fi = open(in.c_str(), O_RDONLY);
    const int fo = stdout_path ? open(out.c_str(), O_WRONLY) : open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int fe = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fi < 0 || fo < 0 || fe < 0 || dup2(fi, 0) < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0) _exit(127);
    execv(argv[0], argv.data());
    _exit(127);
  }
  CliResult r;
  if (pid < 0) {
    ADD_FAILURE() << "fork failed";
    return r;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status))
    r.exit_code = WEXITSTATUS(status);
  else
    ADD_FAILURE() << "samering did not exit normally (status " << status << ")";
  if (!stdout_path) r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::size_t line_count(const std::string& text) { return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')); }

class Cli : public ::testing::Test {
 protected:
  std::string spec_file(const std::string& name, const std::string& json) { return dir_.write(name, json).string(); }
  std::string spec_u_ketama() {
    return spec_file("u.json", samering_test::spec_json("cmf", R"({"ketama_points": 150})", samering_test::kServersU));
  }
  samering_test::TempDir dir_;
};

const char* const kA = "127.0.1.1:21001";
const char* const kB = "127.0.1.2:21002";
const char* const kC = "127.0.1.3:21003";

std::string named_keys_input() {
  std::string in;
  for (const auto& k : samering_test::named_keys()) in += k + "\n";
  return in;
}

TEST_F(Cli, PickPrintsOneAddressPerKeyInOrder) {
  const CliResult r = run({"pick", "--spec", spec_u_ketama()}, named_keys_input());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  // §10 Config U, row `cmf-ketama`: A B C B A A A A.
  EXPECT_THAT(lines(r.out), ::testing::ElementsAre(kA, kB, kC, kB, kA, kA, kA, kA));
  EXPECT_EQ(line_count(r.out), 8u);
}

TEST_F(Cli, PickReadsALastLineWithoutNewline) {
  const CliResult r = run({"pick", "--spec", spec_u_ketama()}, "foo\nuser:1234");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, std::string(kA) + "\n" + kC + "\n");  // §10 Config U, `cmf-ketama`: foo A, user:1234 C
}

TEST_F(Cli, PickPrintsAddressAsWritten) {
  // One server (every key to it, §12) whose host and port text must come back unchanged.
  const auto spec = spec_file("s.json", R"({"flavor": "cache-memcached", "servers": [{"host": "Mc-A.Example", "port": "021002"}]})");
  const CliResult r = run({"pick", "--spec", spec}, "x\ny\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Mc-A.Example:021002\nMc-A.Example:021002\n");
}

TEST_F(Cli, PickHex) {
  const auto spec = spec_file(
      "g.json", samering_test::spec_json("gomemcache", R"({"repeat_by_weight": true})", samering_test::kServersW));
  std::string in;
  for (const auto& k : samering_test::named_keys()) in += samering_test::hex(k) + "\n";
  in += samering_test::hex(samering_test::key_l300()) + "\n";
  // Upper-case digits are hex too: L300b.
  std::string upper = samering_test::hex(samering_test::key_l300b());
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  in += upper + "\n";
  const CliResult r = run({"pick", "--spec", spec, "--hex"}, in);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // §10 Config W, row `gomemcache repeat_by_weight=true`: B B C C A B A B C C.
  EXPECT_THAT(lines(r.out), ::testing::ElementsAre(kB, kB, kC, kC, kA, kB, kA, kB, kC, kC));
}

TEST_F(Cli, CarriageReturnIsPartOfTheKey) {
  // "a '\r' is part of the key" (tools/samering.cpp): "foo\r" must be picked like hex 666f6f0d.
  const auto spec = spec_u_ketama();
  std::string in, hex_in;
  for (int i = 0; i < 40; ++i) {
    in += "key" + std::to_string(i) + "\r\n";
    hex_in += samering_test::hex("key" + std::to_string(i) + "\r") + "\n";
  }
  const CliResult a = run({"pick", "--spec", spec}, in);
  const CliResult b = run({"pick", "--spec", spec, "--hex"}, hex_in);
  EXPECT_EQ(a.exit_code, 0);
  EXPECT_EQ(b.exit_code, 0);
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(line_count(a.out), 40u);
}

TEST_F(Cli, BadHexExitsTwoNamingTheLine) {
  const auto spec = spec_u_ketama();
  for (const char* bad : {"zz", "abc", "66 6f", "0x41"}) {
    const CliResult r = run({"pick", "--spec", spec, "--hex"}, std::string("666f6f\n") + bad + "\n626172\n");
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_EQ(line_count(r.err), 1u) << r.err;
    EXPECT_THAT(r.err, HasSubstr("stdin line 2")) << bad;
    EXPECT_THAT(r.out, ::testing::Not(HasSubstr(kB))) << "nothing after the bad line: " << bad;
  }
}

TEST_F(Cli, BadSpecExitsTwoWithOneLineNamingTheField) {
  const auto spec = spec_file("bad.json", R"({"flavor": "cmf", "servers": [{"host": "a"}, {"host": "b", "port": 70000}]})");
  for (const char* cmd : {"pick", "check"}) {
    const CliResult r = run({cmd, "--spec", spec}, "foo\n");
    EXPECT_EQ(r.exit_code, 2) << cmd;
    EXPECT_EQ(r.out, "") << cmd;
    EXPECT_EQ(line_count(r.err), 1u) << r.err;
    EXPECT_THAT(r.err, HasSubstr("servers[1].port")) << cmd;
    EXPECT_THAT(r.err, HasSubstr(spec)) << cmd;
  }
  const auto opt = spec_file("opt.json", R"({"flavor": "cmf", "options": {"ketama_points": "x"}, "servers": [{"host": "a"}]})");
  const CliResult r = run({"pick", "--spec", opt}, "foo\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
  EXPECT_THAT(r.err, HasSubstr("options.ketama_points"));
  const auto json = spec_file("json.json", "{\"flavor\": \"cmf\",\n \"servers\": [}\n");
  const CliResult j = run({"check", "--spec", json});
  EXPECT_EQ(j.exit_code, 2);
  EXPECT_EQ(line_count(j.err), 1u) << j.err;
  EXPECT_THAT(j.err, HasSubstr("invalid JSON at byte"));
}

TEST_F(Cli, RefusedKeyExitsTwoNamingTheLine) {
  // nginx never hashes an empty key (algorithms.md §11): an empty stdin line is refused.
  const auto spec = spec_file("ng.json", samering_test::spec_json("nginx", "{}", samering_test::kServersU));
  const CliResult r = run({"pick", "--spec", spec}, "foo\n\nbar\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
  EXPECT_THAT(r.err, HasSubstr("stdin line 2"));
  EXPECT_EQ(r.out, std::string(kA) + "\n");  // §10 Config U, row `nginx-chash`: foo A
}

TEST_F(Cli, MissingSpecFileExitsTwo) {
  const std::string missing = (dir_.path() / "missing.json").string();
  const CliResult r = run({"pick", "--spec", missing}, "foo\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
  EXPECT_THAT(r.err, HasSubstr(missing));
}

TEST_F(Cli, MissingSpecOptionExitsTwo) {
  for (const char* cmd : {"pick", "check"}) {
    const CliResult r = run({cmd}, "foo\n");
    EXPECT_EQ(r.exit_code, 2) << cmd;
    EXPECT_THAT(r.err, HasSubstr("--spec")) << cmd;
    EXPECT_EQ(r.out, "") << cmd;
  }
}

TEST_F(Cli, NoOrUnknownSubcommandExitsTwo) {
  EXPECT_EQ(run({}).exit_code, 2);
  EXPECT_EQ(run({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(run({"pick", "--spec", spec_u_ketama(), "--bogus"}).exit_code, 2);
}

TEST_F(Cli, EmptyStdinPrintsNothing) {
  const CliResult r = run({"pick", "--spec", spec_u_ketama()}, "");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
}

TEST_F(Cli, WriteErrorExitsOne) {
  // Exit 1 for "anything else" (tools/samering.cpp): a full disk must not look like success.
  if (access("/dev/full", W_OK) != 0) GTEST_SKIP() << "/dev/full is not available on this system";
  std::string in;
  for (int i = 0; i < 5000; ++i) in += "key" + std::to_string(i) + "\n";
  const CliResult r = run({"pick", "--spec", spec_u_ketama()}, in, "/dev/full");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("samering"));
}

TEST_F(Cli, CheckPrintsEveryServerWithPointsAndShare) {
  // Cache::Memcached on config W: buckets [A, B, B, C] (§2: int(w) repeats), 15-bit hash modulo 4
  // → exactly 25 %, 50 %, 25 %.
  const auto spec = spec_file("cm.json", samering_test::spec_json("cache-memcached", "{}", samering_test::kServersW));
  const CliResult r = run({"check", "--spec", spec});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const auto out = lines(r.out);
  ASSERT_GE(out.size(), 5u) << r.out;
  EXPECT_THAT(out[0], HasSubstr("ok"));
  EXPECT_THAT(out[0], HasSubstr("cache-memcached"));
  EXPECT_THAT(out[0], HasSubstr("3 servers"));
  const char* addr[] = {kA, kB, kC};
  const char* points[] = {"1", "2", "1"};
  const char* share[] = {"25.0000%", "50.0000%", "25.0000%"};
  for (int i = 0; i < 3; ++i) {
    const auto& l = out[static_cast<std::size_t>(2 + i)];
    std::istringstream fields(l);
    std::string index, server, weight, pts, sh;
    fields >> index >> server >> weight >> pts >> sh;
    EXPECT_EQ(index, std::to_string(i)) << l;
    EXPECT_EQ(server, addr[i]) << l;
    EXPECT_EQ(pts, points[i]) << l;
    EXPECT_EQ(sh, share[i]) << l;
  }
}

TEST_F(Cli, CheckKetamaPoints) {
  // §1.2: (int)(150 × w + 0.5) points: 150, 300, 150 on config W.
  const auto spec = spec_file("w.json", samering_test::spec_json("cmf", R"({"ketama_points": 150})", samering_test::kServersW));
  const CliResult r = run({"check", "--spec", spec});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto out = lines(r.out);
  ASSERT_EQ(out.size(), 5u) << r.out;
  const char* points[] = {"150", "300", "150"};
  for (int i = 0; i < 3; ++i) {
    std::istringstream fields(out[static_cast<std::size_t>(2 + i)]);
    std::string index, server, weight, pts;
    fields >> index >> server >> weight >> pts;
    EXPECT_EQ(pts, points[i]) << out[static_cast<std::size_t>(2 + i)];
  }
}

TEST_F(Cli, HelpOnEachSubcommand) {
  const CliResult top = run({"--help"});
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_THAT(top.out, HasSubstr("pick"));
  EXPECT_THAT(top.out, HasSubstr("check"));
  const CliResult pick = run({"pick", "--help"});
  EXPECT_EQ(pick.exit_code, 0) << pick.err;
  EXPECT_THAT(pick.out, HasSubstr("--spec"));
  EXPECT_THAT(pick.out, HasSubstr("--hex"));
  const CliResult check = run({"check", "--help"});
  EXPECT_EQ(check.exit_code, 0) << check.err;
  EXPECT_THAT(check.out, HasSubstr("--spec"));
  EXPECT_THAT(top.out, HasSubstr("image"));
  const CliResult image = run({"image", "--help"});
  EXPECT_EQ(image.exit_code, 0) << image.err;
  EXPECT_THAT(image.out, HasSubstr("--spec"));
  EXPECT_THAT(image.out, HasSubstr("--output"));
}

samering::Ring ring_of_image_file(const std::string& path) {
  const std::string bytes = slurp(path);
  return samering::Ring(samering::RingImage::from_bytes(std::as_bytes(std::span(bytes.data(), bytes.size()))));
}

TEST_F(Cli, ImageWritesTheSpecsRingImage) {
  // The image a Go service loads must pick exactly as the ring built from the spec.
  const auto spec = spec_u_ketama();
  const std::string out = (dir_.path() / "u.img").string();
  const CliResult r = run({"image", "--spec", spec, "-o", out});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
  const samering::Ring loaded = ring_of_image_file(out);
  const samering::Ring built = samering::ring_from_file(spec);
  EXPECT_EQ(slurp(out), std::string(reinterpret_cast<const char*>(built.image().data()), built.image().size()));
  EXPECT_EQ(loaded.spec_json(), built.spec_json());
  for (const auto& k : samering_test::named_keys()) EXPECT_EQ(loaded.pick(k), built.pick(k)) << k;
  // §10 Config U, row `cmf-ketama`: foo A.
  EXPECT_EQ(loaded.server(static_cast<std::size_t>(loaded.pick("foo"))).address, kA);

  const CliResult stdout_image = run({"image", "--spec", spec, "--output", "-"});
  EXPECT_EQ(stdout_image.exit_code, 0) << stdout_image.err;
  EXPECT_EQ(stdout_image.out, slurp(out));
}

TEST_F(Cli, ImageReplacesTheFileByRename) {
  // A reader that opened the old image keeps reading the old bytes: the new image is a new file.
  const std::string out = (dir_.path() / "ring.img").string();
  ASSERT_EQ(run({"image", "--spec", spec_u_ketama(), "-o", out}).exit_code, 0);
  std::ifstream old_reader(out, std::ios::binary);
  const std::string before = slurp(out);
  const auto other = spec_file("g.json", samering_test::spec_json("gomemcache", "{}", samering_test::kServersU));
  const CliResult r = run({"image", "--spec", other, "-o", out});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::stringstream old_bytes;
  old_bytes << old_reader.rdbuf();
  EXPECT_EQ(old_bytes.str(), before);
  EXPECT_EQ(ring_of_image_file(out).flavor(), "gomemcache");
  std::vector<std::string> left;
  for (const auto& e : std::filesystem::directory_iterator(dir_.path())) left.push_back(e.path().filename().string());
  std::sort(left.begin(), left.end());
  EXPECT_THAT(left, ::testing::ElementsAre("g.json", "ring.img", "u.json")) << "no temporary file left";
}

TEST_F(Cli, ImageOfABadSpecExitsTwoAndWritesNothing) {
  const auto spec = spec_file("bad.json", R"({"flavor": "cmf", "servers": [{"host": "a", "port": 70000}]})");
  const std::string out = (dir_.path() / "bad.img").string();
  const CliResult r = run({"image", "--spec", spec, "-o", out});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
  EXPECT_THAT(r.err, HasSubstr("servers[0].port"));
  EXPECT_FALSE(std::filesystem::exists(out));
  const CliResult no_output = run({"image", "--spec", spec});
  EXPECT_EQ(no_output.exit_code, 2);
  EXPECT_THAT(no_output.err, HasSubstr("--output"));
}

TEST_F(Cli, ImageIntoAMissingDirectoryExitsOne) {
  const std::string out = (dir_.path() / "no-such-dir" / "ring.img").string();
  const CliResult r = run({"image", "--spec", spec_u_ketama(), "-o", out});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
  EXPECT_THAT(r.err, HasSubstr("no-such-dir"));
  EXPECT_EQ(r.out, "");
}

}  // namespace
