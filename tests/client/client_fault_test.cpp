// samering::Client under faults on live components, with 16 forked clients at once (half use the
// parent's Client inherited across fork, half build their own after fork), each running a mixed
// load (set/get/add/delete/incr/multi-get) over keys that span every node:
//   - a memcached killed with SIGKILL mid-load: only its keys get errors, nothing is written to
//     another node, and every client serves its keys again within the retry timeout (+ a margin)
//     once it is restarted on the same port;
//   - a node that accepts and reads but never answers: only its keys fail, with a timeout within
//     the I/O timeout (+ a margin), and no client hangs.
// ClientFailure covers the same faults with one client in one process; this file is about many
// processes at once. The test process starts no thread (it forks); children never touch gtest.
// Bounds here are correctness bounds (a retry that never happens, a timeout that never fires),
// generous on purpose, not speed figures.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
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
using Clock = std::chrono::steady_clock;

constexpr int kChildren = 16;
constexpr int kInherited = kChildren / 2;  // children 0..7 use the parent's Client; 8..15 their own
constexpr std::size_t kMultiGetWindow = 8;

// steady_clock is CLOCK_MONOTONIC on Linux: one clock for every process, so a time point taken
// by the parent can be compared with one taken by a child.
std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// The parent drives the children through phases; children publish their progress. Lives in a
// MAP_SHARED page so every process sees the same atomics.
enum Phase : int {
  healthy = 0,     // every node up: no error is explained
  killing = 1,     // the parent is killing the faulty node (it may die at any moment)
  down = 2,        // the faulty node is down (killed and reaped) or silent
  restarting = 3,  // the parent is starting memcached again (it may accept at any moment)
  up = 4,          // memcached accepts again, since up_ns
  abort_run = 9,   // the parent gave up: report and exit now
};

struct Shared {
  std::atomic<int> phase{healthy};
  std::atomic<std::int64_t> up_ns{0};
  std::array<std::atomic<std::int64_t>, kChildren> iterations{};     // load iterations done
  std::array<std::atomic<std::int64_t>, kChildren> down_failures{};  // faulty-key failures seen in phase down
  std::array<std::atomic<std::int64_t>, kChildren> timeouts{};       // Status::timeout seen
};
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<std::int64_t>::is_always_lock_free,
              "shared between processes: must not hide a process-local lock");

class SharedPage {
 public:
  SharedPage() {
    void* p = ::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap failed");
    shared_ = new (p) Shared;
  }
  ~SharedPage() {
    shared_->~Shared();
    ::munmap(shared_, sizeof(Shared));
  }
  SharedPage(const SharedPage&) = delete;
  SharedPage& operator=(const SharedPage&) = delete;
  Shared* operator->() const { return shared_; }
  Shared& operator*() const { return *shared_; }

 private:
  Shared* shared_;
};

// What one child saw, written to the report pipe in one write (< PIPE_BUF, so never interleaved).
struct Report {
  int child = -1;
  std::int64_t ops = 0;                    // key operations observed (a multi-get counts each key)
  std::int64_t faulty_ops = 0;             // ... of them on the faulty node's keys
  std::int64_t faulty_errors = 0;          // errors on the faulty node's keys
  std::int64_t other_errors = 0;           // errors on any other node's keys: must stay 0
  std::int64_t unexpected = 0;             // a faulty-key result the fault does not explain
  std::int64_t down_checked = 0;           // faulty-key ops run wholly inside phase down
  std::int64_t timeouts = 0;               // Status::timeout results
  std::int64_t server_down = 0;            // Status::server_down results
  std::int64_t connection_lost = 0;        // Status::connection_lost results
  std::int64_t min_timeout_ms = -1;        // shortest operation that ended in a timeout
  std::int64_t max_timeout_ms = -1;        // longest one
  std::int64_t max_op_ms = 0;              // longest single operation of any kind
  std::int64_t recovery_ms = -1;           // first faulty-key success after up_ns (-1: never)
  std::int64_t errors_after_recovery = 0;  // any error after that success: must stay 0
  char first_problem[256] = {};            // the first violation, for the failure message
};
static_assert(sizeof(Report) < PIPE_BUF);

// The keys, where each one lives (by the ring: Client::server_for, no I/O), and the faulty node.
struct KeySet {
  std::vector<std::string> names;
  std::vector<std::size_t> home;
  std::size_t faulty = 0;

