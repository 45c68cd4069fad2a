#include "server_connection.hpp"

#include <cerrno>
#include <cstdint>
#include <ctime>
#include <string_view>

namespace samering::client_detail {
namespace {

std::int64_t monotonic_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// libmemcached 1.1.4 io.cc memcached_io_poll: a zero timeout fails at once and a negative one
// waits forever; ours says 0 = no timeout (as CMF's connect_timeout/io_timeout do).
std::uint64_t libmemcached_timeout(std::chrono::milliseconds t) noexcept {
  if (t.count() <= 0) return static_cast<std::uint64_t>(-1);  // stored as int32_t -1
  return static_cast<std::uint64_t>(t.count() > INT32_MAX ? INT32_MAX : t.count());
}

// libmemcached's messages look like "(0x55d0...) CONNECTION FAILURE(Connection refused),  host:
// 127.0.0.1:1 -> ./src/libmemcached/io.cc:145": keep the part between the pointer and the arrow.
std::string_view tidy(std::string_view m) noexcept {
  if (m.starts_with("(0x")) {
    const auto close = m.find(") ");
    if (close != std::string_view::npos) m.remove_prefix(close + 2);
  }
  const auto host = m.find(",  host:");
  if (host != std::string_view::npos) m = m.substr(0, host);
  const auto arrow = m.find(" -> ");
  if (arrow != std::string_view::npos) m = m.substr(0, arrow);
  return m;
}

bool unreachable_errno(int e) noexcept {
  switch (e) {
    case ECONNREFUSED:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EHOSTDOWN:
    case ENETDOWN:
    case EADDRNOTAVAIL:
      return true;
    default:
      return false;
  }
}

}  // namespace

ServerConnection::ServerConnection(std::string host, std::uint16_t port, std::string address)
    : host_(std::move(host)), port_(port), address_(std::move(address)) {
  // "[::1]" as written in a spec; libmemcached takes the bare address.
  if (host_.size() > 2 && host_.front() == '[' && host_.back() == ']') host_ = host_.substr(1, host_.size() - 2);
}

ServerConnection::~ServerConnection() { close(); }

memcached_st* ServerConnection::handle(const HandleSettings& settings, Status& status, std::string& error) {
  if (retry_at_ns_ != 0) {
    const std::int64_t now = monotonic_ns();
    if (now < retry_at_ns_) {
      status = Status::server_down;
      error = address_ + ": server down (not retried for another " +
              std::to_string((retry_at_ns_ - now + 999'999) / 1'000'000) + " ms)";
      return nullptr;
    }
    retry_at_ns_ = 0;
  }
  if (mc_) return mc_;

  memcached_st* mc = memcached_create(nullptr);
  if (!mc) {
    status = Status::no_memory;
    error = address_ + ": out of memory creating its libmemcached handle";
    return nullptr;
  }
  memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
  // The retry timeout is ours (milliseconds, monotonic). libmemcached's own (whole seconds,
  // wall clock, server.hpp memcached_mark_server_for_timeout) never starts: a server enters its
  // IN_TIMEOUT state only after server_timeout_limit failures.
  memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_SERVER_TIMEOUT_LIMIT, UINT32_MAX);
  memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_RETRY_TIMEOUT, 0);
  memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT,
                         libmemcached_timeout(settings.options.connect_timeout));
  memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, libmemcached_timeout(settings.options.io_timeout));
  memcached_return_t rc = memcached_server_add(mc, host_.c_str(), port_);
  if (memcached_success(rc) && !settings.key_prefix.empty()) {
    rc = memcached_callback_set(mc, MEMCACHED_CALLBACK_NAMESPACE, settings.key_prefix.c_str());
  }
  if (memcached_failed(rc)) {
    status = rc == MEMCACHED_MEMORY_ALLOCATION_FAILURE ? Status::no_memory : Status::internal;
    error =
        address_ + ": cannot set up its libmemcached handle: " + std::string(tidy(memcached_last_error_message(mc)));
    memcached_free(mc);  // no socket yet: no I/O
    return nullptr;
  }
  if (!memcached_result_create(mc, &result_)) {
    status = Status::no_memory;
    error = address_ + ": out of memory creating its result buffer";
    memcached_free(mc);
    return nullptr;
  }
  mc_ = mc;
  connected_ = cas_ = noreply_ = unsynced_ = false;
  return mc_;
}

