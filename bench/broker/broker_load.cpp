// broker_load — the load tool for samering-broker and its floors (bench/broker/run.sh drives it).
// The same client code (BrokerSelector over the broker protocol) drives samering-broker and
// raw_server, so the ratio between the two is the broker's own cost.
//
//   broker_load rtt     --socket S [--ring R] [--n 50000] [--batch 1|K]   one client, persistent:
//                       PICK (batch 1) or PICK_MANY of K keys; per-request latency
//   broker_load clients --socket S [--ring R] --clients C --picks M [--json]
//                       C forked clients × M picks each, started together; --json: a new
//                       connection and a JSON request per pick (json_server)
//   broker_load inproc  --shm DIR --spec FILE [--ring R] [--n 2000000]   ns per pick: local Ring,
//                       ShmSelector, and the C API over both
//   broker_load shm-loop --shm DIR [--ring R] --n N      N picks through a C shm selector (strace -c)
// Output: one JSON object per line on stdout.
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "samering/broker.hpp"
#include "samering/ring.hpp"
#include "samering/selector.h"

namespace {

using Clock = std::chrono::steady_clock;

double us_since(Clock::time_point t0) { return std::chrono::duration<double, std::micro>(Clock::now() - t0).count(); }

double percentile(std::vector<float>& v, double p) {
  if (v.empty()) return 0;
  const std::size_t k = std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

std::vector<std::string> keys_for(const std::string& prefix, std::size_t n) {
  std::vector<std::string> k;
  k.reserve(n);
  for (std::size_t i = 0; i < n; ++i) k.push_back(prefix + std::to_string(i));
  return k;
}

int run_rtt(const std::string& socket, const std::string& ring, int n, int batch) {
  samering::BrokerOptions opt;
  opt.connect_now = false;
  samering::BrokerSelector sel(socket, ring, opt);
  const auto keys = keys_for("user:", 1024);
  std::vector<std::string_view> views(keys.begin(), keys.end());
  std::vector<std::int32_t> out(static_cast<std::size_t>(batch));
  std::vector<float> lat;
  lat.reserve(static_cast<std::size_t>(n));
  auto one = [&](int i) {
    if (batch == 1) {
      sel.pick(keys[static_cast<std::size_t>(i) % keys.size()]);
    } else {
      const std::size_t at = static_cast<std::size_t>(i * batch) % (keys.size() - static_cast<std::size_t>(batch));
      sel.pick_many(views.data() + at, static_cast<std::size_t>(batch), out.data());
    }
  };
  for (int i = 0; i < std::min(n / 10, 2000); ++i) one(i);  // warm-up
  for (int i = 0; i < n; ++i) {
    const auto t0 = Clock::now();
    one(i);
    lat.push_back(static_cast<float>(us_since(t0)));
  }
  double sum = 0;
  for (float x : lat) sum += x;
  const double mean = sum / static_cast<double>(lat.size());
  const double p50 = percentile(lat, 0.50), p99 = percentile(lat, 0.99);
  std::printf("%s\n", nlohmann::json{{"mode", "rtt"}, {"n", n}, {"batch", batch}, {"p50_us", p50}, {"p99_us", p99},
                                     {"mean_us", mean}}
                          .dump()
                          .c_str());
  return 0;
}

// One pick the old way: connect, one JSON line, read the reply line, close.
bool json_pick(const std::string& socket, const std::string& key) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, socket.c_str(), sizeof a.sun_path - 1);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const std::string req = nlohmann::json{{"key", key}}.dump() + "\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      std::string reply;
      char buf[512];
      for (;;) {
        const ssize_t r = ::read(fd, buf, sizeof buf);
        if (r <= 0) break;
        reply.append(buf, static_cast<std::size_t>(r));
        if (reply.find('\n') != std::string::npos) break;
      }
      try {
        ok = nlohmann::json::parse(reply).contains("server");
      } catch (...) {
      }
    }
  }
  ::close(fd);
  return ok;
}

