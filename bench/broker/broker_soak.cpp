// broker_soak — a memory soak of a running samering-broker (bench/broker/run.sh --soak drives it).
//
//   broker_soak --socket S --spec FILE --broker-pid PID [--ring main] [--seconds 600]
//               [--max-requests 400000000] [--workers 8] [--warmup 60] [--max-growth-kib 4096]
//               [--reload-ms 2000]
//
// Forked workers open and close connections without pause, each connection one of:
//   client:    a BrokerSelector doing 1–64 calls: PICK, PICK_MANY (1–256 keys), pipelined PICKs,
//              RING_INFO, RING_IMAGE by descriptor (SCM_RIGHTS) and by bytes, STATS
//   pipelined: HELLO and up to 64 frames in one write — PICK, PICK_MANY, RING_INFO, RING_IMAGE with
//              and without a descriptor, and recoverable bad frames (unknown opcode, a payload on
//              STATS, a truncated PICK_MANY, no such ring, too many keys); every reply read and
//              checked in order, every received descriptor closed
//   fatal:     a bad header, a frame too large, no HELLO, an unsupported version: the error frame,
//              then the broker closes
//   abandoned: 500–3000 pipelined frames (some RING_IMAGE by descriptor) or half a frame, then close
//              without reading (the broker's pending write fails)
// Meanwhile the parent rewrites FILE between two valid specs and a bad one and reloads (SIGHUP and
// RELOAD in turn), and samples the broker's VmRSS (/proc/PID/status) and open descriptors
// (/proc/PID/fd) every second. Stops at --seconds or --max-requests, whichever comes first.
//
// Verdict: start = the median RSS of the first 10 s after the warm-up, end = of the last 10 s under
// load. Exit 1 when
// end − start > --max-growth-kib, when the broker has more descriptors once every worker's
// connection is closed than before the load, when the broker died, or when a worker saw an
// unexpected failure (a timeout, a reply out of order, a BrokerError). Output: one JSON line per
// sample, then a summary line, on stdout.
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <new>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "frame_decoder.hpp"
#include "protocol.hpp"
#include "samering/broker.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
namespace proto = samering::broker;

struct Counters {
  std::atomic<int> stop{0};
  std::atomic<std::uint64_t> requests{0};  // request frames sent, every kind
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> sessions[4]{};  // client, pipelined, fatal, abandoned
  std::atomic<std::uint64_t> keys{0};        // keys picked (PICK, PICK_MANY)
  std::atomic<std::uint64_t> descriptors{0}; // RING_IMAGE descriptors received (and closed)
  std::atomic<std::uint64_t> error_frames{0};
  std::atomic<std::uint64_t> unexpected{0};
  char last_unexpected[256]{};
};

Counters* g_counters = nullptr;

void unexpected(const std::string& what) {
  ++g_counters->unexpected;
  std::snprintf(g_counters->last_unexpected, sizeof g_counters->last_unexpected, "%s", what.c_str());
}

std::string spec_json(int servers, int port) {
  std::string s = R"({"flavor": "cmf", "options": {"ketama_points": 160}, "servers": [)";
  for (int i = 0; i < servers; ++i) {
    if (i) s += ", ";
    s += R"({"host": "10.0.0.)" + std::to_string(i + 1) + R"(", "port": )" + std::to_string(port) + "}";
  }
  return s + "]}";
}

void write_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".soak.tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
  }
  std::rename(tmp.c_str(), path.c_str());
}

long vm_rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

