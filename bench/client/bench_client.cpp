// bench_client: samering::Client vs libmemcached used directly, against one local memcached, in
// one run (bench/client/README.md). Each pair shares the server, the keys and the values:
//   BM_Get/samering        Client::get                   BM_Get/libmemcached        memcached_get
//   BM_Set/samering        Client::set                   BM_Set/libmemcached        memcached_set
//   BM_GetMulti100/...     100 keys: Client::get_multi (callback) vs memcached_mget + fetch_result
//   BM_Paired/...          the same three, both sides alternating within each iteration (ratio)
// Both sides: one connection, text protocol, TCP_NODELAY, default timeouts.
//
// The server: $SAMERING_BENCH_MEMCACHED (host:port) if set; otherwise the bench starts
// /usr/bin/memcached -t 1 on a free loopback port, pinned to $SAMERING_BENCH_MEMCACHED_CPU when set,
// and kills it at exit. Pin the bench itself with taskset (run.sh does both).
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <libmemcached/memcached.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "samering/client.hpp"

namespace {

constexpr std::size_t kKeys = 1000;
constexpr std::size_t kValueBytes = 100;
constexpr std::size_t kMulti = 100;

struct Server {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  pid_t pid = -1;  // started by us
};

std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    throw std::runtime_error("no free port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

bool accepts(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  if (fd >= 0) ::close(fd);
  return ok;
}

Server& server() {
  static Server s = [] {
    Server out;
    if (const char* given = std::getenv("SAMERING_BENCH_MEMCACHED")) {
      const std::string hp = given;
      const auto colon = hp.rfind(':');
      out.host = hp.substr(0, colon);
      out.port = static_cast<std::uint16_t>(std::stoi(hp.substr(colon + 1)));
      return out;
    }
    out.port = free_port();
    const std::string port = std::to_string(out.port);
    out.pid = ::fork();
    if (out.pid == 0) {
      if (const char* cpu = std::getenv("SAMERING_BENCH_MEMCACHED_CPU")) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(std::atoi(cpu), &set);
        ::sched_setaffinity(0, sizeof set, &set);
      }
      if (::geteuid() == 0) {
        ::execlp("memcached", "memcached", "-u", "nobody", "-l", "127.0.0.1", "-p", port.c_str(), "-U", "0", "-t", "1",
                 static_cast<char*>(nullptr));
      } else {
        ::execlp("memcached", "memcached", "-l", "127.0.0.1", "-p", port.c_str(), "-U", "0", "-t", "1",
                 static_cast<char*>(nullptr));
      }
      ::_exit(127);
    }
    for (int i = 0; i < 1000 && !accepts(out.port); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::atexit([] {
      if (server().pid > 0) {
        ::kill(server().pid, SIGKILL);
        ::waitpid(server().pid, nullptr, 0);
      }
    });
    return out;
  }();
  return s;
}

const std::vector<std::string>& keys() {
  static const std::vector<std::string> k = [] {
    std::vector<std::string> out;
    char buf[32];
    for (std::size_t i = 0; i < kKeys; ++i) {
      std::snprintf(buf, sizeof buf, "bench:key:%04zu", i);
      out.emplace_back(buf);
    }
    return out;
  }();
  return k;
}

const std::string& value() {
  static const std::string v(kValueBytes, 'v');
  return v;
}

memcached_st* libmemcached_handle() {
  memcached_st* mc = memcached_create(nullptr);
  memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
  memcached_server_add(mc, server().host.c_str(), server().port);
  return mc;
}

samering::Client samering_client() {
  const std::string spec = R"({"flavor":"cmf","servers":[{"host":")" + server().host + R"(","port":)" +
                           std::to_string(server().port) + "}]}";
  return samering::Client(samering::ring_from_json(spec));
}

// Every key stored once, before any benchmark reads.
void preload() {
  static const bool done = [] {
    memcached_st* mc = libmemcached_handle();
    for (const auto& k : keys()) {
      if (memcached_set(mc, k.data(), k.size(), value().data(), value().size(), 0, 0) != MEMCACHED_SUCCESS) {
        std::fprintf(stderr, "preload failed: %s\n", memcached_last_error_message(mc));
        std::exit(1);
      }
    }
    memcached_free(mc);
    return true;
  }();
  (void)done;
}

void rate(benchmark::State& state, std::size_t keys_per_op) {
  state.counters["ops/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * keys_per_op));
}

void BM_Get_samering(benchmark::State& state) {
  preload();
  samering::Client client = samering_client();
  samering::Item item;
  std::size_t i = 0;
  for (auto _ : state) {
    if (client.get(keys()[i++ % kKeys], item) != samering::Status::ok) state.SkipWithError("get failed");
    benchmark::DoNotOptimize(item.value.data());
  }
  rate(state, 1);
}

void BM_Get_libmemcached(benchmark::State& state) {
  preload();
  memcached_st* mc = libmemcached_handle();
  std::size_t i = 0;
  for (auto _ : state) {
    const std::string& k = keys()[i++ % kKeys];
    std::size_t len = 0;
    std::uint32_t flags = 0;
    memcached_return_t rc;
    char* v = memcached_get(mc, k.data(), k.size(), &len, &flags, &rc);
    if (!v) state.SkipWithError("get failed");
    benchmark::DoNotOptimize(v);
    std::free(v);
  }
  memcached_free(mc);
  rate(state, 1);
}

void BM_Set_samering(benchmark::State& state) {
  preload();
  samering::Client client = samering_client();
  std::size_t i = 0;
  for (auto _ : state) {
    if (client.set(keys()[i++ % kKeys], value()) != samering::Status::ok) state.SkipWithError("set failed");
  }
  rate(state, 1);
}

void BM_Set_libmemcached(benchmark::State& state) {
  preload();
  memcached_st* mc = libmemcached_handle();
  std::size_t i = 0;
  for (auto _ : state) {
    const std::string& k = keys()[i++ % kKeys];
    if (memcached_set(mc, k.data(), k.size(), value().data(), value().size(), 0, 0) != MEMCACHED_SUCCESS) {
      state.SkipWithError("set failed");
    }
  }
  memcached_free(mc);
  rate(state, 1);
}

void BM_GetMulti100_samering(benchmark::State& state) {
  preload();
  samering::Client client = samering_client();
  std::vector<std::string_view> all(keys().begin(), keys().end());
  std::vector<samering::Status> status(kMulti);
  std::size_t window = 0;
  for (auto _ : state) {
    const std::span<const std::string_view> batch(all.data() + window * kMulti, kMulti);
    window = (window + 1) % (kKeys / kMulti);
    std::size_t bytes = 0;
    const std::size_t hits = client.get_multi(batch, status, [&](const samering::Hit& h) { bytes += h.value.size(); });
    if (hits != kMulti) state.SkipWithError("get_multi missed");
    benchmark::DoNotOptimize(bytes);
  }
  rate(state, kMulti);
}

void BM_GetMulti100_libmemcached(benchmark::State& state) {
  preload();
  memcached_st* mc = libmemcached_handle();
  std::vector<const char*> pointers;
  std::vector<std::size_t> lengths;
  for (const auto& k : keys()) {
    pointers.push_back(k.data());
    lengths.push_back(k.size());
  }
  memcached_result_st result;
  memcached_result_create(mc, &result);
  std::size_t window = 0;
  for (auto _ : state) {
    const std::size_t first = window * kMulti;
    window = (window + 1) % (kKeys / kMulti);
    if (memcached_mget(mc, pointers.data() + first, lengths.data() + first, kMulti) != MEMCACHED_SUCCESS) {
      state.SkipWithError("mget failed");
    }
    std::size_t bytes = 0, hits = 0;
    memcached_return_t rc;
    while (memcached_fetch_result(mc, &result, &rc)) {
      bytes += memcached_result_length(&result);
      ++hits;
    }
    if (hits != kMulti) state.SkipWithError("mget missed");
    benchmark::DoNotOptimize(bytes);
  }
  memcached_result_free(&result);
  memcached_free(mc);
  rate(state, kMulti);
}

// Paired: each iteration runs the samering op and the libmemcached op back to back (alternating
// which goes first) and times each, so that both see the same machine load. Counters: each side's
// median time per op (robust to a preemption landing on one op) and mean rate, and the ratios
// libmemcached time / samering time (> 1: samering faster). The figure to trust on a busy machine;
// the unpaired benchmarks above swing with other processes' load.
template <typename Samering, typename Libmemcached>
void paired(benchmark::State& state, std::size_t keys_per_op, Samering&& ours, Libmemcached&& theirs) {
  using Clock = std::chrono::steady_clock;
  std::vector<std::int64_t> d_ours, d_theirs;  // ns per op
  d_ours.reserve(1 << 16);
  d_theirs.reserve(1 << 16);
  std::size_t i = 0;
  auto ns = [](Clock::duration d) { return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count(); };
  for (auto _ : state) {
    const auto a = Clock::now();
    if (i % 2 == 0)
      ours(i);
    else
      theirs(i);
    const auto b = Clock::now();
    if (i % 2 == 0)
      theirs(i);
    else
      ours(i);
    const auto c = Clock::now();
    (i % 2 == 0 ? d_ours : d_theirs).push_back(ns(b - a));
    (i % 2 == 0 ? d_theirs : d_ours).push_back(ns(c - b));
    ++i;
  }
  auto median = [](std::vector<std::int64_t>& v) {
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return static_cast<double>(v[v.size() / 2]);
  };
  auto sum = [](const std::vector<std::int64_t>& v) {
    double t = 0;
    for (const auto x : v) t += static_cast<double>(x);
    return t;
  };
  const double mean_ours = sum(d_ours) / static_cast<double>(d_ours.size());
  const double mean_theirs = sum(d_theirs) / static_cast<double>(d_theirs.size());
  const double med_ours = median(d_ours), med_theirs = median(d_theirs);
  state.counters["samering_us"] = med_ours / 1000.0;
  state.counters["libmemcached_us"] = med_theirs / 1000.0;
  state.counters["samering_ops/s"] = 1e9 / mean_ours;
  state.counters["libmemcached_ops/s"] = 1e9 / mean_theirs;
  state.counters["ratio_median"] = med_theirs / med_ours;
  state.counters["ratio_mean"] = mean_theirs / mean_ours;
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * keys_per_op * 2));
}

void BM_Paired_get(benchmark::State& state) {
  preload();
  samering::Client client = samering_client();
  memcached_st* mc = libmemcached_handle();
  samering::Item item;
  paired(
      state, 1,
      [&](std::size_t i) {
        if (client.get(keys()[i % kKeys], item) != samering::Status::ok) state.SkipWithError("get failed");
      },
      [&](std::size_t i) {
        const std::string& k = keys()[i % kKeys];
        std::size_t len = 0;
        std::uint32_t flags = 0;
        memcached_return_t rc;
        char* v = memcached_get(mc, k.data(), k.size(), &len, &flags, &rc);
        if (!v) state.SkipWithError("get failed");
        std::free(v);
      });
  memcached_free(mc);
}

void BM_Paired_set(benchmark::State& state) {
  preload();
  samering::Client client = samering_client();
  memcached_st* mc = libmemcached_handle();
  paired(
      state, 1,
      [&](std::size_t i) {
        if (client.set(keys()[i % kKeys], value()) != samering::Status::ok) state.SkipWithError("set failed");
      },
      [&](std::size_t i) {
        const std::string& k = keys()[i % kKeys];
        if (memcached_set(mc, k.data(), k.size(), value().data(), value().size(), 0, 0) != MEMCACHED_SUCCESS) {
          state.SkipWithError("set failed");
        }
      });
  memcached_free(mc);
}

void BM_Paired_get_multi100(benchmark::State& state) {
  preload();
  samering::Client client = samering_client();
  memcached_st* mc = libmemcached_handle();
  std::vector<std::string_view> all(keys().begin(), keys().end());
  std::vector<const char*> pointers;
  std::vector<std::size_t> lengths;
  for (const auto& k : keys()) {
    pointers.push_back(k.data());
    lengths.push_back(k.size());
  }
  std::vector<samering::Status> status(kMulti);
  memcached_result_st result;
  memcached_result_create(mc, &result);
  paired(
      state, kMulti,
      [&](std::size_t i) {
        const std::span<const std::string_view> batch(all.data() + (i % (kKeys / kMulti)) * kMulti, kMulti);
        std::size_t bytes = 0;
        if (client.get_multi(batch, status, [&](const samering::Hit& h) { bytes += h.value.size(); }) != kMulti) {
          state.SkipWithError("get_multi missed");
        }
        benchmark::DoNotOptimize(bytes);
      },
      [&](std::size_t i) {
        const std::size_t first = (i % (kKeys / kMulti)) * kMulti;
        if (memcached_mget(mc, pointers.data() + first, lengths.data() + first, kMulti) != MEMCACHED_SUCCESS) {
          state.SkipWithError("mget failed");
        }
        std::size_t bytes = 0, hits = 0;
        memcached_return_t rc;
        while (memcached_fetch_result(mc, &result, &rc)) {
          bytes += memcached_result_length(&result);
          ++hits;
        }
        if (hits != kMulti) state.SkipWithError("mget missed");
        benchmark::DoNotOptimize(bytes);
      });
  memcached_result_free(&result);
  memcached_free(mc);
}

BENCHMARK(BM_Get_samering)->Name("BM_Get/samering")->UseRealTime();
BENCHMARK(BM_Get_libmemcached)->Name("BM_Get/libmemcached")->UseRealTime();
BENCHMARK(BM_Set_samering)->Name("BM_Set/samering")->UseRealTime();
BENCHMARK(BM_Set_libmemcached)->Name("BM_Set/libmemcached")->UseRealTime();
BENCHMARK(BM_GetMulti100_samering)->Name("BM_GetMulti100/samering")->UseRealTime();
BENCHMARK(BM_GetMulti100_libmemcached)->Name("BM_GetMulti100/libmemcached")->UseRealTime();
BENCHMARK(BM_Paired_get)->Name("BM_Paired/get")->UseRealTime();
BENCHMARK(BM_Paired_set)->Name("BM_Paired/set")->UseRealTime();
BENCHMARK(BM_Paired_get_multi100)->Name("BM_Paired/get_multi100")->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