int run_clients(const std::string& socket, const std::string& ring, int clients, int picks, bool json) {
  const std::size_t total = static_cast<std::size_t>(clients) * static_cast<std::size_t>(picks);
  auto* lat = static_cast<float*>(::mmap(nullptr, total * sizeof(float), PROT_READ | PROT_WRITE,
                                         MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  auto* errors = static_cast<int*>(::mmap(nullptr, sizeof(int) * static_cast<std::size_t>(clients),
                                          PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  int ready[2], go[2];
  if (::pipe(ready) != 0 || ::pipe(go) != 0) return 1;
  std::vector<pid_t> pids;
  for (int c = 0; c < clients; ++c) {
    const pid_t pid = ::fork();
    if (pid < 0) {
      std::perror("fork");
      return 1;
    }
    if (pid == 0) {
      ::close(ready[0]);
      ::close(go[1]);
      const auto keys = keys_for("key:" + std::to_string(c) + ":", static_cast<std::size_t>(picks));
      float* mine = lat + static_cast<std::size_t>(c) * static_cast<std::size_t>(picks);
      int err = 0;
      std::unique_ptr<samering::BrokerSelector> sel;
      try {
        if (!json) {
          samering::BrokerOptions opt;
          opt.connect_now = false;
          opt.timeout_ms = 30000;
          sel = std::make_unique<samering::BrokerSelector>(socket, ring, opt);
          sel->pick("warm-up");  // connected and shaken hands before the start
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "client %d: %s\n", c, e.what());
        err = picks;
      }
      (void)!::write(ready[1], "r", 1);
      char x;
      (void)!::read(go[0], &x, 1);  // EOF when the parent starts everyone
      for (int i = 0; i < picks && err < picks; ++i) {
        const auto t0 = Clock::now();
        bool ok = true;
        if (json) {
          ok = json_pick(socket, keys[static_cast<std::size_t>(i)]);
        } else {
          try {
            sel->pick(keys[static_cast<std::size_t>(i)]);
          } catch (const std::exception&) {
            ok = false;
          }
        }
        mine[i] = static_cast<float>(us_since(t0));
        if (!ok) ++err;
      }
      errors[c] = err;
      ::_exit(0);
    }
    pids.push_back(pid);
  }
  ::close(ready[1]);
  ::close(go[0]);
  char x;
  for (int c = 0; c < clients; ++c)
    if (::read(ready[0], &x, 1) != 1) break;
  const auto t0 = Clock::now();
  ::close(go[1]);
  for (pid_t pid : pids) ::waitpid(pid, nullptr, 0);
  const double wall_s = us_since(t0) / 1e6;
  std::vector<float> all(lat, lat + total);
  int errs = 0;
  for (int c = 0; c < clients; ++c) errs += errors[c];
  double sum = 0;
  for (float v : all) sum += v;
  const double mean = sum / static_cast<double>(all.size());
  // Fairness: each client's mean latency. A server that serves its connections in turn gives every
  // client about the same mean; one that favours some connections spreads them.
  std::vector<double> client_means(static_cast<std::size_t>(clients));
  for (std::size_t c = 0; c < client_means.size(); ++c) {
    double s = 0;
    for (std::size_t i = 0; i < static_cast<std::size_t>(picks); ++i) s += lat[c * static_cast<std::size_t>(picks) + i];
    client_means[c] = s / picks;
  }
  std::sort(client_means.begin(), client_means.end());
  const double p50 = percentile(all, 0.50), p99 = percentile(all, 0.99);
  std::printf("%s\n", nlohmann::json{{"mode", json ? "clients-json" : "clients"},
                                     {"clients", clients},
                                     {"picks", picks},
                                     {"p50_us", p50},
                                     {"p99_us", p99},
                                     {"mean_us", mean},
                                     {"throughput", static_cast<double>(total) / wall_s},
                                     {"wall_s", wall_s},
                                     {"client_mean_min_us", client_means.front()},
                                     {"client_mean_p50_us", client_means[client_means.size() / 2]},
                                     {"client_mean_max_us", client_means.back()},
                                     {"errors", errs}}
                          .dump()
                          .c_str());
  return errs ? 3 : 0;
}

template <typename F>
double ns_per_pick(F pick, const std::vector<std::string>& keys, int n) {
  double best = 1e18;
  for (int rep = 0; rep < 7; ++rep) {
    std::int64_t sink = 0;
    const auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) sink += pick(keys[static_cast<std::size_t>(i) & 1023]);
    const double ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / n;
    asm volatile("" : : "r"(sink));
    best = std::min(best, ns);
  }
  return best;
}

int run_inproc(const std::string& shm, const std::string& spec, const std::string& ring, int n) {
  const samering::Ring local = samering::ring_from_file(spec);
  samering::ShmSelector reader(shm, ring);
  selector_t *cl = nullptr, *cs = nullptr;
  char err[256];
  if (selector_new_from_file(spec.c_str(), &cl, err, sizeof err) != 0 ||
      selector_new_from_shm(shm.c_str(), ring.c_str(), &cs, err, sizeof err) != 0) {
    std::fprintf(stderr, "%s\n", err);
    return 1;
  }
  const auto keys = keys_for("user:", 1024);
  const double a = ns_per_pick([&](const std::string& k) { return local.pick(k); }, keys, n);
  const double b = ns_per_pick([&](const std::string& k) { return reader.pick(k); }, keys, n);
  const double c = ns_per_pick([&](const std::string& k) { return selector_pick(cl, k.data(), k.size()); }, keys, n);
  const double d = ns_per_pick([&](const std::string& k) { return selector_pick(cs, k.data(), k.size()); }, keys, n);
  std::printf("%s\n", nlohmann::json{{"mode", "inproc"}, {"n", n}, {"local_ring_ns", a}, {"shm_selector_ns", b},
                                     {"c_local_ns", c}, {"c_shm_ns", d}, {"flavor", std::string(local.flavor())},
                                     {"servers", local.size()}}
                          .dump()
                          .c_str());
  selector_free(cl);
  selector_free(cs);
  return 0;
}

int run_shm_loop(const std::string& shm, const std::string& ring, long n) {
  selector_t* cs = nullptr;
  char err[256];
  if (selector_new_from_shm(shm.c_str(), ring.c_str(), &cs, err, sizeof err) != 0) {
    std::fprintf(stderr, "%s\n", err);
    return 1;
  }
  const auto keys = keys_for("user:", 1024);
  long sink = 0;
  for (long i = 0; i < n; ++i) sink += selector_pick(cs, keys[static_cast<std::size_t>(i) & 1023].data(), keys[static_cast<std::size_t>(i) & 1023].size());
  std::printf("%s\n", nlohmann::json{{"mode", "shm-loop"}, {"n", n}, {"sink", sink}}.dump().c_str());
  selector_free(cs);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"broker_load: load tool for samering-broker and its floors"};
  app.require_subcommand(1);
  std::string socket, ring = "main", shm, spec;
  int n = 50000, batch = 1, clients = 1, picks = 1000;
  long loop_n = 1000000;
  bool json = false;
  auto* rtt = app.add_subcommand("rtt", "one persistent client, per-request latency");
  rtt->add_option("--socket", socket)->required();
  rtt->add_option("--ring", ring);
  rtt->add_option("--n", n);
  rtt->add_option("--batch", batch, "keys per request: 1 = PICK, more = PICK_MANY");
  auto* cl = app.add_subcommand("clients", "forked clients, started together");
  cl->add_option("--socket", socket)->required();
  cl->add_option("--ring", ring);
  cl->add_option("--clients", clients)->required();
  cl->add_option("--picks", picks);
  cl->add_flag("--json", json, "a new connection and a JSON request per pick (json_server)");
  auto* ip = app.add_subcommand("inproc", "ns per pick: local vs shm");
  ip->add_option("--shm", shm)->required();
  ip->add_option("--spec", spec)->required();
  ip->add_option("--ring", ring);
  ip->add_option("--n", n);
  auto* sl = app.add_subcommand("shm-loop", "N picks through a C shm selector");
  sl->add_option("--shm", shm)->required();
  sl->add_option("--ring", ring);
  sl->add_option("--n", loop_n);
  CLI11_PARSE(app, argc, argv);
  try {
    if (*rtt) return run_rtt(socket, ring, n, batch);
    if (*cl) return run_clients(socket, ring, clients, picks, json);
    if (*ip) return run_inproc(shm, spec, ring, n == 50000 ? 2000000 : n);
    if (*sl) return run_shm_loop(shm, ring, loop_n);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "broker_load: %s\n", e.what());
    return 1;
  }
  return 2;
}
