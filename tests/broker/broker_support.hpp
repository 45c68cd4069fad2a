// Helpers for the broker suites: start samering-broker by PID on a temporary socket and stop it
// (every wait bounded), a raw protocol client for malformed-input tests, spec files, limits.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "frame_decoder.hpp"
#include "protocol.hpp"
#include "samering/broker.hpp"
#include "samering/ring.hpp"
#include "test_support.hpp"

namespace broker_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace proto = samering::broker;

// The broker under test: this build's, or SAMERING_TEST_BROKER_BIN (to run a test against another
// build, e.g. to see a regression test fail on the binary from before its fix).
inline const char* broker_binary() {
  const char* other = std::getenv("SAMERING_TEST_BROKER_BIN");
  return other && *other ? other : SAMERING_BROKER_BIN;
}

// A spec with `n` servers on 127.0.0.1 starting at `port`, flavor cmf ketama.
inline std::string ketama_spec(int n, int port = 21000, int points = 160) {
  std::string s = R"({"flavor": "cmf", "options": {"ketama_points": )" + std::to_string(points) + R"(}, "servers": [)";
  for (int i = 0; i < n; ++i) {
    if (i) s += ", ";
    s += R"({"host": "127.0.0.1", "port": )" + std::to_string(port + i) + "}";
  }
  return s + "]}";
}

// Writes `content` to `path` atomically (temporary file + rename), as config managers do.
inline void write_atomically(const fs::path& path, const std::string& content) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out) throw std::runtime_error("cannot write " + tmp.string());
  }
  fs::rename(tmp, path);
}

// Writes `content` to a new file `path` with mode 0644 whatever the umask (a shm reader refuses
// files writable by group or others).
inline void write_private_file(const fs::path& path, const std::string& content) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out) throw std::runtime_error("cannot write " + path.string());
  }
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
}

// The image files of `ring` in a shm dir, sorted (and, in *temporaries, the count of .tmp files).
inline std::vector<std::string> shm_files(const std::string& shm_dir, int* temporaries = nullptr,
                                          const std::string& ring = "main") {
  std::vector<std::string> images;
  int tmp = 0;
  for (const auto& e : fs::directory_iterator(shm_dir)) {
    const std::string n = e.path().filename().string();
    if (n.find(".tmp") != std::string::npos) ++tmp;
    else if (n.rfind(ring + ".", 0) == 0 && n.size() > 4 && n.compare(n.size() - 4, 4, ".img") == 0) images.push_back(n);
  }
  std::sort(images.begin(), images.end());
  if (temporaries) *temporaries = tmp;
  return images;
}

inline std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void raise_nofile(rlim_t want) {
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < want) {
    rl.rlim_cur = std::min(want, rl.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
}

inline bool can_connect(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// Waits for a child with a deadline; returns the wait status or nullopt on timeout.
inline std::optional<int> wait_child(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return std::nullopt;
    if (Clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(2ms);
  }
}

// Polls `cond` every 5 ms until it holds or the timeout passes.
template <typename F>
bool eventually(F cond, std::chrono::milliseconds timeout = 5000ms) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return cond();
}

// samering-broker as a child process, started by fork+exec and stopped by its PID.
class BrokerProcess {
 public:
  // Starts the broker with `args` (after the binary name); stderr+stdout go to `log`. `in_child`
  // runs in the forked child before exec (e.g. setrlimit).
  BrokerProcess(std::vector<std::string> args, fs::path log, std::function<void()> in_child = {})
      : log_(std::move(log)) {
    std::vector<std::string> argv_s{broker_binary()};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    for (std::size_t i = 0; i + 1 < args.size(); ++i)
      if (args[i] == "--socket") socket_ = args[i + 1];
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      const int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        if (fd > 2) ::close(fd);
      }
      if (in_child) in_child();
      std::vector<char*> argv;
      for (auto& s : argv_s) argv.push_back(s.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ~BrokerProcess() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      wait_child(pid_, 5000ms);
    }
  }
  BrokerProcess(const BrokerProcess&) = delete;
  BrokerProcess& operator=(const BrokerProcess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& socket() const { return socket_; }
  std::string log() const { return read_text(log_); }

  // True once the socket accepts connections; false if the broker exited or the timeout passed.
  bool wait_ready(std::chrono::milliseconds timeout = 5000ms) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (!running()) return false;
      if (can_connect(socket_)) return true;
      std::this_thread::sleep_for(3ms);
    }
    return false;
  }
  bool running() {
    if (exited_) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      status_ = status;
      return false;
    }
    return true;
  }
  // Waits for the broker to exit by itself; returns its exit code (-1 on timeout or a signal).
  int wait_exit(std::chrono::milliseconds timeout = 5000ms) {
    if (!exited_) {
      auto st = wait_child(pid_, timeout);
      if (!st) return -1;
      exited_ = true;
      status_ = *st;
    }
    return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
  }
  // SIGTERM, then the exit code (SIGKILL after the timeout: returns -1).
  int stop(std::chrono::milliseconds timeout = 5000ms) {
    if (exited_) return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
    ::kill(pid_, SIGTERM);
    const int rc = wait_exit(timeout);
    if (rc == -1 && !exited_) {
      ::kill(pid_, SIGKILL);
      wait_exit(5000ms);
      return -1;
    }
    return rc;
  }

 private:
  fs::path log_;
  std::string socket_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
};

