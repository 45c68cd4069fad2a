// Server: the broker's event loop on one io_context (one thread). It accepts connections on the
// listening socket, runs one Session per connection, reloads on SIGHUP / spec-file change,
// stops gracefully on SIGTERM/SIGINT, closes idle connections and removes superseded shm images.
#pragma once

#include <sys/socket.h>

#include <array>
#include <utility>  // before Asio: Boost 1.74 awaitable.hpp uses std::exchange unincluded
#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "config.hpp"
#include "listen_socket.hpp"
#include "protocol.hpp"
#include "rings.hpp"
#include "samering/unique_fd.hpp"

namespace samering::broker {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
// A connection's socket bound to the io_context's own executor rather than the type-erased
// any_io_executor: waits and completions skip the type erasure (docs/design-notes.md).
using SessionSocket = asio::basic_stream_socket<asio::local::stream_protocol, asio::io_context::executor_type>;

struct Stats {
  std::uint64_t requests = 0, picks = 0;
  std::array<std::uint64_t, kErrorCodeCount> errors{};
  std::uint64_t connections_total = 0, connections_rejected = 0, connections_idle_closed = 0;
  std::uint64_t connections_shed = 0;  // refused because the broker was out of descriptors
  Clock::time_point started = Clock::now();
};

class Session;

class Server {
 public:
  Server(asio::io_context& io, const Config& config, RingSet& rings, ListenSocket listen);
  void start();

  // Used by Session.
  const Config& config() const { return config_; }
  RingSet& rings() { return rings_; }
  Stats& stats() { return stats_; }
  std::uint32_t pid() const { return pid_; }
  std::string stats_json();
  // The RELOAD request and SIGHUP: every ring, or one. Returns {all ok, JSON, error text}.
  struct ReloadReport {
    ErrorCode code = ErrorCode::kOk;  // kReloadFailed, kNoSuchRing
    std::string json, error;
  };
  ReloadReport reload(std::string_view ring, std::string_view trigger);
  void remove(const std::shared_ptr<Session>& s);
  bool stopping() const { return stopping_; }

 private:
  void accept();
  void on_accept(const boost::system::error_code& ec, SessionSocket socket);
  bool shed_connection();
  void wait_signals();
  void tick();
  void watch_specs();
  void read_inotify();
  void on_spec_event();
  void shutdown(const char* why);

  asio::io_context& io_;
  const Config& config_;
  RingSet& rings_;
  ListenSocket listen_;
  // Kept open to be closed when accept() runs out of descriptors: the connection waiting in the
  // backlog can then be accepted and refused instead of failing accept() again and again.
  UniqueFd reserve_;
  asio::local::stream_protocol::acceptor acceptor_;
  asio::signal_set signals_;
  asio::steady_timer tick_timer_;
  asio::steady_timer accept_retry_;
  asio::steady_timer debounce_;
  asio::steady_timer shutdown_deadline_;
  std::unique_ptr<asio::posix::stream_descriptor> inotify_;
  std::vector<std::pair<int, std::string>> watched_dirs_;  // inotify wd, directory
  std::array<char, 8192> inotify_buf_{};
  std::list<std::shared_ptr<Session>> sessions_;
  Stats stats_;
  std::uint32_t pid_;
  std::uint64_t shed_logged_ = 0;
  bool stopping_ = false;
  friend class Session;
};

}  // namespace samering::broker