  KeySet(const Client& client, std::size_t faulty_node, std::size_t nodes) : faulty(faulty_node) {
    // At least 96 keys, and more until every node has 16 (the ring depends on the ports).
    std::vector<std::size_t> per_node(nodes, 0);
    for (int i = 0; i < 96 || *std::min_element(per_node.begin(), per_node.end()) < 16; ++i) {
      if (i == 5000) throw std::runtime_error("5000 keys and a node still has fewer than 16");
      names.push_back("fault:" + std::to_string(i));
      home.push_back(static_cast<std::size_t>(client.server_for(names.back())));
      ++per_node.at(home.back());
    }
  }
  bool on_faulty(std::size_t k) const { return home[k] == faulty; }
};

// Which results a fault explains on the faulty node's keys.
enum class Fault { killed, silent };

// One child's load and its bookkeeping. Runs in the child only.
class Load {
 public:
  Load(int child, Client& client, const KeySet& keys, Shared& shared, Fault fault)
      : client_(client), keys_(keys), shared_(shared), fault_(fault) {
    report_.child = child;
    // Each child starts at another key, so the children do not walk the key set in lockstep.
    next_key_ = static_cast<std::size_t>(child) * 7 % keys.names.size();
  }

  // One operation of the mix on the next key (a multi-get: the next kMultiGetWindow keys).
  void step() {
    const std::size_t k = next_key_;
    next_key_ = (next_key_ + 1) % keys_.names.size();
    const std::string& key = keys_.names[k];
    const int phase_before = shared_.phase.load();
    const auto t0 = Clock::now();
    const std::int64_t before_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t0.time_since_epoch()).count();
    const int op = static_cast<int>(iteration_ % 6);
    if (op == 5) {
      std::array<std::string_view, kMultiGetWindow> window;
      std::array<Status, kMultiGetWindow> status;
      std::array<std::size_t, kMultiGetWindow> index;
      for (std::size_t i = 0; i < kMultiGetWindow; ++i) {
        index[i] = (k + i) % keys_.names.size();
        window[i] = keys_.names[index[i]];
      }
      client_.get_multi(window, status, [](const samering::Hit&) {});
      const auto took = Clock::now() - t0;
      const int phase_after = shared_.phase.load();
      for (std::size_t i = 0; i < kMultiGetWindow; ++i) {
        observe(index[i], status[i], took, phase_before, phase_after, before_ns, "get_multi");
      }
    } else {
      static constexpr const char* names[] = {"set", "get", "add", "delete", "incr"};
      const std::string value = std::to_string(report_.child * 1'000'000 + iteration_);  // a number: incr works
      Item item;
      const Status s = op == 0   ? client_.set(key, value)
                       : op == 1 ? client_.get(key, item)
                       : op == 2 ? client_.add(key, value)
                       : op == 3 ? client_.remove(key)
                                 : client_.incr(key, 3);
      observe(k, s, Clock::now() - t0, phase_before, shared_.phase.load(), before_ns, names[op]);
    }
    ++iteration_;
    shared_.iterations[report_.child].store(iteration_);
  }

  std::int64_t iterations() const { return iteration_; }
  bool recovered() const { return report_.recovery_ms >= 0; }
  const Report& report() const { return report_; }

 private:
  void problem(const std::string& what) {
    if (report_.first_problem[0] == '\0') {
      std::snprintf(report_.first_problem, sizeof report_.first_problem, "child %d: %s", report_.child, what.c_str());
    }
  }

  void observe(std::size_t k, Status s, Clock::duration took, int phase_before, int phase_after, std::int64_t before_ns,
               const char* op) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(took).count();
    const std::string& key = keys_.names[k];
    const bool faulty = keys_.on_faulty(k);
    ++report_.ops;
    report_.max_op_ms = std::max<std::int64_t>(report_.max_op_ms, ms);
    if (faulty) ++report_.faulty_ops;
    if (s == Status::timeout) {
      ++report_.timeouts;
      shared_.timeouts[report_.child].fetch_add(1);
      report_.min_timeout_ms = report_.min_timeout_ms < 0 ? ms : std::min<std::int64_t>(report_.min_timeout_ms, ms);
      report_.max_timeout_ms = std::max<std::int64_t>(report_.max_timeout_ms, ms);
    }
    if (s == Status::server_down) ++report_.server_down;
    if (s == Status::connection_lost) ++report_.connection_lost;

    const std::string where = std::string(op) + " " + key + " (node " + std::to_string(keys_.home[k]) + ")";
    if (recovered() && samering::failed(s)) {
      ++report_.errors_after_recovery;
      problem(where + " failed after recovery: " + std::string(samering::to_string(s)) + ": " +
              std::string(client_.last_error()));
    }
    if (!faulty) {
      if (samering::failed(s)) {
        ++report_.other_errors;
        problem(where + " failed on a healthy node: " + std::string(samering::to_string(s)) + ": " +
                std::string(client_.last_error()));
      }
      return;
    }
    if (samering::failed(s)) {
      ++report_.faulty_errors;
      // What the fault explains: a killed node refuses (server_down) or breaks an open
      // connection (connection_lost); a silent one times out, then is left alone (server_down).
      const bool explained = fault_ == Fault::killed ? (s == Status::server_down || s == Status::connection_lost)
                                                     : (s == Status::timeout || s == Status::server_down);
      // An operation that ended before the parent began the kill had a healthy node.
      if (!explained || phase_after == healthy) {
        ++report_.unexpected;
        problem(where + " gave " + std::string(samering::to_string(s)) + " in phase " + std::to_string(phase_before) +
                ": " + std::string(client_.last_error()));
      }
      if (phase_before == down && phase_after == down) {
        ++report_.down_checked;
        shared_.down_failures[report_.child].fetch_add(1);
      }
      return;
    }
    // A faulty-node key answered.
    if (phase_before == down && phase_after == down) {
      // The node was down (dead, or silent) for the whole operation: an answer is impossible
      // unless the key was served by another node.
      ++report_.unexpected;
      problem(where + " answered " + std::string(samering::to_string(s)) + " while its node was down");
      return;
    }
    if (fault_ == Fault::killed && phase_before >= restarting && !recovered()) {
      const std::int64_t done_ns = before_ns + std::chrono::duration_cast<std::chrono::nanoseconds>(took).count();
      report_.recovery_ms = std::max<std::int64_t>(0, (done_ns - shared_.up_ns.load()) / 1'000'000);
      // Taken before up_ns was published (phase restarting): the restarted memcached already
      // accepted; count it as recovered at once.
      if (shared_.up_ns.load() == 0) report_.recovery_ms = 0;
    }
  }

  Client& client_;
  const KeySet& keys_;
  Shared& shared_;
  Fault fault_;
  Report report_;
  std::size_t next_key_ = 0;
  std::int64_t iteration_ = 0;
};

