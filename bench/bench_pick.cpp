// bench_pick — pick ns/op of every flavor against its floor (the bare crc32 of the same keys) and
// its peer (libmemcached's memcached_generate_hash on a ketama ring of the same servers), and ring
// build times, all in one run; then a table of the ratios measured in that run against the targets.
//
//   bench/run-pick.sh                       # pinned, 5 repetitions, medians (see bench/README.md)
//   build-bench/bench/bench_pick --benchmark_filter=BM_Pick
//
// Every pick benchmark cycles through the same 4096 distinct 20-byte keys (bench_common.hpp); one
// iteration is one pick, so the Time column is ns per pick (and items_per_second picks per second).
#include <benchmark/benchmark.h>
#include <libhashkit-1.0/hashkit.h>
#include <libmemcached/memcached.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/md5.h>

#include "../selector/src/hash/key_hash.hpp"  // the bare java_string_hashcode (an internal function)
#include <murmurhash.h>

#include "bench_common.hpp"
#include "samering/hash.hpp"
#include "samering/ring.hpp"

namespace {

using bench::kKeyCount;
using bench::kKeyLength;
using bench::keys;

// One pick per iteration over the shared keys; `pick` returns something integral.
template <class Pick>
void pick_loop(benchmark::State& state, Pick&& pick) {
  const bench::Keys& k = keys();
  std::size_t i = 0;
  for (auto _ : state) {
    auto r = pick(k.key(i), kKeyLength);
    benchmark::DoNotOptimize(r);
    i = (i + 1) & (kKeyCount - 1);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["ns_per_pick"] =
      benchmark::Counter(static_cast<double>(state.iterations()),  // CPU seconds per pick: "7.9ns"
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// ---- picks ----

void BM_Pick(benchmark::State& state, const samering::Ring* ring) {
  pick_loop(state, [ring](const char* key, std::size_t len) { return ring->pick(key, len); });
}

void BM_Crc32_samering(benchmark::State& state) {
  pick_loop(state, [](const char* key, std::size_t len) { return samering::hash::crc32(key, len); });
}

void BM_Crc32_zlib(benchmark::State& state) {
  pick_loop(state, [](const char* key, std::size_t len) {
    return ::crc32(0L, reinterpret_cast<const Bytef*>(key), static_cast<uInt>(len));
  });
}

// The bare key hash of twemproxy's default (libhashkit's fnv1a_64, = twemproxy's): the floor of the
// twemproxy flavor's pick (issue: twemproxy fnv1a_64 ketama pick <= 2x the bare hash).
void BM_Fnv1a64_libhashkit(benchmark::State& state) {
  pick_loop(state, [](const char* key, std::size_t len) { return libhashkit_fnv1a_64(key, len); });
}

// The bare key hashes of the PHP and Java peers' flavors: pecl memcache's fnv (= libhashkit's
// fnv1a_32), spymemcached's KETAMA_HASH (the first word of OpenSSL's MD5, as the flavor computes
// it) and NATIVE_HASH (String.hashCode over the UTF-16 units, samering's own: no library has it).
void BM_Fnv1a32_libhashkit(benchmark::State& state) {
  pick_loop(state, [](const char* key, std::size_t len) { return libhashkit_fnv1a_32(key, len); });
}

void BM_Md5_openssl(benchmark::State& state) {
  pick_loop(state, [](const char* key, std::size_t len) {
    unsigned char d[16];
    MD5(reinterpret_cast<const unsigned char*>(key), len, d);
    std::uint32_t w;
    std::memcpy(&w, d, 4);
    return w;
  });
}

void BM_JavaStringHashCode(benchmark::State& state) {
  pick_loop(state, [](const char* key, std::size_t len) { return samering::hash::java_string_hashcode(key, len); });
}

// ---- wave 2, Ruby and Python flavors (issue 18) ----

// The bare work of a rendezvous pick: one MurmurHash3_x86_32 (Debian libmurmurhash) of
// "address-key" per node, the strings assembled in a stack buffer, the best score kept.
void BM_Murmur3_rendezvous_bare(benchmark::State& state, const std::vector<std::string>* names) {
  pick_loop(state, [names](const char* key, std::size_t len) {
    char buf[512];
    std::uint64_t best = 0;
    for (std::size_t i = 0; i < names->size(); ++i) {
      const std::string& n = (*names)[i];
      std::memcpy(buf, n.data(), n.size());
      buf[n.size()] = '-';
      std::memcpy(buf + n.size() + 1, key, len);
      std::uint32_t h;
      MurmurHash3_x86_32(buf, static_cast<int>(n.size() + 1 + len), 0, &h);
      best = std::max(best, std::uint64_t{h} << 32 | i);
    }
    return best;
  });
}

void BM_Libmemcached_generate_hash(benchmark::State& state, const memcached_st* memc) {
  pick_loop(state, [memc](const char* key, std::size_t len) { return memcached_generate_hash(memc, key, len); });
}

// ---- builds ----

void BM_Build(benchmark::State& state, std::string json) {
  for (auto _ : state) {
    samering::Ring ring = samering::ring_from_json(json);
    benchmark::DoNotOptimize(ring);
  }
  state.SetItemsProcessed(state.iterations());
}

// From nothing to a usable libmemcached ketama ring: memcached_create, n × memcached_server_add,
// MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED = 1 (builds the md5 continuum once), memcached_free.
void BM_Build_libmemcached(benchmark::State& state, int n) {
  for (auto _ : state) {
    memcached_st* m = bench::libmemcached_ring(n, true);
    benchmark::DoNotOptimize(m);
    memcached_free(m);
  }
  state.SetItemsProcessed(state.iterations());
}

// ---- sanity: every benchmark hashes what it claims ----

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "bench_pick: %s\n", why.c_str());
  std::exit(2);
}

void check_crc32() {
  for (std::size_t i = 0; i < kKeyCount; ++i) {
    const char* k = keys().key(i);
    if (samering::hash::crc32(k, kKeyLength) != ::crc32(0L, reinterpret_cast<const Bytef*>(k), kKeyLength))
      die("samering crc32 differs from zlib on key " + std::string(k, kKeyLength));
  }
}

template <class Pick>
void check_picks(const std::string& what, std::size_t n, Pick&& pick) {
  std::set<long long> used;
  for (std::size_t i = 0; i < kKeyCount; ++i) {
    const long long s = pick(keys().key(i), kKeyLength);
    if (s < 0 || static_cast<std::size_t>(s) >= n) die(what + ": pick out of range: " + std::to_string(s));
    used.insert(s);
  }
  // 4096 keys over <= 1000 servers: a working ring reaches most of them.
  if (used.size() < std::min<std::size_t>(n, 8)) die(what + ": only " + std::to_string(used.size()) + " servers used");
}

// The libmemcached flavor must pick what libmemcached picks on the same ring. A difference is a
// selector bug (reported on stderr); it does not stop the benchmark.
void check_parity(const std::string& what, const samering::Ring& ring, const memcached_st* peer) {
  std::size_t differ = 0;
  for (std::size_t i = 0; i < kKeyCount; ++i) {
    const char* k = keys().key(i);
    differ += static_cast<std::uint32_t>(ring.pick(k, kKeyLength)) != memcached_generate_hash(peer, k, kKeyLength);
  }
  if (differ)
    std::fprintf(stderr, "bench_pick: WARNING %s differs from libmemcached's memcached_generate_hash on %zu of %zu keys\n",
                 what.c_str(), differ, kKeyCount);
}

// ---- the reporter that keeps the figures for the ratio table ----

class CollectingReporter : public benchmark::ConsoleReporter {
 public:
  struct Times {
    double real_ns, cpu_ns;  // per iteration
  };

  explicit CollectingReporter(OutputOptions opts) : ConsoleReporter(opts) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& run : runs) {
      if (run.error_occurred) continue;
      // With repetitions keep the median; without, the single run.
      const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      if (run.run_type == Run::RT_Aggregate && !median) continue;
      const std::string name = run.run_name.str();
      if (!median && medians_.count(name)) continue;
      const double to_ns = 1e9 / benchmark::GetTimeUnitMultiplier(run.time_unit);
      times_[name] = {run.GetAdjustedRealTime() * to_ns, run.GetAdjustedCPUTime() * to_ns};
      if (median) medians_.insert(name);
    }
  }

