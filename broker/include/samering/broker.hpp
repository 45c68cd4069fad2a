// samering/broker.hpp — the two selector sources that follow a running samering-broker:
//
//   BrokerSelector  asks the broker over its Unix socket (one round trip per pick, or per batch)
//   ShmSelector     maps the ring image the broker publishes in its --shm-dir and follows reloads
//                   with one memory load per pick (no syscall)
//
//   samering::BrokerSelector b("/run/samering.sock", "main");
//   samering::BrokerPick p = b.pick("user:42");   // p.index, p.address, p.generation
//   samering::ShmSelector s("/dev/shm/samering", "main");
//   std::int32_t i = s.pick("user:42");            // as fast as a local Ring
//
// Fork: both are safe to create before fork() and use in the children. A BrokerSelector remembers
// the pid that opened its connection; in a forked child the inherited descriptor is closed without
// anything being sent on it and a new connection is opened on first use. A ShmSelector's mappings
// are read-only and stay valid in children. Neither starts a thread.
// Threads: one thread at a time per object (both keep per-object state: a connection, the
// followed generation); use one object per thread, or a lock.
// Protocol and files: docs/protocol.md.
#pragma once

#include <sys/types.h>

#include "samering/common.h"  // SAMERING_API

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "samering/ring.hpp"

namespace samering {

// A failure to get an answer from the broker, or an error answer.
class SAMERING_API BrokerError : public std::runtime_error {
 public:
  enum class Kind {
    kConnect,   // cannot connect (no broker at that path, permission, too many connections)
    kIo,        // the connection broke (the broker went away mid-request)
    kTimeout,   // no complete reply within the timeout
    kProtocol,  // the reply was malformed or out of order (the connection was dropped)
    kBroker,    // the broker answered with an error frame; broker_code() says which
  };
  BrokerError(Kind kind, const std::string& message, int broker_code = 0)
      : std::runtime_error(message), kind_(kind), broker_code_(broker_code) {}
  Kind kind() const noexcept { return kind_; }
  // The protocol's error code (docs/protocol.md "Errors") for Kind::kBroker, else 0.
  int broker_code() const noexcept { return broker_code_; }

 private:
  Kind kind_;
  int broker_code_;
};

struct BrokerOptions {
  int timeout_ms = 2000;   // per request: connect, send and the whole reply; ≤ 0 = wait forever
  bool connect_now = true; // connect and check the ring in the constructor (throws if it fails)
};

struct BrokerPick {
  std::uint64_t generation = 0;  // the generation of the ring that answered
  std::int32_t index = -1;       // -1: the flavor refuses this key
  std::string_view address;      // "host:port"; valid until the next call on this object
};

struct BrokerRingInfo {
  std::uint64_t generation = 0;
  std::uint64_t image_size = 0;
  std::string flavor;
  std::vector<std::string> servers;  // "host:port" as written, in index order
};

namespace broker {
class Connection;
}

class SAMERING_API BrokerSelector {
 public:
  // Throws BrokerError (kConnect, kBroker with no_such_ring, ...) when options.connect_now.
  BrokerSelector(std::string socket_path, std::string ring, BrokerOptions options = {});
  ~BrokerSelector();
  BrokerSelector(BrokerSelector&&) noexcept;
  BrokerSelector& operator=(BrokerSelector&&) noexcept;

  // One PICK round trip. Reconnects (once) when the connection was lost or the process forked.
  BrokerPick pick(std::string_view key);
  // One PICK_MANY frame per max_keys keys; out[i] = index (-1 = refused). Returns the generation
  // (the largest one when a batch was split across a reload; *one_generation, when given, says
  // whether every frame was answered by the same generation).
  std::uint64_t pick_many(const std::string_view* keys, std::size_t n, std::int32_t* out,
                          bool* one_generation = nullptr);
  // n PICK frames written together (pipelined), replies read in order: out[i], generations[i]
  // (generations may be null). For callers that want per-key generations.
  void pick_pipelined(const std::string_view* keys, std::size_t n, std::int32_t* out, std::uint64_t* generations);

  BrokerRingInfo info();
  // The current image as a Ring: by descriptor (SCM_RIGHTS, mapped read-only) or by bytes.
  // Sets *generation when given.
  Ring ring(bool by_descriptor = true, std::uint64_t* generation = nullptr);
  void ping();
  std::string stats();                        // the STATS JSON
  std::string reload(std::string_view ring = {});  // the RELOAD JSON; throws kBroker on failure