// The children, their report pipe, and a bounded reap: a child still running at the deadline is
// killed (and its missing report fails the test). The destructor kills whatever is left.
class Children {
 public:
  Children() {
    if (::pipe2(pipe_, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  }
  ~Children() {
    for (const pid_t pid : pids_) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    ::close(pipe_[0]);
    if (pipe_[1] >= 0) ::close(pipe_[1]);
  }
  Children(const Children&) = delete;
  Children& operator=(const Children&) = delete;

  // Forks one child running body(child) -> exit code; the child writes its report itself.
  template <typename Body>
  void spawn(int child, Body&& body) {
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      ::close(pipe_[0]);
      int code = 4;
      try {
        code = body(child, pipe_[1]);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child %d: %s\n", child, e.what());
      }
      ::_exit(code);  // _exit: no gtest teardown, no atexit in the child
    }
    pids_.push_back(pid);
  }

  // Closes the parent's write end, then collects reports until every child has sent one or the
  // deadline passed, and reaps every child (killing those still running at the deadline).
  // Returns the reports and, per child in spawn order, its exit code (-1: killed at the deadline).
  std::vector<Report> collect(Clock::time_point deadline, std::vector<int>& exit_codes) {
    ::close(pipe_[1]);
    pipe_[1] = -1;
    std::vector<Report> reports;
    std::string buffer;
    while (reports.size() < pids_.size()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) break;
      pollfd p{pipe_[0], POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left, 100))) <= 0) continue;
      char chunk[4096];
      const ssize_t n = ::read(pipe_[0], chunk, sizeof chunk);
      if (n <= 0) break;  // every child has exited
      buffer.append(chunk, static_cast<std::size_t>(n));
      while (buffer.size() >= sizeof(Report)) {
        Report r;
        std::memcpy(&r, buffer.data(), sizeof r);
        buffer.erase(0, sizeof r);
        reports.push_back(r);
      }
    }
    exit_codes.clear();
    for (const pid_t pid : pids_) {
      int code = -1;
      for (;;) {
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) {
          code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
          break;
        }
        if (Clock::now() > deadline) {
          ::kill(pid, SIGKILL);
          ::waitpid(pid, nullptr, 0);
          break;
        }
        std::this_thread::sleep_for(1ms);
      }
      exit_codes.push_back(code);
    }
    pids_.clear();
    std::sort(reports.begin(), reports.end(), [](const Report& a, const Report& b) { return a.child < b.child; });
    return reports;
  }

 private:
  int pipe_[2] = {-1, -1};
  std::vector<pid_t> pids_;
};