int open_fds(pid_t pid) {
  DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (!d) return -1;
  int n = 0;
  while (const dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n;
}

// ---- a raw connection: bytes out, frames (and descriptors) in -------------------------------------

class Raw {
 public:
  explicit Raw(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~Raw() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  // dontwait: give up instead of blocking (a broker that stopped reading us is not a failure then).
  bool send(std::string_view b, bool dontwait = false) {
    while (!b.empty()) {
      const ssize_t n = ::send(fd_, b.data(), b.size(), MSG_NOSIGNAL | (dontwait ? MSG_DONTWAIT : 0));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      b.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  enum class Got { kFrame, kClosed, kTimeout };
  // The next frame into `f`; descriptors that arrive are counted and closed.
  Got next(proto::FrameHeader& h, std::string& payload, int timeout_ms = 5000) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      auto r = dec_.next();
      if (r.status == proto::DecodeStatus::kFrame) {
        h = r.frame.header;
        payload.assign(r.frame.payload);
        return Got::kFrame;
      }
      if (r.status == proto::DecodeStatus::kError) return Got::kClosed;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return Got::kTimeout;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      auto room = dec_.prepare(65536);
      iovec iov{room.data(), room.size()};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)];
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      const ssize_t n = ::recvmsg(fd_, &msg, MSG_CMSG_CLOEXEC);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        return Got::kClosed;
      }
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
          int fd;
          std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
          ::close(fd);
          ++g_counters->descriptors;
        }
      }
      dec_.commit(static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  proto::FrameDecoder dec_{proto::FrameDecoder::Side::kReplies, proto::kMaxReplyFrame};
};

constexpr auto op(proto::Opcode o) { return static_cast<std::uint8_t>(o); }

std::string frame(std::uint8_t opcode, std::uint32_t id, std::string_view payload, std::uint8_t flags = 0) {
  std::string s;
  proto::Encoder e(s);
  e.begin(opcode, id, flags);
  e.bytes(payload);
  e.finish();
  return s;
}

std::string ring_field(std::string_view ring) { return std::string(1, static_cast<char>(ring.size())).append(ring); }

struct Worker {
  std::string socket, ring;
  std::mt19937_64 rng;
  std::vector<std::string> keys;
  std::vector<std::string_view> views;
  std::uint32_t max_keys = proto::kDefaultMaxKeys;

  std::size_t below(std::size_t n) { return static_cast<std::size_t>(rng() % n); }
  const std::string& key() { return keys[below(keys.size())]; }

  void client_session() {
    samering::BrokerOptions opt;
    opt.connect_now = false;
    opt.timeout_ms = 10000;
    samering::BrokerSelector sel(socket, ring, opt);
    std::vector<std::int32_t> out(256);
    std::vector<std::uint64_t> gens(256);
    const std::size_t calls = 1 + below(64);
    try {
      for (std::size_t i = 0; i < calls; ++i) {
        const std::size_t at = below(keys.size() - 256);
        switch (below(20)) {
          case 0: case 1: case 2: case 3: case 4: case 5:
            sel.pick(key());
            ++g_counters->requests;
            ++g_counters->keys;
            break;
          case 6: case 7: case 8: case 9: {
            const std::size_t n = 1 + below(256);
            sel.pick_many(views.data() + at, n, out.data());
            ++g_counters->requests;
            g_counters->keys += n;
            break;
          }
          case 10: case 11: case 12: {
            const std::size_t n = 1 + below(64);
            sel.pick_pipelined(views.data() + at, n, out.data(), gens.data());
            g_counters->requests += n;
            g_counters->keys += n;
            break;
          }
          case 13: case 14:
            sel.info();
            ++g_counters->requests;
            break;
          case 15: case 16: case 17:
            sel.ring(true);  // SCM_RIGHTS: the client maps and closes the descriptor
            ++g_counters->requests;
            ++g_counters->descriptors;
            break;
          case 18:
            sel.ring(false);
            ++g_counters->requests;
            break;
          default:
            sel.stats();
            ++g_counters->requests;
        }
      }
      g_counters->requests += 1;  // the HELLO
    } catch (const std::exception& e) {
      unexpected(std::string("client session: ") + e.what());
    }
  }

