#include "server.hpp"

#include <fcntl.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "log.hpp"
#include "session.hpp"

namespace samering::broker {

namespace {

std::chrono::milliseconds tick_period(const Config& c) {
  // Fine enough for the idle timeout (a quarter of it), at most once a second.
  double ms = c.idle_timeout_s > 0 ? c.idle_timeout_s * 250 : 1000;
  ms = std::clamp(ms, 50.0, 1000.0);
  return std::chrono::milliseconds(static_cast<long>(ms));
}

}  // namespace

Server::Server(asio::io_context& io, const Config& config, RingSet& rings, ListenSocket listen)
    : io_(io),
      config_(config),
      rings_(rings),
      listen_(std::move(listen)),
      reserve_(::open("/dev/null", O_RDONLY | O_CLOEXEC)),
      acceptor_(io, asio::local::stream_protocol(), listen_.fd.release()),
      signals_(io, SIGHUP, SIGTERM, SIGINT),
      tick_timer_(io),
      accept_retry_(io),
      debounce_(io),
      shutdown_deadline_(io),
      pid_(static_cast<std::uint32_t>(::getpid())) {}

void Server::start() {
  accept();
  wait_signals();
  tick();
  if (config_.watch) watch_specs();
  log_info(fmt::format("serving {} ring(s) on {}{}", rings_.entries().size(), config_.socket_path,
                       config_.shm_dir.empty() ? "" : ", publishing to " + config_.shm_dir));
}

void Server::accept() {
  acceptor_.async_accept(io_, [this](const boost::system::error_code& ec, SessionSocket socket) {
    on_accept(ec, std::move(socket));
  });
}

void Server::on_accept(const boost::system::error_code& ec, SessionSocket socket) {
  if (stopping_ || ec == asio::error::operation_aborted) return;
  if (ec) {
    if (ec == asio::error::no_descriptors || ec.value() == ENFILE) {
      // accept() fails so whether or not a connection waits (the descriptor is taken first): wait
      // for one, then refuse it with the reserve descriptor. No log line per attempt (tick() says).
      acceptor_.async_wait(asio::socket_base::wait_read, [this](const boost::system::error_code& e) {
        if (e || stopping_) return;
        UniqueFd fd(::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_CLOEXEC));
        if (fd) {  // descriptors are back
          on_accept({}, SessionSocket(io_.get_executor(), asio::local::stream_protocol(), fd.release()));
          return;
        }
        if (errno == EMFILE || errno == ENFILE) shed_connection();
        accept();
      });
      return;
    }
    // Something else: wait a little instead of spinning on a failing accept.
    log_warning("accept: " + ec.message());
    accept_retry_.expires_after(std::chrono::milliseconds(100));
    accept_retry_.async_wait([this](const boost::system::error_code& e) {
      if (!e && !stopping_) accept();
    });
    return;
  }
  ucred peer{};
  socklen_t len = sizeof peer;
  if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0) {
    peer.uid = static_cast<uid_t>(-1);  // unknown: never an admin
    peer.pid = 0;
  }
  auto session = std::make_shared<Session>(*this, std::move(socket), peer);
  ++stats_.connections_total;
  sessions_.push_front(session);
  session->self = sessions_.begin();
  if (sessions_.size() > config_.max_connections) {
    ++stats_.connections_rejected;
    session->close_with(ErrorCode::kTooManyConnections,
                        fmt::format("the broker serves at most {} connections", config_.max_connections));
  } else {
    session->start();
  }
  accept();
}

