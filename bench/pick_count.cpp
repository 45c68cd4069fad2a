// pick_count — N picks of each kind on the same keys and rings as bench_pick, for instruction
// counts that do not depend on the noisy VM:
//
//   valgrind --tool=callgrind --callgrind-out-file=cg.out build-bench/bench/pick_count 100000
//
// Around each kind's loop the stats are zeroed and then dumped with the kind's name
// (CALLGRIND_ZERO_STATS / CALLGRIND_DUMP_STATS_AT), so each dump's total divided by N is the
// instructions per pick, setup excluded. bench/run-pick.sh --callgrind does this and prints the
// table. Outside valgrind the client requests do nothing and the program just runs the loops.
//
//   pick_count N [KIND...]   (default: every kind; `pick_count --list` names them)
#include <libmemcached/memcached.h>
#include <zlib.h>

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else  // valgrind not installed (it is only needed to count): the client requests do nothing
#define CALLGRIND_ZERO_STATS
#define CALLGRIND_DUMP_STATS_AT(name) static_cast<void>(name)
#endif

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "samering/hash.hpp"
#include "samering/ring.hpp"

namespace {

template <class T>
inline void sink(T v) {
  asm volatile("" : : "r"(v) : "memory");
}

template <class Pick>
void run(const char* name, long n, Pick&& pick) {
  const bench::Keys& k = bench::keys();
  std::size_t i = 0;
  CALLGRIND_ZERO_STATS;
  for (long j = 0; j < n; ++j) {
    sink(pick(k.key(i), bench::kKeyLength));
    i = (i + 1) & (bench::kKeyCount - 1);
  }
  CALLGRIND_DUMP_STATS_AT(name);
}

struct Kind {
  std::string name;
  std::function<void(const char*, long)> run;
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<Kind> kinds;
  std::vector<std::unique_ptr<samering::Ring>> rings;
  std::vector<memcached_st*> memcs;

  kinds.push_back({"loop", [](const char* name, long n) { run(name, n, [](const char* key, std::size_t) { return key; }); }});
  kinds.push_back({"crc32_samering", [](const char* name, long n) {
                     run(name, n, [](const char* key, std::size_t len) { return samering::hash::crc32(key, len); });
                   }});
  kinds.push_back({"crc32_zlib", [](const char* name, long n) {
                     run(name, n, [](const char* key, std::size_t len) {
                       return ::crc32(0L, reinterpret_cast<const Bytef*>(key), static_cast<uInt>(len));
                     });
                   }});
  for (int servers : {10, 100, 1000}) {
    for (const auto& f : bench::kFlavors) {
      if (servers > f.max_servers) continue;
      if (servers != 10 && std::string_view(f.name) != "cmf_ketama" &&
          !(servers == 100 && std::string_view(f.name) == "libmemcached_ketama_md5"))
        continue;
      kinds.push_back({std::string("pick/") + f.name + "/" + std::to_string(servers),
                       [&rings, f, servers](const char* name, long n) {
                         rings.push_back(std::make_unique<samering::Ring>(
                             samering::ring_from_json(bench::spec_json(f.flavor, servers, f.options))));
                         const samering::Ring* ring = rings.back().get();
                         run(name, n, [ring](const char* key, std::size_t len) { return ring->pick(key, len); });
                       }});
    }
    if (servers > 100) continue;  // libmemcached 1.1.4 aborts above 100 servers
    for (bool md5 : {true, false}) {
      kinds.push_back({std::string("libmemcached_") + (md5 ? "md5/" : "oaat/") + std::to_string(servers),
                       [&memcs, md5, servers](const char* name, long n) {
                         memcs.push_back(bench::libmemcached_ring(servers, md5));
                         const memcached_st* m = memcs.back();
                         run(name, n, [m](const char* key, std::size_t len) {
                           return memcached_generate_hash(m, key, len);
                         });
                       }});
    }
  }

  if (argc >= 2 && std::strcmp(argv[1], "--list") == 0) {
    for (const auto& k : kinds) std::puts(k.name.c_str());
    return 0;
  }
  const long n = argc >= 2 ? std::strtol(argv[1], nullptr, 10) : 0;
  if (n <= 0) {
    std::fprintf(stderr, "usage: pick_count N [KIND...]   (pick_count --list names the kinds)\n");
    return 2;
  }
  for (int a = 2; a < argc; ++a) {
    bool known = false;
    for (const auto& k : kinds) known |= k.name == argv[a];
    if (!known) {
      std::fprintf(stderr, "pick_count: unknown kind %s\n", argv[a]);
      return 2;
    }
  }
  bench::keys();  // generate the keys outside every measured loop
  for (const auto& k : kinds) {
    bool wanted = argc <= 2;
    for (int a = 2; a < argc; ++a) wanted |= k.name == argv[a];
    if (wanted) k.run(k.name.c_str(), n);
  }
  for (auto* m : memcs) memcached_free(m);
  return 0;
}
