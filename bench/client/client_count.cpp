// client_count: a fixed number of operations of one kind against a running memcached, for
// valgrind --tool=callgrind instruction counts (exactly repeatable, unlike timings on a busy
// machine). run.sh --callgrind runs each kind twice (n and 6n operations) and divides the
// difference by 5n: instructions per operation in user space, setup excluded.
//
//   client_count PORT KIND N     KIND: get_samering get_libmemcached set_samering set_libmemcached
//                                      multi_samering multi_libmemcached (100 keys per operation)
#include <libmemcached/memcached.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "samering/client.hpp"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: client_count PORT KIND N\n");
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const std::string kind = argv[2];
  const long n = std::atol(argv[3]);
  constexpr std::size_t kKeys = 1000, kMulti = 100;

  std::vector<std::string> keys;
  char buf[32];
  for (std::size_t i = 0; i < kKeys; ++i) {
    std::snprintf(buf, sizeof buf, "bench:key:%04zu", i);
    keys.emplace_back(buf);
  }
  const std::string value(100, 'v');
  memcached_st* mc = memcached_create(nullptr);
  memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
  memcached_server_add(mc, "127.0.0.1", static_cast<in_port_t>(port));
  for (const auto& k : keys) memcached_set(mc, k.data(), k.size(), value.data(), value.size(), 0, 0);
  samering::Client client(samering::ring_from_json(R"({"flavor":"cmf","servers":[{"host":"127.0.0.1","port":)" +
                                                   std::to_string(port) + "}]}"));
  std::vector<std::string_view> views(keys.begin(), keys.end());
  std::vector<const char*> pointers;
  std::vector<std::size_t> lengths;
  for (const auto& k : keys) {
    pointers.push_back(k.data());
    lengths.push_back(k.size());
  }
  std::vector<samering::Status> status(kMulti);
  memcached_result_st result;
  memcached_result_create(mc, &result);
  samering::Item item;
  std::size_t sink = 0;
  // Both sides connected and warm before counting starts.
  client.get(keys[0], item);
  client.get_multi(std::span<const std::string_view>(views.data(), kMulti), status,
                   [&](const samering::Hit& h) { sink += h.value.size(); });

  for (long it = 0; it < n; ++it) {
    const std::string& k = keys[static_cast<std::size_t>(it) % kKeys];
    const std::size_t first = (static_cast<std::size_t>(it) % (kKeys / kMulti)) * kMulti;
    if (kind == "get_samering") {
      client.get(k, item);
      sink += item.value.size();
    } else if (kind == "get_libmemcached") {
      std::size_t len = 0;
      std::uint32_t flags = 0;
      memcached_return_t rc;
      char* v = memcached_get(mc, k.data(), k.size(), &len, &flags, &rc);
      sink += len;
      std::free(v);
    } else if (kind == "set_samering") {
      client.set(k, value);
    } else if (kind == "set_libmemcached") {
      memcached_set(mc, k.data(), k.size(), value.data(), value.size(), 0, 0);
    } else if (kind == "multi_samering") {
      client.get_multi(std::span<const std::string_view>(views.data() + first, kMulti), status,
                       [&](const samering::Hit& h) { sink += h.value.size(); });
    } else if (kind == "multi_libmemcached") {
      memcached_mget(mc, pointers.data() + first, lengths.data() + first, kMulti);
      memcached_return_t rc;
      while (memcached_fetch_result(mc, &result, &rc)) sink += memcached_result_length(&result);
    } else {
      std::fprintf(stderr, "unknown kind %s\n", kind.c_str());
      return 2;
    }
  }
  memcached_result_free(&result);
  memcached_free(mc);
  std::printf("%zu\n", sink);
  return 0;
}