  void pipelined_session() {
    Raw c(socket);
    if (!c.ok()) return unexpected("connect failed");
    const int batches = 1 + static_cast<int>(below(4));
    std::uint32_t id = 1;
    std::string out = frame(op(proto::Opcode::kHello), id++, std::string("SRNG\1\0\1\0", 8));
    std::size_t expect = 1;
    for (int b = 0; b < batches; ++b) {
      std::vector<int> kinds;  // 0 = a normal reply, 1 = an error frame
      const std::size_t n = 1 + below(64);
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint32_t fid = id++;
        switch (below(14)) {
          case 0: case 1: case 2:
            out += frame(op(proto::Opcode::kPick), fid, ring_field(ring) + key());
            kinds.push_back(0);
            break;
          case 3: case 4: {
            std::string p;
            proto::Encoder e(p);
            const std::size_t k = 1 + below(100), at = below(keys.size() - 100);
            proto::encode_pick_many(e, fid, ring, views.data() + at, k);
            out += p;
            kinds.push_back(0);
            break;
          }
          case 5:
            out += frame(op(proto::Opcode::kRingInfo), fid, ring_field(ring));
            kinds.push_back(0);
            break;
          case 6:
            out += frame(op(proto::Opcode::kRingImage), fid, ring_field(ring), proto::kFlagImageFd);
            kinds.push_back(0);
            break;
          case 7:
            out += frame(op(proto::Opcode::kRingImage), fid, ring_field(ring));
            kinds.push_back(0);
            break;
          case 8:
            out += frame(0x5e, fid, "unknown opcode, skipped whole");
            kinds.push_back(1);
            break;
          case 9:
            out += frame(op(proto::Opcode::kStats), fid, "a payload on STATS");
            kinds.push_back(1);
            break;
          case 10: {  // PICK_MANY announcing 5 keys, carrying 1 and a half
            std::string p = ring_field(ring);
            const std::uint32_t count = 5;
            const std::uint16_t len = 6;
            p.append(reinterpret_cast<const char*>(&count), 4).append(reinterpret_cast<const char*>(&len), 2).append("abcdef");
            p.append(reinterpret_cast<const char*>(&len), 2).append("ab");
            out += frame(op(proto::Opcode::kPickMany), fid, p);
            kinds.push_back(1);
            break;
          }
          case 11:
            out += frame(op(proto::Opcode::kPick), fid, ring_field("no-such-ring") + "k");
            kinds.push_back(1);
            break;
          case 12: {
            std::string p = ring_field(ring);
            const std::uint32_t count = max_keys + 1;
            p.append(reinterpret_cast<const char*>(&count), 4);
            out += frame(op(proto::Opcode::kPickMany), fid, p);
            kinds.push_back(1);
            break;
          }
          default:
            out += frame(op(proto::Opcode::kPing), fid, key());
            kinds.push_back(0);
        }
      }
      if (!c.send(out)) return unexpected("pipelined send failed");
      g_counters->requests += n + (b == 0);
      std::uint32_t want = id - static_cast<std::uint32_t>(n) - (b == 0);
      proto::FrameHeader h;
      std::string payload;
      for (std::size_t i = 0; i < n + expect; ++i, ++want) {
        const auto got = c.next(h, payload);
        if (got != Raw::Got::kFrame) return unexpected(got == Raw::Got::kTimeout ? "pipelined: timeout" : "pipelined: closed early");
        if (h.id != want) return unexpected("pipelined: reply id " + std::to_string(h.id) + ", wanted " + std::to_string(want));
        const bool is_error = h.opcode == op(proto::Opcode::kError);
        const bool want_error = i >= expect && kinds[i - expect] == 1;
        if (is_error != want_error) return unexpected("pipelined: frame " + std::to_string(want) + (is_error ? " failed" : " did not fail"));
        g_counters->error_frames += is_error;
      }
      out.clear();
      expect = 0;
    }
  }

  void fatal_session() {
    Raw c(socket);
    if (!c.ok()) return unexpected("connect failed");
    const std::string hello = frame(op(proto::Opcode::kHello), 1, std::string("SRNG\1\0\1\0", 8));
    std::string out;
    std::size_t replies_before = 0;
    switch (below(4)) {
      case 0: {  // reserved header bytes set
        out = hello + frame(op(proto::Opcode::kPing), 2, "x");
        out[hello.size() + 6] = '\x7f';
        replies_before = 1;
        break;
      }
      case 1: {  // a header announcing 2 MiB
        out = hello + frame(op(proto::Opcode::kPing), 2, "");
        const std::uint32_t len = 2u << 20;
        std::memcpy(out.data() + hello.size(), &len, 4);
        replies_before = 1;
        break;
      }
      case 2:  // no HELLO
        out = frame(op(proto::Opcode::kPick), 1, ring_field(ring) + "k");
        break;
      default:  // a version the broker does not speak
        out = frame(op(proto::Opcode::kHello), 1, std::string("SRNG\x09\0\x09\0", 8));
    }
    if (!c.send(out)) return unexpected("fatal: send failed");
    g_counters->requests += 1 + replies_before;
    proto::FrameHeader h;
    std::string payload;
    for (std::size_t i = 0; i < replies_before; ++i)
      if (c.next(h, payload) != Raw::Got::kFrame) return unexpected("fatal: no HELLO reply");
    if (c.next(h, payload) != Raw::Got::kFrame || h.opcode != op(proto::Opcode::kError))
      return unexpected("fatal: no error frame");
    ++g_counters->error_frames;
    if (c.next(h, payload) != Raw::Got::kClosed) unexpected("fatal: the broker did not close the connection");
  }

  void abandoned_session() {
    Raw c(socket);
    if (!c.ok()) return unexpected("connect failed");
    std::string out = frame(op(proto::Opcode::kHello), 1, std::string("SRNG\1\0\1\0", 8));
    if (below(4) == 0) {  // half a frame, then gone
      const std::string f = frame(op(proto::Opcode::kPick), 2, ring_field(ring) + key());
      out += f.substr(0, 1 + below(f.size() - 1));
      c.send(out, true);
      ++g_counters->requests;
      return;
    }
    const std::size_t n = 500 + below(2500);
    for (std::uint32_t i = 0; i < n; ++i)
      out += i % 97 == 0 ? frame(op(proto::Opcode::kRingImage), i + 2, ring_field(ring), proto::kFlagImageFd)
                         : frame(op(proto::Opcode::kPick), i + 2, ring_field(ring) + key());
    c.send(out, true);  // stops part-way when the broker stopped reading us: fine
    g_counters->requests += n + 1;
    if (below(2)) {  // read a little, then leave
      proto::FrameHeader h;
      std::string payload;
      c.next(h, payload, 1000);
    }
  }

  int run(std::uint64_t max_requests, Clock::time_point hard_stop) {
    for (std::size_t i = 0; i < 4096; ++i) keys.push_back("user:" + std::to_string(rng() % 1000000));
    views.assign(keys.begin(), keys.end());
    while (!g_counters->stop.load() && g_counters->requests.load() < max_requests && Clock::now() < hard_stop) {
      ++g_counters->connections;
      const std::size_t r = below(100);
      const int kind = r < 40 ? 0 : r < 85 ? 1 : r < 93 ? 2 : 3;
      ++g_counters->sessions[kind];
      switch (kind) {
        case 0: client_session(); break;
        case 1: pipelined_session(); break;
        case 2: fatal_session(); break;
        default: abandoned_session();
      }
    }
    return 0;
  }
};

