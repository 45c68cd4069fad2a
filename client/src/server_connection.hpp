// ServerConnection: the libmemcached handle for one server of the ring, opened lazily, owned by
// the process that opened it, with the retry timeout after a failure.
#pragma once

#include <libmemcached/memcached.h>

#include <cstdint>
#include <string>

#include "inherited_socket.hpp"
#include "samering/client.hpp"

namespace samering::client_detail {

// What every handle of a client is configured with.
struct HandleSettings {
  ClientOptions options;
  std::string key_prefix;  // the ring's namespace, sent before every key
};

class ServerConnection {
 public:
  ServerConnection(std::string host, std::uint16_t port, std::string address);
  // Quits and frees the handle (only ever called in the process that owns it: Client drops
  // inherited handles with take_inherited() first).
  ~ServerConnection();
  ServerConnection(const ServerConnection&) = delete;
  ServerConnection& operator=(const ServerConnection&) = delete;

  // The handle to send the next command with, created on first use; or nullptr with `status`
  // (server_down while the retry timeout runs, no_memory) and `error` set. Opens no socket:
  // libmemcached connects inside the command.
  memcached_st* handle(const HandleSettings& settings, Status& status, std::string& error);

  // The handle as it is (nullptr when none is open); no retry check, no creation.
  memcached_st* open_handle() const noexcept { return mc_; }

  // Turns a libmemcached result into a Status; for a failure, writes `error`, and starts the
  // retry timeout when the server could not be reached (server_down, timeout). `rc` must come
  // from a command on handle().
  Status result(memcached_return_t rc, const HandleSettings& settings, std::string& error);
  // Records a success (the connection is known to be open).
  void succeeded() noexcept { connected_ = true; }

  // "gets" instead of "get" for the next retrievals (MEMCACHED_BEHAVIOR_SUPPORT_CAS).
  void use_cas(bool on) noexcept {
    if (cas_ != on) {
      memcached_behavior_set(mc_, MEMCACHED_BEHAVIOR_SUPPORT_CAS, on);
      cas_ = on;
    }
  }
  // " noreply" on the next storage/delete/arithmetic/flush commands (MEMCACHED_BEHAVIOR_NOREPLY).
  void use_noreply(bool on) noexcept {
    if (noreply_ != on) {
      memcached_behavior_set(mc_, MEMCACHED_BEHAVIOR_NOREPLY, on);
      noreply_ = on;
    }
    if (on) unsynced_ = true;
  }
  // Whether noreply commands were sent since the last sync().
  bool unsynced() const noexcept { return unsynced_; }
  void synced() noexcept { unsynced_ = false; }

  // New timeouts for an open handle.
  void apply(const ClientOptions& options) noexcept;
  // A new namespace for an open handle (prefix: printable ASCII, checked by the caller).
  void apply_key_prefix(const std::string& prefix) noexcept;
  // Closes the connection politely (quit) and frees the handle; the next command reopens.
  void close() noexcept;
  // In a forked child: hands the parent's handle over (for release_inherited, which frees it
  // without any I/O on the parent's socket) and forgets it, so that the next command opens the
  // child's own connection. {nullptr, port} when no handle was open.
  InheritedHandle take_inherited() noexcept;

  // The result buffer for retrievals on this handle (a memcached_result_st belongs to the
  // memcached_st that created it: its value is reallocated with that handle's allocators).
  memcached_result_st* result_buffer() noexcept { return &result_; }

  const std::string& address() const noexcept { return address_; }

 private:
  std::string host_;
  std::uint16_t port_;
  std::string address_;  // "host:port" as written in the spec
  memcached_st* mc_ = nullptr;
  memcached_result_st result_{};  // valid while mc_ is
  std::int64_t retry_at_ns_ = 0;  // CLOCK_MONOTONIC; 0 = no retry timeout running
  std::int64_t first_failure_ns_ = 0;  // start of the current run of failures (max_failures > 1)
  std::uint32_t failures_ = 0;         // failures in that run
  bool connected_ = false;        // the last command left an open connection
  bool cas_ = false;
  bool noreply_ = false;
  bool unsynced_ = false;
};

}  // namespace samering::client_detail