  std::uint32_t broker_pid();                 // from the handshake (connects if needed)
  // The broker's --shm-dir ("" when it publishes none), from the version-2 handshake (connects if
  // needed; no round trip of its own). Throws BrokerError(kProtocol) for a broker that speaks only
  // version 1 (it did not say). Pass it, with broker_uid(), to ShmSelector.
  std::string shm_dir();
  // The broker's effective uid as the kernel reports it for this connection (SO_PEERCRED;
  // connects if needed): the owner its shm files must have.
  uid_t broker_uid();
  const std::string& socket_path() const noexcept;
  const std::string& ring_name() const noexcept;
  // Closes the connection now (in this process: nothing is sent).
  void close() noexcept;

 private:
  std::unique_ptr<broker::Connection> conn_;
  std::string ring_;
  std::string last_address_;
};

struct ShmOptions {
  // Whose files a reader trusts besides root's and its own effective uid's (docs/protocol.md
  // "Shared memory", reader rules): the broker's uid when it runs as another user (-1: nobody
  // else). BrokerSelector::broker_uid() tells it.
  long long trusted_uid = -1;
};

// Maps <dir>/<ring>.ctl and the image it names; validates every image before use. Follows the
// broker's reloads through the control block, and a control file replaced under the same path (a
// broker restarted on a re-created shm dir) through a check made at most once a second of picking.
class SAMERING_API ShmSelector {
 public:
  // Throws BrokerError(kConnect) when the dir or control file is missing, is not one or is not
  // trusted (owner, mode: the reader rules), ImageError when the image is corrupt, truncated or
  // not trusted (the message names the file).
  ShmSelector(std::string dir, std::string ring, ShmOptions options = {});
  ~ShmSelector();
  ShmSelector(ShmSelector&&) noexcept;
  ShmSelector& operator=(ShmSelector&&) noexcept;

  // The hot path: one atomic load to see whether the broker published a new generation, and a
  // countdown; if the generation moved, the new image is mapped and validated first (on error the
  // previous one stays in use and last_error() says why). Every kPicksPerClockRead picks the
  // coarse monotonic clock is read (vDSO, no system call), and once a second of picking the
  // control file's path is checked (one lstat): a different file there is mapped and followed.
  // Never throws, never allocates unless it follows something.
  std::int32_t pick(std::string_view key) noexcept {
    if (control_seq_->load(std::memory_order_acquire) != seen_seq_ || --picks_to_clock_ == 0) [[unlikely]]
      follow();
    return ring_.pick(key);
  }
  std::int32_t pick(const char* key, std::size_t len) noexcept { return pick(std::string_view(key, len)); }
  void pick_many(const std::string_view* keys, std::size_t n, std::int32_t* out) noexcept {
    if (control_seq_->load(std::memory_order_acquire) != seen_seq_ || --picks_to_clock_ == 0) [[unlikely]]
      follow();
    ring_.pick_many(keys, n, out);
  }

  // Follows a newer generation now, if any, and checks the control file's path if the last check
  // is a second old or more (no system call otherwise); returns false (keeping the current ring)
  // when the last attempt to follow failed.
  bool refresh() noexcept;
  static constexpr std::uint32_t kPicksPerClockRead = 64;
  const Ring& ring() const noexcept { return ring_; }
  std::uint64_t generation() const noexcept { return generation_; }
  const std::string& last_error() const noexcept { return last_error_; }

 private:
  struct Control;  // a mapped control file and its identity
  void follow() noexcept;
  void follow_seq() noexcept;
  void check_control_file() noexcept;
  void adopt(Control control);
  Ring first_load();  // the constructor's: maps the control file and its image, sets the state
  Control open_control() const;                                                     // throws
  Ring load(const Control& control, std::uint64_t& seq, std::uint64_t& generation) const;  // throws

  std::string dir_, name_, control_path_;
  ShmOptions options_;
  std::shared_ptr<const void> control_map_;
  const std::atomic<std::uint64_t>* control_seq_ = nullptr;
  std::uint64_t seen_seq_ = 0;
  std::uint32_t picks_to_clock_ = kPicksPerClockRead;
  std::uint64_t control_dev_ = 0, control_ino_ = 0;
  std::int64_t checked_ns_ = 0;  // CLOCK_MONOTONIC_COARSE of the last control-file check
  std::uint64_t generation_ = 0;
  Ring ring_;
  std::string last_error_;
};

}  // namespace samering