int send_report(int fd, const Report& r) { return ::write(fd, &r, sizeof r) == static_cast<ssize_t>(sizeof r) ? 0 : 3; }

// Waits (bounded) until pred() holds, polling every millisecond. False at the deadline.
template <typename Pred>
bool wait_until(Clock::duration limit, Pred pred) {
  const auto deadline = Clock::now() + limit;
  while (!pred()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

bool every_child(const Shared& shared, std::int64_t at_least,
                 const std::array<std::atomic<std::int64_t>, kChildren> Shared::*counter) {
  for (int c = 0; c < kChildren; ++c) {
    if ((shared.*counter)[c].load() < at_least) return false;
  }
  return true;
}

std::string spec_of(const std::vector<std::uint16_t>& ports) {
  std::string s = R"({"flavor":"cmf","servers":[)";
  for (std::size_t i = 0; i < ports.size(); ++i) {
    if (i) s += ",";
    s += R"({"host":"127.0.0.1","port":)" + std::to_string(ports[i]) + "}";
  }
  return s + "]}";
}

// The counts every test prints, so a run shows what was exercised.
void print_reports(const std::vector<Report>& reports) {
  for (const Report& r : reports) {
    std::printf(
        "child %2d: ops %lld (faulty-node keys %lld: %lld errors, %lld inside phase down), timeouts %lld "
        "[%lld..%lld ms], server_down %lld, connection_lost %lld, longest op %lld ms, recovery %lld ms\n",
        r.child, static_cast<long long>(r.ops), static_cast<long long>(r.faulty_ops),
        static_cast<long long>(r.faulty_errors), static_cast<long long>(r.down_checked),
        static_cast<long long>(r.timeouts), static_cast<long long>(r.min_timeout_ms),
        static_cast<long long>(r.max_timeout_ms), static_cast<long long>(r.server_down),
        static_cast<long long>(r.connection_lost), static_cast<long long>(r.max_op_ms),
        static_cast<long long>(r.recovery_ms));
  }
}

// The checks every child's report must pass whatever the fault.
void expect_only_faulty_keys_failed(const std::vector<Report>& reports, const std::vector<int>& exit_codes) {
  ASSERT_EQ(exit_codes.size(), static_cast<std::size_t>(kChildren));
  for (int c = 0; c < kChildren; ++c) EXPECT_EQ(exit_codes[c], 0) << "child " << c << " (-1: killed, it hung)";
  ASSERT_EQ(reports.size(), static_cast<std::size_t>(kChildren)) << "a child sent no report";
  for (const Report& r : reports) {
    EXPECT_EQ(r.other_errors, 0) << r.first_problem;
    EXPECT_EQ(r.unexpected, 0) << r.first_problem;
    EXPECT_GT(r.faulty_errors, 0) << "child " << r.child << " never saw its faulty node fail";
    EXPECT_GT(r.down_checked, 0) << "child " << r.child << " ran no faulty-key operation while the node was down";
  }
}

TEST(ClientFault, KilledNodeUnderSixteenForkedClientsFailsOnlyItsKeysAndRecovers) {
  Cluster cluster(4);
  // A killed node refuses connects and resets connections at once: no timeout is involved, so the
  // timeouts are long enough that an operation on a live node starved of CPU (16 busy children
  // on two cores, under a sanitizer, beside other tests) is never taken for a fault.
  ClientOptions options;
  options.connect_timeout = 2000ms;
  options.io_timeout = 5000ms;
  options.retry_timeout = 1000ms;
  const std::string spec = cluster.spec();
  Client parent(samering::ring_from_json(spec), options);
  const KeySet keys(parent, /*faulty_node=*/2, cluster.size());
  // The parent's connections to every node are open before the fork (the inherited children's
  // copies must be dropped, and the killed node's breaks under them).
  for (const std::string& key : keys.names) ASSERT_EQ(parent.set(key, "1"), Status::ok) << parent.last_error();

  SharedPage shared;
  Children children;
  // A child stops after this many iterations once its faulty-node keys answer again, or at this
  // deadline after the restart (recovery_ms then stays -1 and fails the test).
  constexpr std::int64_t kAfterRecovery = 60;
  const auto recovery_bound = options.retry_timeout + 2s;
  for (int c = 0; c < kChildren; ++c) {
    children.spawn(c, [&](int child, int report_fd) {
      std::unique_ptr<Client> own;
      if (child >= kInherited) own = std::make_unique<Client>(samering::ring_from_json(spec), options);
      Client& client = own ? *own : parent;
      Load load(child, client, keys, *shared, Fault::killed);
      std::int64_t recovered_at = -1;
      for (;;) {
        const int phase = shared->phase.load();
        if (phase == abort_run) break;
        if (phase == up) {
          if (load.recovered() && recovered_at < 0) recovered_at = load.iterations();
          if (recovered_at >= 0 && load.iterations() - recovered_at >= kAfterRecovery) break;
          if (now_ns() - shared->up_ns.load() > std::chrono::nanoseconds(recovery_bound + 1s).count()) break;
        }
        load.step();
      }
      return send_report(report_fd, load.report());
    });
  }

  // Healthy: every child runs its mix (and would report any error).
  ASSERT_TRUE(wait_until(10s, [&] { return every_child(*shared, 30, &Shared::iterations); }))
      << "the children did not get going";
  // SIGKILL the node and reap it; only then tell the children it is down.
  const std::uint16_t killed_port = cluster.node(keys.faulty).port();
  shared->phase.store(killing);
  cluster.node(keys.faulty).kill();
  shared->phase.store(down);
  const bool saw_down = wait_until(10s, [&] { return every_child(*shared, 20, &Shared::down_failures); });
  // Restart on the same port; the children may reach it as soon as it accepts.
  shared->phase.store(restarting);
  cluster.node(keys.faulty).restart();
  ASSERT_EQ(cluster.node(keys.faulty).port(), killed_port);
  shared->up_ns.store(now_ns());
  shared->phase.store(saw_down ? up : abort_run);

  std::vector<int> exit_codes;
  const auto reports = children.collect(Clock::now() + recovery_bound + 10s, exit_codes);
  print_reports(reports);
  expect_only_faulty_keys_failed(reports, exit_codes);
  ASSERT_TRUE(saw_down) << "some child ran no faulty-key operation while the node was down";
  std::int64_t worst = 0;
  for (const Report& r : reports) {
    EXPECT_GE(r.recovery_ms, 0) << "child " << r.child << " never served the restarted node's keys";
    EXPECT_LE(r.recovery_ms, std::chrono::milliseconds(recovery_bound).count()) << "child " << r.child;
    EXPECT_EQ(r.errors_after_recovery, 0) << r.first_problem;
    EXPECT_EQ(r.timeouts, 0) << "a refused or broken connection is not a timeout; child " << r.child;
    worst = std::max(worst, r.recovery_ms);
  }
  std::printf("slowest recovery: %lld ms after the restart (retry_timeout %lld ms)\n", static_cast<long long>(worst),
              static_cast<long long>(options.retry_timeout.count()));

  // Nothing was written anywhere else: no surviving node holds any of the killed node's keys.
  std::size_t checked = 0;
  for (std::size_t j = 0; j < cluster.size(); ++j) {
    if (j == keys.faulty) continue;
    RawConnection raw(cluster.node(j).port());
    for (std::size_t k = 0; k < keys.names.size(); ++k) {
      if (!keys.on_faulty(k)) continue;
      EXPECT_FALSE(raw.get(keys.names[k])) << keys.names[k] << " (node " << keys.faulty << ") leaked to node " << j;
      ++checked;
    }
  }
  EXPECT_GT(checked, 0u);
}

TEST(ClientFault, SilentNodeUnderSixteenForkedClientsTimesOutOnlyItsKeys) {
  // Three memcached and, as node 1, a listener that accepts and reads but never writes a byte.
  Cluster cluster(3);
  FakeServer silent(1, FakeServer::Mode::silent);
  const std::size_t faulty = 1;
  const std::vector<std::uint16_t> ports = {cluster.node(0).port(), silent.port(0), cluster.node(1).port(),
                                            cluster.node(2).port()};
  // The I/O timeout is the fault's measure here, and it applies to the live nodes too: it is long
  // enough that a live node's answer, delayed by CPU starvation (16 children on two cores, under a
  // sanitizer, beside other tests; up to ~0.5 s seen), is never taken for a timeout.
  ClientOptions options;
  options.connect_timeout = 2000ms;
  options.io_timeout = 1500ms;
  options.retry_timeout = 500ms;
  const std::string spec = spec_of(ports);
  Client parent(samering::ring_from_json(spec), options);
  const KeySet keys(parent, faulty, ports.size());
  // The parent's connections to the three memcached are open before the fork.
  for (std::size_t k = 0; k < keys.names.size(); ++k) {
    if (!keys.on_faulty(k)) {
      ASSERT_EQ(parent.set(keys.names[k], "1"), Status::ok) << parent.last_error();
    }
  }

  SharedPage shared;
  shared->phase.store(down);  // silent from the start
  Children children;
  // Each child runs until it has seen two timeouts (the second one after a retry timeout has
  // passed: the node is tried again and times out again) and enough other work, or is stopped.
  constexpr std::int64_t kTimeouts = 2, kIterations = 120;
  for (int c = 0; c < kChildren; ++c) {
    children.spawn(c, [&](int child, int report_fd) {
      std::unique_ptr<Client> own;
      if (child >= kInherited) own = std::make_unique<Client>(samering::ring_from_json(spec), options);
      Client& client = own ? *own : parent;
      Load load(child, client, keys, *shared, Fault::silent);
      while (shared->phase.load() != abort_run &&
             (load.report().timeouts < kTimeouts || load.iterations() < kIterations)) {
        load.step();
      }
      return send_report(report_fd, load.report());
    });
  }
  // A child needs about 2 * io_timeout + retry_timeout (+ its share of two cores) to finish.
  const bool finished = wait_until(20s, [&] { return every_child(*shared, kTimeouts, &Shared::timeouts); });
  if (!finished) shared->phase.store(abort_run);
  std::vector<int> exit_codes;
  const auto reports = children.collect(Clock::now() + 10s, exit_codes);
  print_reports(reports);
  expect_only_faulty_keys_failed(reports, exit_codes);
  ASSERT_TRUE(finished) << "some child saw fewer than " << kTimeouts << " timeouts";
  const auto io = options.io_timeout.count();
  const auto bound = std::chrono::milliseconds(options.io_timeout + 2s).count();
  for (const Report& r : reports) {
    EXPECT_GE(r.timeouts, kTimeouts) << "child " << r.child;
    // The timeout fired, and not before the client waited: at least half the I/O timeout (poll
    // granularity aside), at most the I/O timeout plus a margin.
    EXPECT_GE(r.min_timeout_ms, io / 2) << "child " << r.child;
    EXPECT_LE(r.max_timeout_ms, bound) << "child " << r.child;
    // No operation hung: none took longer than one timeout plus the margin.
    EXPECT_LE(r.max_op_ms, bound) << "child " << r.child;
    EXPECT_EQ(r.connection_lost, 0) << "child " << r.child;
  }

  // Nothing was written anywhere else: no memcached holds any of the silent node's keys...
  for (std::size_t j = 0; j < cluster.size(); ++j) {
    RawConnection raw(cluster.node(j).port());
    for (std::size_t k = 0; k < keys.names.size(); ++k) {
      if (keys.on_faulty(k)) {
        EXPECT_FALSE(raw.get(keys.names[k])) << keys.names[k] << " leaked to memcached " << j;
      }
    }
  }
  // ...and the silent node was asked about its own keys only (values are numbers, so every
  // "fault:" token in its log is a key).
  std::size_t seen = 0;
  for (const auto& conn : silent.report()) {
    for (auto at = conn.received.find("fault:"); at != std::string::npos; at = conn.received.find("fault:", at + 1)) {
      const auto end = conn.received.find_first_of(" \r\n", at);
      const std::string key = conn.received.substr(at, end - at);
      const auto k =
          static_cast<std::size_t>(std::find(keys.names.begin(), keys.names.end(), key) - keys.names.begin());
      ASSERT_LT(k, keys.names.size()) << "unknown key " << key;
      EXPECT_TRUE(keys.on_faulty(k)) << key << " (node " << keys.home[k] << ") was sent to the silent node";
      ++seen;
    }
  }
  EXPECT_GT(seen, 0u) << "the silent node received no request";
}

}  // namespace