// Out of descriptors, with a connection waiting: the reserve is given up for a moment so that it
// can be accepted, told why and closed, rather than left waiting in the backlog while accept()
// fails again and again. False when there is no reserve or nothing could be accepted.
bool Server::shed_connection() {
  if (!reserve_) reserve_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!reserve_) return false;
  reserve_.reset();
  UniqueFd fd(::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  const bool accepted = static_cast<bool>(fd);
  if (accepted) {
    std::string frame;
    Encoder e(frame);
    encode_error(e, 0, ErrorCode::kTooManyConnections, "the broker is out of descriptors", true);
    (void)!::send(fd.get(), frame.data(), frame.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    fd.reset();
    ++stats_.connections_total;
    ++stats_.connections_rejected;
    ++stats_.connections_shed;
    ++stats_.errors[static_cast<std::size_t>(ErrorCode::kTooManyConnections)];
  }
  reserve_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  return accepted;
}

void Server::remove(const std::shared_ptr<Session>& s) {
  if (s->self != sessions_.end()) {
    auto it = s->self;
    s->self = sessions_.end();
    sessions_.erase(it);
  }
  if (stopping_ && sessions_.empty()) shutdown_deadline_.cancel();
}

void Server::wait_signals() {
  signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    if (signo == SIGHUP) {
      reload({}, "SIGHUP");
      wait_signals();
    } else {
      shutdown(signo == SIGTERM ? "SIGTERM" : "SIGINT");
    }
  });
}

void Server::tick() {
  tick_timer_.expires_after(tick_period(config_));
  tick_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    const auto now = Clock::now();
    if (config_.idle_timeout_s > 0) {
      const auto cutoff = now - std::chrono::milliseconds(static_cast<long>(config_.idle_timeout_s * 1000));
      std::vector<std::shared_ptr<Session>> idle;
      for (const auto& s : sessions_)
        if (s->idle(cutoff)) idle.push_back(s);
      for (const auto& s : idle) {
        ++stats_.connections_idle_closed;
        s->close_with(ErrorCode::kIdleTimeout, "idle for more than the broker's idle timeout");
      }
    }
    for (auto& r : rings_.entries())
      if (r->shm) r->shm->collect(now);
    if (stats_.connections_shed != shed_logged_) {  // once per tick, not once per connection
      log_warning(fmt::format("out of descriptors: {} connection(s) refused since the last report (RLIMIT_NOFILE)",
                              stats_.connections_shed - shed_logged_));
      shed_logged_ = stats_.connections_shed;
    }
    tick();
  });
}

void Server::watch_specs() {
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    log_warning(std::string("inotify: ") + std::strerror(errno) + "; spec files are not watched (use SIGHUP)");
    return;
  }
  for (const auto& r : rings_.entries()) {
    const std::string dir = std::filesystem::path(r->spec_path).parent_path().string();
    if (std::any_of(watched_dirs_.begin(), watched_dirs_.end(), [&](const auto& w) { return w.second == dir; }))
      continue;
    // The directory, not the file: editors and config managers replace files by rename.
    const int wd = ::inotify_add_watch(fd, dir.c_str(),
                                       IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB | IN_MOVED_FROM);
    if (wd < 0) {
      log_warning("inotify " + dir + ": " + std::strerror(errno) + "; not watched (use SIGHUP)");
      continue;
    }
    watched_dirs_.emplace_back(wd, dir);
  }
  inotify_ = std::make_unique<asio::posix::stream_descriptor>(io_, fd);
  read_inotify();
}

void Server::read_inotify() {
  inotify_->async_read_some(asio::buffer(inotify_buf_), [this](const boost::system::error_code& ec, std::size_t) {
    if (ec || stopping_) return;
    // Any change in a watched directory: settle for a moment, then compare the spec files.
    debounce_.expires_after(std::chrono::milliseconds(50));
    debounce_.async_wait([this](const boost::system::error_code& e) {
      if (!e && !stopping_) on_spec_event();
    });
    read_inotify();
  });
}

void Server::on_spec_event() {
  for (auto& r : rings_.entries()) {
    std::string text;
    try {
      text = read_spec_file(r->spec_path);
    } catch (const std::exception& e) {
      // Missing or unreadable: a failed reload (the ring stays), reported once per distinct reason.
      if (r->last_error_detail != e.what()) rings_.reload(*r, "spec file changed");
      continue;
    }
    if (text != r->spec_text) rings_.reload(*r, "spec file changed");
  }
}