// A process's resident set (VmRSS, KiB) and its open descriptors, from /proc; -1 if unreadable.
inline long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}
// The lowest descriptor number `pid` has free (what its next open() gets), or -1.
inline long lowest_free_descriptor(pid_t pid) {
  std::error_code ec;
  std::vector<long> used;
  for (auto it = fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec); !ec && it != fs::directory_iterator();
       it.increment(ec))
    used.push_back(std::stol(it->path().filename().string()));
  if (ec) return -1;
  std::sort(used.begin(), used.end());
  long n = 0;
  for (long u : used) {
    if (u != n) break;
    ++n;
  }
  return n;
}
inline long open_descriptors(pid_t pid) {
  std::error_code ec;
  long n = 0;
  for (auto it = fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec); !ec && it != fs::directory_iterator();
       it.increment(ec))
    ++n;
  return ec ? -1 : n;
}

// A temporary directory with a spec and a running broker serving it as ring "main".
struct Fixture {
  samering_test::TempDir dir;
  fs::path spec;
  std::string socket;
  std::unique_ptr<BrokerProcess> broker;

  explicit Fixture(const std::string& spec_json = ketama_spec(5), std::vector<std::string> extra = {},
                   std::function<void()> in_child = {}) {
    spec = dir.write("main.json", spec_json);
    socket = (dir.path() / "broker.sock").string();
    std::vector<std::string> args{"--socket", socket, "--ring", "main=" + spec.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    broker = std::make_unique<BrokerProcess>(args, dir.path() / "broker.log", std::move(in_child));
    if (!broker->wait_ready()) throw std::runtime_error("broker did not start:\n" + broker->log());
  }
  nlohmann::json stats() {
    samering::BrokerSelector c(socket, "main");
    return nlohmann::json::parse(c.stats());
  }
  // The generation ring "main" is at now (RING_INFO).
  std::uint64_t generation() { return samering::BrokerSelector(socket, "main").info().generation; }
};

struct OwnedFrame {
  proto::FrameHeader header;
  std::string payload;
};

// A raw protocol client: sends arbitrary bytes, reads frames with a deadline.
class RawClient {
 public:
  explicit RawClient(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("connect " + path + ": " + std::strerror(errno));
  }
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;
  int fd() const { return fd_; }

  void send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0) throw std::runtime_error(std::string("send: ") + std::strerror(errno));
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  // The next frame; nullopt when the broker closed the connection. Throws on timeout.
  std::optional<OwnedFrame> read_frame(std::chrono::milliseconds timeout = 3000ms) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      auto r = decoder_.next();
      if (r.status == proto::DecodeStatus::kFrame) return OwnedFrame{r.frame.header, std::string(r.frame.payload)};
      if (r.status == proto::DecodeStatus::kError) throw std::runtime_error(std::string("bad reply: ") + r.reason);
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) throw std::runtime_error("timed out waiting for a reply");
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      auto room = decoder_.prepare(65536);
      const ssize_t n = ::recv(fd_, room.data(), room.size(), 0);
      if (n == 0) return std::nullopt;
      if (n < 0) {
        if (errno == ECONNRESET) return std::nullopt;
        throw std::runtime_error(std::string("recv: ") + std::strerror(errno));
      }
      decoder_.commit(static_cast<std::size_t>(n));
    }
  }
  // True when the broker closes the connection (after any frames) within the timeout.
  bool closed_by_peer(std::chrono::milliseconds timeout = 3000ms) {
    try {
      while (read_frame(timeout)) {
      }
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }

 private:
  int fd_ = -1;
  proto::FrameDecoder decoder_{proto::FrameDecoder::Side::kReplies, proto::kMaxReplyFrame};
};

// Frame builders.
inline std::string hello_frame(std::uint32_t id = 1, std::uint16_t min = 1, std::uint16_t max = 1) {
  std::string s;
  proto::Encoder e(s);
  proto::encode_hello(e, id, min, max);
  return s;
}
inline std::string pick_frame(std::uint32_t id, std::string_view ring, std::string_view key) {
  std::string s;
  proto::Encoder e(s);
  proto::encode_pick(e, id, ring, key);
  return s;
}
inline std::string raw_frame(std::uint8_t opcode, std::uint32_t id, std::string_view payload, std::uint8_t flags = 0,
                             std::uint16_t reserved = 0) {
  std::string s;
  proto::Encoder e(s);
  e.begin(opcode, id, flags);
  e.bytes(payload);
  e.finish();
  std::memcpy(s.data() + 6, &reserved, 2);
  return s;
}

inline proto::ErrorReply error_of(const OwnedFrame& f) {
  proto::ErrorReply r;
  if (f.header.opcode != static_cast<std::uint8_t>(proto::Opcode::kError))
    throw std::runtime_error(std::string("expected ERROR, got ") + proto::opcode_name(f.header.opcode));
  if (proto::parse_error_reply(f.payload, r)) throw std::runtime_error("malformed error frame");
  return r;
}

// Keys "k<i>" for i < n, optionally prefixed.
inline std::vector<std::string> make_keys(std::size_t n, const std::string& prefix = "k") {
  std::vector<std::string> keys;
  keys.reserve(n);
  for (std::size_t i = 0; i < n; ++i) keys.push_back(prefix + std::to_string(i));
  return keys;
}
inline std::vector<std::string_view> views(const std::vector<std::string>& keys) {
  return {keys.begin(), keys.end()};
}

}  // namespace broker_test
