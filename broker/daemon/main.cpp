// samering-broker — serves picks for named rings over a Unix socket and publishes their images
// in shared memory (docs/protocol.md).
//
//   samering-broker --socket /run/samering.sock --ring main=/etc/samering/main.json
//                   [--ring NAME=SPEC ...] [--shm-dir /dev/shm/samering] [--socket-mode 0660]
//   samering-broker --validate --ring main=/etc/samering/main.json    # check the specs, exit
//
// Exit status: 0 after a graceful stop (SIGTERM/SIGINT) or a successful --validate; 1 when a spec
// is invalid, the socket path is owned by a live broker or anything else prevents serving;
// 2 on bad command-line arguments.
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <utility>  // before Asio: Boost 1.74 awaitable.hpp uses std::exchange unincluded
#include <boost/asio.hpp>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <set>

#include "config.hpp"
#include "listen_socket.hpp"
#include "log.hpp"
#include "rings.hpp"
#include "samering/error.hpp"
#include "samering/ring.hpp"
#include "server.hpp"

namespace {

using samering::broker::Config;

// Every descriptor the hard limit allows: one per connection plus a reserve for the rest (the
// listening socket, the lock, the reactor, inotify, the accept reserve; per ring its memfd, shm
// dir, lock file, and the two a reload opens for a moment). Queued RING_IMAGE replies share the
// ring's memfd: they cost no descriptor.
void raise_nofile(Config& config) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
    ::getrlimit(RLIMIT_NOFILE, &rl);
  }
  const rlim_t reserve = 32 + 6 * config.rings.size();
  if (rl.rlim_cur != RLIM_INFINITY && config.max_connections + reserve > rl.rlim_cur) {
    const auto capped = static_cast<std::uint32_t>(rl.rlim_cur > reserve ? rl.rlim_cur - reserve : 1);
    samering::broker::log_warning(fmt::format("RLIMIT_NOFILE is {}: max connections lowered from {} to {}",
                                              rl.rlim_cur, config.max_connections, capped));
    config.max_connections = capped;
  }
}

int validate(const Config& config) {
  int failed = 0;
  for (const auto& r : config.rings) {
    try {
      const samering::Ring ring = samering::ring_from_json(samering::broker::read_spec_file(r.spec_path));
      std::cout << "ring " << r.name << ": ok (" << ring.flavor() << ", " << ring.size() << " servers) " << r.spec_path
                << "\n";
    } catch (const std::exception& e) {
      std::cerr << "samering-broker: ring " << r.name << ": " << r.spec_path << ": " << e.what() << "\n";
      ++failed;
    }
  }
  return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Config config;
  CLI::App app{"samering-broker: serves samering ring picks over a Unix socket (docs/protocol.md)"};
  std::vector<std::string> ring_args;
  std::string mode_text = "0660";
  bool validate_only = false, no_watch = false;
  app.add_option("--socket", config.socket_path, "AF_UNIX socket path to listen on");
  app.add_option("--ring", ring_args, "NAME=SPEC_FILE (repeatable): a named ring and its spec JSON")->required();
  app.add_option("--shm-dir", config.shm_dir,
                 "publish ring images and control files in this directory (made if missing; must be the broker "
                 "user's own, not writable by group or others, not a symlink)");
  app.add_option("--socket-mode", mode_text, "socket file mode, octal (default 0660)");
  app.add_flag("--validate", validate_only, "check every spec and exit (non-zero with the reason on error)");
  app.add_option("--max-connections", config.max_connections, "connections served at once (default 4096)");
  app.add_option("--max-frame", config.max_frame, "largest request payload in bytes (default 1048576)")
      ->check(CLI::Range(64u, 64u << 20));
  app.add_option("--max-keys", config.max_keys, "most keys in one PICK_MANY (default 16384)")
      ->check(CLI::Range(1u, 1u << 24));
  app.add_option("--idle-timeout", config.idle_timeout_s, "close connections idle this many seconds (0 = never; default 300)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--shm-grace", config.shm_grace_s, "keep superseded shm images this many seconds (default 30)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--no-watch", no_watch, "do not reload when a spec file changes (SIGHUP and RELOAD still do)");
  app.add_flag("--quiet", config.quiet, "log only warnings and errors");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  config.watch = !no_watch;
  samering::broker::set_quiet(config.quiet);

  auto usage = [](const std::string& m) {
    std::cerr << "samering-broker: " << m << "\n";
    return 2;
  };
  std::set<std::string> names;
  for (const auto& arg : ring_args) {
    const auto eq = arg.find('=');
    if (eq == std::string::npos) return usage("--ring wants NAME=SPEC_FILE, got \"" + arg + "\"");
    samering::broker::RingSource r{arg.substr(0, eq), arg.substr(eq + 1)};
    if (!samering::broker::valid_ring_name(r.name))
      return usage("ring name \"" + r.name + "\": 1-200 characters of [A-Za-z0-9_.-], not starting with '.'");
    if (r.spec_path.empty()) return usage("ring " + r.name + ": empty spec path");
    if (!names.insert(r.name).second) return usage("ring " + r.name + " given twice");
    r.spec_path = std::filesystem::absolute(r.spec_path).lexically_normal().string();
    config.rings.push_back(std::move(r));
  }
  if (validate_only) return validate(config);

  if (config.socket_path.empty()) return usage("--socket is required (unless --validate)");
  try {
    std::size_t pos = 0;
    config.socket_mode = static_cast<unsigned>(std::stoul(mode_text, &pos, 8));
    if (pos != mode_text.size() || config.socket_mode > 0777) throw std::invalid_argument("mode");
  } catch (const std::exception&) {
    return usage("--socket-mode wants an octal mode such as 0660, got \"" + mode_text + "\"");
  }
  if (!config.shm_dir.empty()) {
    config.shm_dir = std::filesystem::absolute(config.shm_dir).lexically_normal().string();
    while (config.shm_dir.size() > 1 && config.shm_dir.back() == '/') config.shm_dir.pop_back();
    if (config.shm_dir.size() >= 4096) return usage("--shm-dir: longer than 4095 bytes");
  }

  std::signal(SIGPIPE, SIG_IGN);
  // SIGHUP, SIGTERM and SIGINT wait (blocked, kept pending) until Server has installed its
  // handlers: the socket already accepts connections before that, and a reload or stop sent then
  // must not kill the broker by default action (seen: a SIGTERM right after the socket appeared).
  sigset_t handled;
  sigemptyset(&handled);
  for (int signo : {SIGHUP, SIGTERM, SIGINT}) sigaddset(&handled, signo);
  sigprocmask(SIG_BLOCK, &handled, nullptr);
  raise_nofile(config);
  try {
    // One io_context on one thread (nothing else touches it): no locking inside Asio's scheduler
    // and reactor (docs/design-notes.md).
    boost::asio::io_context io(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE);
    samering::broker::RingSet rings(config);
    rings.load_all();
    const int backlog = static_cast<int>(std::min<std::uint32_t>(config.max_connections, 65535));
    samering::broker::ListenSocket listen = samering::broker::open_listen_socket(config.socket_path, config.socket_mode, backlog);
    samering::broker::Server server(io, config, rings, std::move(listen));
    server.start();
    sigprocmask(SIG_UNBLOCK, &handled, nullptr);  // a pending signal is delivered to Server now
    io.run();
    samering::broker::log_info("stopped");
    return 0;
  } catch (const std::exception& e) {
    samering::broker::log_error(e.what());
    return 1;
  }
}