Server::ReloadReport Server::reload(std::string_view ring, std::string_view trigger) {
  ReloadReport report;
  nlohmann::json rings = nlohmann::json::object();
  std::string errors;
  auto one = [&](RingEntry& r) {
    const ReloadOutcome o = rings_.reload(r, trigger);
    nlohmann::json j = {{"ok", o.ok}, {"changed", o.changed}, {"generation", o.generation}};
    if (!o.ok) {
      j["error"] = o.error;
      if (!errors.empty()) errors += "; ";
      errors += fmt::format("ring {}: {} (generation {} kept)", r.name, o.error, o.generation);
    }
    rings[r.name] = std::move(j);
  };
  if (ring.empty()) {
    for (auto& r : rings_.entries()) one(*r);
  } else if (RingEntry* r = rings_.find(ring)) {
    one(*r);
  } else {
    report.code = ErrorCode::kNoSuchRing;
    report.error = fmt::format("no ring named \"{}\"", ring);
    return report;
  }
  if (!errors.empty()) {
    report.code = ErrorCode::kReloadFailed;
    report.error = errors;
  }
  report.json = nlohmann::json{{"rings", rings}}.dump();
  return report;
}

std::string Server::stats_json() {
  using nlohmann::json;
  json errors = json::object();
  for (const ErrorCode code : kErrorCodes) errors[error_name(code)] = stats_.errors[static_cast<std::size_t>(code)];
  json rings = json::object();
  for (const auto& r : rings_.entries()) {
    rings[r->name] = {
        {"generation", r->generation},
        {"flavor", std::string(r->ring->flavor())},
        {"servers", r->ring->size()},
        {"image_size", r->ring->image().size()},
        {"spec", r->spec_path},
        {"requests", r->requests},
        {"picks", r->picks},
        {"reloads", {{"ok", r->reloads_ok}, {"unchanged", r->reloads_unchanged}, {"failed", r->reloads_failed}}},
        {"last_error", r->last_error},  // the kind of failure and the file, never its content
    };
  }
  std::size_t queued = 0, writing = 0;
  for (const auto& s : sessions_) {
    queued += s->queued_bytes();
    writing += s->writing() ? 1 : 0;
  }
  const double uptime = std::chrono::duration<double>(Clock::now() - stats_.started).count();
  json j = {
      {"pid", pid_},
      {"protocol_version", kProtocolVersion},
      {"uptime_s", uptime},
      {"requests", stats_.requests},
      {"picks", stats_.picks},
      {"errors", errors},
      {"connections",
       {{"current", sessions_.size()},
        {"total", stats_.connections_total},
        {"rejected", stats_.connections_rejected},
        {"shed", stats_.connections_shed},
        {"idle_closed", stats_.connections_idle_closed},
        {"max", config_.max_connections},
        {"writing", writing},
        {"queued_bytes", queued}}},
      {"reloads", {{"ok", rings_.reloads_ok}, {"failed", rings_.reloads_failed}, {"last_error", rings_.last_reload_error}}},
      {"shm_dir", config_.shm_dir},  // "" without --shm-dir (also in the version-2 HELLO reply)
      {"limits",
       {{"max_frame", config_.max_frame},
        {"max_keys", config_.max_keys},
        {"idle_timeout_s", config_.idle_timeout_s},
        {"max_queued_replies", kMaxQueuedReplies},
        {"max_queued_bytes", kMaxQueuedBytes},
        {"max_queued_descriptors", kMaxQueuedDescriptors}}},
      {"rings", rings},
  };
  return j.dump();
}

void Server::shutdown(const char* why) {
  if (stopping_) return;
  stopping_ = true;
  log_info(std::string(why) + ": shutting down");
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  remove_listen_socket(config_.socket_path, listen_);
  signals_.cancel(ignored);
  tick_timer_.cancel();
  accept_retry_.cancel();
  debounce_.cancel();
  if (inotify_) inotify_->close(ignored);
  // Connections with replies still being written finish them (up to 2 s); the others close now.
  std::vector<std::shared_ptr<Session>> all(sessions_.begin(), sessions_.end());
  for (const auto& s : all)
    if (!s->writing()) s->close();
  if (!sessions_.empty()) {
    shutdown_deadline_.expires_after(std::chrono::seconds(2));
    shutdown_deadline_.async_wait([this](const boost::system::error_code&) {
      std::vector<std::shared_ptr<Session>> rest(sessions_.begin(), sessions_.end());
      for (const auto& s : rest) s->close();
    });
  }
}

}  // namespace samering::broker