struct Sample {
  double t;
  long rss_kib;
  int fds;
  std::uint64_t requests, connections;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"broker_soak: memory soak of a running samering-broker"};
  std::string socket, ring = "main", spec;
  int pid = 0, seconds = 600, workers = 8, warmup = -1, reload_ms = 2000;
  long max_growth_kib = 4096;
  std::uint64_t max_requests = 400'000'000;
  app.add_option("--socket", socket)->required();
  app.add_option("--ring", ring);
  app.add_option("--spec", spec, "the broker's spec file for that ring (rewritten for reloads)")->required();
  app.add_option("--broker-pid", pid, "for /proc/PID/status and /proc/PID/fd, and SIGHUP")->required();
  app.add_option("--seconds", seconds, "stop after this many seconds (default 600)");
  app.add_option("--max-requests", max_requests, "stop after this many request frames (default 4e8)");
  app.add_option("--workers", workers, "forked load processes (default 8)");
  app.add_option("--warmup", warmup, "seconds before the baseline RSS is taken (default: a tenth, at most 60)");
  app.add_option("--max-growth-kib", max_growth_kib, "fail when the RSS grows more than this after the warm-up");
  app.add_option("--reload-ms", reload_ms, "a reload every this many ms (default 2000)");
  CLI11_PARSE(app, argc, argv);
  if (warmup < 0) warmup = std::min(60, std::max(1, seconds / 10));

  void* mem = ::mmap(nullptr, sizeof(Counters), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return 1;
  g_counters = new (mem) Counters();
  const std::array<std::string, 2> variants{spec_json(10, 11211), spec_json(12, 11311)};
  const std::string bad = R"({"flavor": "cmf", "servers": [{"host": "10.0.0.1", "port": 0}]})";
  write_atomically(spec, variants[0]);

  samering::BrokerOptions opt;
  opt.timeout_ms = 10000;
  std::unique_ptr<samering::BrokerSelector> admin;
  try {
    admin = std::make_unique<samering::BrokerSelector>(socket, ring, opt);
    admin->reload();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "broker_soak: %s\n", e.what());
    return 1;
  }
  const int fds_before = open_fds(pid);  // the admin connection is open, no worker's is
  const long rss_before = vm_rss_kib(pid);

  const auto t0 = Clock::now();
  const auto hard_stop = t0 + std::chrono::seconds(seconds) + 30s;
  std::vector<pid_t> kids;
  for (int w = 0; w < workers; ++w) {
    const pid_t k = ::fork();
    if (k < 0) {
      std::perror("fork");
      g_counters->stop = 1;
      break;
    }
    if (k == 0) {
      admin.reset();  // the parent's connection: dropped unused here
      Worker worker{socket, ring, std::mt19937_64(0x5eed + static_cast<unsigned>(w)), {}, {}};
      ::_exit(worker.run(max_requests, hard_stop));
    }
    kids.push_back(k);
  }

  std::vector<Sample> samples;
  int reloads = 0, reload_failures_expected = 0, reload_unexpected = 0;
  auto next_sample = t0 + 1s;
  auto next_reload = t0 + std::chrono::milliseconds(reload_ms);
  bool broker_alive = true;
  for (;;) {
    const auto until = std::min(next_sample, next_reload);
    std::this_thread::sleep_until(until);
    const auto now = Clock::now();
    if (::kill(pid, 0) != 0) {
      broker_alive = false;
      break;
    }
    if (now >= next_reload) {
      const bool bad_one = reloads % 5 == 4;
      write_atomically(spec, bad_one ? bad : variants[static_cast<std::size_t>(reloads % 2)]);
      if (reloads % 2 == 0) {
        ::kill(pid, SIGHUP);
      } else {
        try {
          admin->reload(ring);
          if (bad_one) ++reload_unexpected;
        } catch (const samering::BrokerError& e) {
          if (bad_one && e.kind() == samering::BrokerError::Kind::kBroker) ++reload_failures_expected;
          else ++reload_unexpected;
        }
      }
      ++reloads;
      next_reload += std::chrono::milliseconds(reload_ms);
    }
    if (now >= next_sample) {
      const Sample s{std::chrono::duration<double>(now - t0).count(), vm_rss_kib(pid), open_fds(pid),
                     g_counters->requests.load(), g_counters->connections.load()};
      samples.push_back(s);
      std::printf("%s\n", nlohmann::json{{"t", std::round(s.t)}, {"rss_kib", s.rss_kib}, {"fds", s.fds},
                                         {"requests", s.requests}, {"connections", s.connections}}
                              .dump()
                              .c_str());
      std::fflush(stdout);
      next_sample += 1s;
      if (s.t >= seconds || s.requests >= max_requests) break;
    }
  }
  g_counters->stop = 1;
  int workers_ok = 0;
  for (pid_t k : kids) {
    int st = 0;
    for (int i = 0; i < 3000 && ::waitpid(k, &st, WNOHANG) == 0; ++i) std::this_thread::sleep_for(10ms);
    if (::waitpid(k, &st, WNOHANG) == 0) {
      ::kill(k, SIGKILL);
      ::waitpid(k, &st, 0);
    } else if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
      ++workers_ok;
    }
  }
  // Every worker connection closed: the broker is back to the admin connection.
  int fds_after = -1;
  long rss_idle = -1;
  std::uint64_t current = 0;
  if (broker_alive) {
    for (int i = 0; i < 500; ++i) {
      try {
        current = nlohmann::json::parse(admin->stats())["connections"]["current"].get<std::uint64_t>();
      } catch (const std::exception&) {
        broker_alive = ::kill(pid, 0) == 0;
        break;
      }
      if (current == 1) break;
      std::this_thread::sleep_for(20ms);
    }
    fds_after = open_fds(pid);
    rss_idle = vm_rss_kib(pid);
  }

  // start / end: the median of the first / last 10 samples after the warm-up (one sample swings by
  // about a MiB as sessions with large buffers come and go); peak: the largest single sample.
  std::vector<long> after;
  long peak = -1;
  for (const auto& s : samples)
    if (s.t >= warmup) {
      after.push_back(s.rss_kib);
      peak = std::max(peak, s.rss_kib);
    }
  auto median = [](std::vector<long> v) {
    if (v.empty()) return -1L;
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  const std::size_t window = std::min<std::size_t>(10, after.size());
  const long start = median({after.begin(), after.begin() + static_cast<std::ptrdiff_t>(window)});
  const long end = median({after.end() - static_cast<std::ptrdiff_t>(window), after.end()});
  const double wall = samples.empty() ? 0 : samples.back().t;
  const long growth = start < 0 ? 0 : end - start;
  const bool pass = broker_alive && start >= 0 && growth <= max_growth_kib && fds_after == fds_before &&
                    g_counters->unexpected == 0 && reload_unexpected == 0 && workers_ok == static_cast<int>(kids.size());
  nlohmann::json summary{
      {"mode", "summary"},
      {"seconds", wall},
      {"warmup_s", warmup},
      {"workers", workers},
      {"requests", g_counters->requests.load()},
      {"connections", g_counters->connections.load()},
      {"sessions", {{"client", g_counters->sessions[0].load()}, {"pipelined", g_counters->sessions[1].load()},
                    {"fatal", g_counters->sessions[2].load()}, {"abandoned", g_counters->sessions[3].load()}}},
      {"keys", g_counters->keys.load()},
      {"descriptors", g_counters->descriptors.load()},
      {"error_frames", g_counters->error_frames.load()},
      {"reloads", reloads},
      {"bad_reloads_refused", reload_failures_expected},
      {"reload_unexpected", reload_unexpected},
      {"unexpected", g_counters->unexpected.load()},
      {"last_unexpected", std::string(g_counters->last_unexpected)},
      {"rss_before_load_kib", rss_before},
      {"rss_start_kib", start},
      {"rss_peak_kib", peak},
      {"rss_end_kib", end},
      {"rss_idle_after_kib", rss_idle},
      {"growth_kib", growth},
      {"max_growth_kib", max_growth_kib},
      {"fds_before", fds_before},
      {"fds_after", fds_after},
      {"broker_alive", broker_alive},
      {"pass", pass}};
  std::printf("%s\n", summary.dump().c_str());
  std::fprintf(stderr,
               "broker_soak: %.0f s, %llu requests over %llu connections, %d reloads; RSS start %ld KiB, peak %ld, "
               "end %ld (growth %ld KiB, bound %ld); fds %d -> %d; unexpected %llu%s%s: %s\n",
               wall, static_cast<unsigned long long>(g_counters->requests.load()),
               static_cast<unsigned long long>(g_counters->connections.load()), reloads, start, peak, end, growth,
               max_growth_kib, fds_before, fds_after, static_cast<unsigned long long>(g_counters->unexpected.load()),
               g_counters->unexpected ? " (last: " : "", g_counters->unexpected ? (std::string(g_counters->last_unexpected) + ")").c_str() : "",
               pass ? "PASS" : "FAIL");
  return pass ? 0 : 1;
}