Status ServerConnection::result(memcached_return_t rc, const HandleSettings& settings, std::string& error) {
  Status status;
  bool unreachable = false;  // start the retry timeout
  switch (rc) {
    case MEMCACHED_SUCCESS:
    case MEMCACHED_STORED:
    case MEMCACHED_DELETED:
    case MEMCACHED_END:
    case MEMCACHED_BUFFERED:
      connected_ = true;
      return Status::ok;
    case MEMCACHED_NOTFOUND:
      connected_ = true;
      return Status::not_found;
    case MEMCACHED_NOTSTORED:
      connected_ = true;
      return Status::not_stored;
    case MEMCACHED_DATA_EXISTS:
      connected_ = true;
      return Status::exists;
    case MEMCACHED_E2BIG:  // "SERVER_ERROR object too large for cache" (response.cc)
      status = Status::too_large;
      break;
    case MEMCACHED_SERVER_ERROR:
    case MEMCACHED_CLIENT_ERROR:
    case MEMCACHED_ERROR:  // also MEMCACHED_CONNECTION_SOCKET_CREATE_FAILURE (same value)
    case MEMCACHED_SERVER_MEMORY_ALLOCATION_FAILURE:
      status = Status::server_error;
      break;
    case MEMCACHED_MEMORY_ALLOCATION_FAILURE:
      status = Status::no_memory;
      break;
    case MEMCACHED_BAD_KEY_PROVIDED:
    case MEMCACHED_KEY_TOO_BIG:
      status = Status::bad_key;
      break;
    case MEMCACHED_TIMEOUT:
      status = Status::timeout;
      unreachable = true;
      connected_ = false;
      break;
    case MEMCACHED_PROTOCOL_ERROR:
    case MEMCACHED_UNKNOWN_READ_FAILURE:
    case MEMCACHED_PARSE_ERROR:
      status = Status::protocol_error;
      connected_ = false;
      break;
    case MEMCACHED_HOST_LOOKUP_FAILURE:
    case MEMCACHED_SERVER_TEMPORARILY_DISABLED:
    case MEMCACHED_SERVER_MARKED_DEAD:
    case MEMCACHED_NO_SERVERS:
    case MEMCACHED_INVALID_HOST_PROTOCOL:
      status = Status::server_down;
      unreachable = true;
      connected_ = false;
      break;
    case MEMCACHED_CONNECTION_FAILURE:
    case MEMCACHED_WRITE_FAILURE:
    case MEMCACHED_READ_FAILURE:
    case MEMCACHED_ERRNO:
    case MEMCACHED_PARTIAL_READ:
    case MEMCACHED_FAILURE:
    case MEMCACHED_SOME_ERRORS:
    case MEMCACHED_IN_PROGRESS:
      // libmemcached says CONNECTION_FAILURE both for a refused connect and for a connection the
      // server closed. A failure with no open connection before it, or a connect errno, is a
      // server that cannot be reached; otherwise an open connection broke (the command may or
      // may not have run; the next command reconnects at once, as libmemcached does).
      unreachable = !connected_ || unreachable_errno(memcached_last_error_errno(mc_));
      status = unreachable ? Status::server_down : Status::connection_lost;
      connected_ = false;
      break;
    default:
      status = Status::internal;
      break;
  }
  bool retry_started = false;
  if (unreachable) {
    const auto retry = settings.options.retry_timeout.count();
    if (retry > 0) {
      const std::int64_t now = monotonic_ns();
      retry_started = true;
      if (settings.options.max_failures > 1) {
        // Cache::Memcached::Fast 0.28 client.c client_mark_failed: max_failures within
        // failure_timeout, then the server is left alone for failure_timeout.
        if (failures_ == 0 || now - first_failure_ns_ >= retry * 1'000'000) {
          first_failure_ns_ = now;
          failures_ = 0;
        }
        retry_started = ++failures_ >= settings.options.max_failures;
      }
      if (retry_started) {
        retry_at_ns_ = now + retry * 1'000'000;
        failures_ = 0;
      }
    }
  }
  error = address_ + ": " + std::string(to_string(status)) + " (" +
          std::string(tidy(memcached_last_error_message(mc_))) + ")";
  if (retry_started) {
    error += "; not retried for " + std::to_string(settings.options.retry_timeout.count()) + " ms";
  }
  return status;
}

void ServerConnection::apply(const ClientOptions& options) noexcept {
  if (!mc_) return;
  memcached_behavior_set(mc_, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, libmemcached_timeout(options.connect_timeout));
  memcached_behavior_set(mc_, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, libmemcached_timeout(options.io_timeout));
}

void ServerConnection::apply_key_prefix(const std::string& prefix) noexcept {
  if (!mc_) return;  // a new handle takes the prefix from HandleSettings
  // libmemcached 1.1.4 callback.cc + namespace.cc: NULL clears the namespace ("" is refused).
  memcached_callback_set(mc_, MEMCACHED_CALLBACK_NAMESPACE, prefix.empty() ? nullptr : prefix.c_str());
}

void ServerConnection::close() noexcept {
  if (mc_) {
    memcached_result_free(&result_);
    memcached_free(mc_);  // "quit" + close on an open connection
  }
  mc_ = nullptr;
  connected_ = cas_ = noreply_ = unsynced_ = false;
}

InheritedHandle ServerConnection::take_inherited() noexcept {
  const InheritedHandle handle{mc_, port_};
  if (mc_) memcached_result_free(&result_);  // memory only
  mc_ = nullptr;
  connected_ = cas_ = noreply_ = unsynced_ = false;
  return handle;
}

}  // namespace samering::client_detail