  // ns per iteration of a benchmark by name, NaN if it did not run (filtered out).
  Times times(const std::string& name) const {
    auto it = times_.find(name);
    return it == times_.end() ? Times{std::nan(""), std::nan("")} : it->second;
  }
  bool any_median() const { return !medians_.empty(); }

 private:
  std::map<std::string, Times> times_;
  std::set<std::string> medians_;
};

void print_ratios(const CollectingReporter& r) {
  std::printf("\nFrom this run (%s). real = wall clock, cpu = thread CPU time:\n",
              r.any_median() ? "medians of the repetitions" : "single runs: use --benchmark_repetitions=5 for medians");
  std::printf("  %-50s   %8s %8s\n", "", "real", "cpu");
  // Verdict on both clocks: when they disagree the VM was busy (see the stddev / cv rows).
  const auto verdict = [](double real, double cpu, double target, bool at_most) -> const char* {
    const bool ok_real = at_most ? real <= target : real >= target;
    const bool ok_cpu = at_most ? cpu <= target : cpu >= target;
    return ok_real && ok_cpu ? "ok" : !ok_real && !ok_cpu ? "MISSED" : "MIXED (noisy run?)";
  };
  const char* pending_section = nullptr;  // printed before its first line: filters leave some empty
  const auto section = [&](const char* title) { pending_section = title; };
  const auto line = [&](const char* label, double real, double cpu, const char* unit, const char* cmp,
                        double target) {
    if (std::isnan(real)) return;  // filtered out
    if (pending_section) std::puts(std::exchange(pending_section, nullptr));
    std::printf("  %-50s = %8.2f %8.2f %-2s", label, real, cpu, unit);
    if (cmp) std::printf("  target %s %-6g %s", cmp, target, verdict(real, cpu, target, cmp[0] == '<'));
    std::printf("\n");
  };
  const auto ratio = [&](const char* label, const std::string& a, const std::string& b, const char* cmp = nullptr,
                         double target = 0) {
    const auto ta = r.times(a), tb = r.times(b);
    line(label, ta.real_ns / tb.real_ns, ta.cpu_ns / tb.cpu_ns, "", cmp, target);
  };
  const auto absolute = [&](const char* label, const std::string& a, double scale, const char* unit,
                            double target = 0) {
    const auto t = r.times(a);
    line(label, t.real_ns / scale, t.cpu_ns / scale, unit, target > 0 ? "<=" : nullptr, target);
  };

  const std::string crc = "BM_Crc32_samering";
  const std::string lm = "BM_Libmemcached_generate_hash/ketama_weighted_md5/";
  const std::string lm_oaat = "BM_Libmemcached_generate_hash/ketama_oaat/";
  section(" pick, issue targets:");
  ratio("cmf_ketama/10 / crc32", "BM_Pick/cmf_ketama/10", crc, "<=", 2);
  ratio("cmf_compat/10 / crc32", "BM_Pick/cmf_compat/10", crc, "<=", 2);
  ratio("libmemcached md5 /10 / cmf_ketama/10", lm + "10", "BM_Pick/cmf_ketama/10", ">=", 5);
  ratio("libmemcached md5 /100 / cmf_ketama/100", lm + "100", "BM_Pick/cmf_ketama/100", ">=", 5);
  ratio("libmemcached md5 /10 / cmf_compat/10", lm + "10", "BM_Pick/cmf_compat/10", ">=", 5);
  section(" pick, other ratios:");
  ratio("cmf_ketama/100 / crc32", "BM_Pick/cmf_ketama/100", crc);
  ratio("cmf_ketama/1000 / crc32", "BM_Pick/cmf_ketama/1000", crc);
  ratio("cmf_ketama/100 / cmf_ketama/10 (flat?)", "BM_Pick/cmf_ketama/100", "BM_Pick/cmf_ketama/10");
  ratio("cmf_ketama/1000 / cmf_ketama/10 (flat?)", "BM_Pick/cmf_ketama/1000", "BM_Pick/cmf_ketama/10");
  ratio("cache_memcached/10 / crc32", "BM_Pick/cache_memcached/10", crc);
  ratio("gomemcache/10 / crc32", "BM_Pick/gomemcache/10", crc);
  ratio("libmemcached one_at_a_time /10 / cmf_ketama/10", lm_oaat + "10", "BM_Pick/cmf_ketama/10");
  ratio("libmemcached one_at_a_time /100 / cmf_ketama/100", lm_oaat + "100", "BM_Pick/cmf_ketama/100");
  ratio("crc32 zlib / crc32 samering", "BM_Crc32_zlib", crc);
  ratio("nginx/10 / crc32", "BM_Pick/nginx/10", crc);
  for (const char* n : {"3", "10", "64"}) {  // wave 2 (issue 18): each <= 1.5x its bare key hash
    ratio((std::string("dalli/") + n + " / crc32").c_str(), std::string("BM_Pick/dalli/") + n, crc, "<=", 1.5);
    ratio((std::string("python_memcached/") + n + " / crc32").c_str(), std::string("BM_Pick/python_memcached/") + n, crc, "<=", 1.5);
    ratio((std::string("rendezvous/") + n + " / n bare murmur3").c_str(), std::string("BM_Pick/rendezvous/") + n,
          std::string("BM_Murmur3_rendezvous_bare/") + n, "<=", 1.5);
  }
  ratio("twemproxy/10 (fnv1a_64 ketama) / bare fnv1a_64", "BM_Pick/twemproxy/10", "BM_Fnv1a64_libhashkit", "<=", 2);
  section(" pick of the PHP and Java peers' flavors / the bare key hash each uses (issue 18: <= 1.5):");
  ratio("php_memcache_consistent/10 / crc32", "BM_Pick/php_memcache_consistent/10", crc, "<=", 1.5);
  ratio("php_memcache_consistent/100 / crc32", "BM_Pick/php_memcache_consistent/100", crc, "<=", 1.5);
  ratio("php_memcache_consistent_fnv/10 / fnv1a_32", "BM_Pick/php_memcache_consistent_fnv/10", "BM_Fnv1a32_libhashkit", "<=", 1.5);
  ratio("php_memcache_standard/10 / crc32", "BM_Pick/php_memcache_standard/10", crc, "<=", 1.5);
  ratio("php_memcache_standard_fnv/10 / fnv1a_32", "BM_Pick/php_memcache_standard_fnv/10", "BM_Fnv1a32_libhashkit", "<=", 1.5);
  ratio("spymemcached_ketama/10 / md5", "BM_Pick/spymemcached_ketama/10", "BM_Md5_openssl", "<=", 1.5);
  ratio("spymemcached_ketama/100 / md5", "BM_Pick/spymemcached_ketama/100", "BM_Md5_openssl", "<=", 1.5);
  ratio("spymemcached_array_mod/10 / String.hashCode", "BM_Pick/spymemcached_array_mod/10", "BM_JavaStringHashCode", "<=", 1.5);
  ratio("spymemcached_array_mod_crc/10 / crc32", "BM_Pick/spymemcached_array_mod_crc/10", crc, "<=", 1.5);
  section(" same ring, same answers: libmemcached / samering's libmemcached flavor:");
  ratio("libmemcached md5 (KETAMA_WEIGHTED) /10 / ours, target >= 3", lm + "10", "BM_Pick/libmemcached_ketama_md5/10", ">=", 3);
  ratio("md5 (KETAMA_WEIGHTED) /10", lm + "10", "BM_Pick/libmemcached_ketama_md5/10");
  ratio("md5 (KETAMA_WEIGHTED) /100", lm + "100", "BM_Pick/libmemcached_ketama_md5/100");
  ratio("one_at_a_time (KETAMA) /10", lm_oaat + "10", "BM_Pick/libmemcached_ketama_oaat/10");
  ratio("one_at_a_time (KETAMA) /100", lm_oaat + "100", "BM_Pick/libmemcached_ketama_oaat/100");
  section(" pick, absolute (perf-floors.md targets):");
  absolute("cmf_ketama/10 (stretch <= 15)", "BM_Pick/cmf_ketama/10", 1, "ns", 30);
  absolute("cmf_ketama/100", "BM_Pick/cmf_ketama/100", 1, "ns", 35);
  absolute("libmemcached_ketama_md5/10 (md5 flavor)", "BM_Pick/libmemcached_ketama_md5/10", 1, "ns", 100);
  absolute("libmemcached_ketama_md5/100 (md5 flavor)", "BM_Pick/libmemcached_ketama_md5/100", 1, "ns", 100);
  absolute("crc32 samering (floor)", crc, 1, "ns");
  section(" build (perf-floors.md targets):");
  absolute("cmf_ketama/10", "BM_Build/cmf_ketama/10", 1e3, "us", 100);
  absolute("cmf_ketama/100", "BM_Build/cmf_ketama/100", 1e3, "us", 2000);
  absolute("cmf_ketama/1000", "BM_Build/cmf_ketama/1000", 1e3, "us", 25000);
  ratio("libmemcached build /10 / cmf_ketama/10", "BM_Build_libmemcached/10", "BM_Build/cmf_ketama/10");
  ratio("libmemcached build /100 / cmf_ketama/100", "BM_Build_libmemcached/100", "BM_Build/cmf_ketama/100");
  ratio("libmemcached build /10 / libmemcached flavor/10", "BM_Build_libmemcached/10",
        "BM_Build/libmemcached_ketama_md5/10");
  ratio("libmemcached build /100 / libmemcached flavor/100", "BM_Build_libmemcached/100",
        "BM_Build/libmemcached_ketama_md5/100");
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  check_crc32();
  // Rings and libmemcached handles live for the whole run; the benchmarks only read them.
  std::vector<std::unique_ptr<samering::Ring>> rings;
  std::vector<memcached_st*> memcs;

  benchmark::RegisterBenchmark("BM_Crc32_samering", BM_Crc32_samering);
  benchmark::RegisterBenchmark("BM_Crc32_zlib", BM_Crc32_zlib);
  benchmark::RegisterBenchmark("BM_Fnv1a64_libhashkit", BM_Fnv1a64_libhashkit);
  benchmark::RegisterBenchmark("BM_Fnv1a32_libhashkit", BM_Fnv1a32_libhashkit);
  benchmark::RegisterBenchmark("BM_Md5_openssl", BM_Md5_openssl);
  benchmark::RegisterBenchmark("BM_JavaStringHashCode", BM_JavaStringHashCode);
  for (int n : {10, 100, 1000}) {
    // libmemcached 1.1.4 aborts on a ketama ring of more than 100 servers.
    memcached_st* peer[2] = {nullptr, nullptr};  // [md5]: KETAMA, KETAMA_WEIGHTED
    if (n <= 100) {
      for (bool md5 : {true, false}) {
        memcs.push_back(peer[md5] = bench::libmemcached_ring(n, md5));
        const memcached_st* m = peer[md5];
        const std::string name = std::string("BM_Libmemcached_generate_hash/") +
                                 (md5 ? "ketama_weighted_md5/" : "ketama_oaat/") + std::to_string(n);
        check_picks(name, n, [m](const char* k, std::size_t len) { return memcached_generate_hash(m, k, len); });
        benchmark::RegisterBenchmark(name.c_str(), BM_Libmemcached_generate_hash, m);
      }
    }
    for (const auto& f : bench::kFlavors) {
      if (n > f.max_servers) continue;
      if (n == 1000 && std::string_view(f.name) != "cmf_ketama") continue;  // keep the run short
      const std::string name = std::string("BM_Pick/") + f.name + "/" + std::to_string(n);
      try {
        rings.push_back(std::make_unique<samering::Ring>(samering::ring_from_json(bench::spec_json(f.flavor, n, f.options))));
      } catch (const std::exception& e) {
        die(name + ": the spec is refused: " + e.what());
      }
      const samering::Ring* ring = rings.back().get();
      check_picks(name, n, [ring](const char* k, std::size_t len) { return ring->pick(k, len); });
      if (f.libmemcached_peer) check_parity(name, *ring, peer[f.md5]);
      benchmark::RegisterBenchmark(name.c_str(), BM_Pick, ring);
    }
  }
  // wave 2, Ruby and Python flavors: dalli and python-memcached against bare crc32, rendezvous
  // against n bare murmur3 hashes (and, in bench/rendezvous_get_node.py, pymemcache's own get_node)
  std::vector<std::unique_ptr<std::vector<std::string>>> rv_names;
  const auto servers_json = [](int n) {
    std::string s = "[";
    for (int i = 0; i < n; ++i)
      s += (i ? ", " : "") + std::string(R"({"host": "10.0.)") + std::to_string(i / 250) + "." +
           std::to_string(i % 250 + 1) + R"(", "port": 11211})";
    return s + "]";
  };
  for (int n : {3, 10, 64}) {
    const std::pair<std::string, std::string> cases[] = {
        {"dalli", R"({"flavor": "dalli", "servers": )" + servers_json(n) + "}"},
        {"python_memcached", R"({"flavor": "python-memcached", "servers": )" + servers_json(n) + "}"},
        {"rendezvous", R"({"flavor": "rendezvous", "servers": )" + servers_json(n) + "}"},
    };
    for (const auto& [flavor, json] : cases) {
      rings.push_back(std::make_unique<samering::Ring>(samering::ring_from_json(json)));
      const std::string name = "BM_Pick/" + flavor + "/" + std::to_string(n);
      const samering::Ring* ring = rings.back().get();
      check_picks(name, n, [ring](const char* k, std::size_t len) { return ring->pick(k, len); });
      benchmark::RegisterBenchmark(name.c_str(), BM_Pick, ring);
    }
    auto names = std::make_unique<std::vector<std::string>>();
    for (std::size_t i = 0; i < rings.back()->size(); ++i) names->emplace_back(rings.back()->server(i).address);
    benchmark::RegisterBenchmark(("BM_Murmur3_rendezvous_bare/" + std::to_string(n)).c_str(), BM_Murmur3_rendezvous_bare,
                                 names.get());
    rv_names.push_back(std::move(names));
  }

  for (int n : {10, 100, 1000}) {
    for (const char* name : {"cmf_ketama", "cmf_compat", "libmemcached_ketama_md5"}) {
      const auto& f = bench::flavor_case(name);
      if (n > f.max_servers) continue;
      benchmark::RegisterBenchmark((std::string("BM_Build/") + f.name + "/" + std::to_string(n)).c_str(), BM_Build,
                                   bench::spec_json(f.flavor, n, f.options))
          ->Unit(benchmark::kMicrosecond);
    }
  }
  for (int n : {10, 100})
    benchmark::RegisterBenchmark(("BM_Build_libmemcached/" + std::to_string(n)).c_str(), BM_Build_libmemcached, n)
        ->Unit(benchmark::kMicrosecond);

  CollectingReporter reporter(isatty(STDOUT_FILENO) ? benchmark::ConsoleReporter::OO_ColorTabular
                                                    : benchmark::ConsoleReporter::OO_Tabular);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::fflush(stdout);
  std::cout.flush();
  print_ratios(reporter);
  benchmark::Shutdown();
  for (auto* m : memcs) memcached_free(m);
  return 0;
}
