// broker::Connection — the client end of one broker connection: blocking AF_UNIX socket with
// per-request timeouts, the HELLO handshake sent together with the first request, request ids
// checked on every reply, and the fork rule (docs/protocol.md "Fork"): a connection remembers the
// pid that opened it and, in any other process, is closed without a byte sent and reopened.
// No threads, no signals (MSG_NOSIGNAL), descriptors are close-on-exec.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "frame_decoder.hpp"
#include "protocol.hpp"
#include "samering/broker.hpp"
#include "samering/unique_fd.hpp"

namespace samering::broker {

class Connection {
 public:
  Connection(std::string path, int timeout_ms);
  ~Connection();  // closes without sending anything
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Encoder over the pending request bytes; every request gets next_id().
  Encoder encoder() { return Encoder(out_); }
  std::uint32_t next_id() { return ++last_id_; }

  // Sends the pending requests (`count` frames whose ids run from first_id upwards) and calls
  // on_reply(frame, index) for each reply, in order; error frames are turned into
  // BrokerError(kBroker) after every reply of the batch was read. A lost connection is reopened
  // and the batch sent again once when no reply of it had arrived (every request is idempotent).
  // `received_fd`, when given, receives a descriptor that came with a reply (SCM_RIGHTS).
  class ReplyHandler {  // a non-owning callable reference: no allocation per request
   public:
    template <typename F>
    ReplyHandler(F& f) : obj_(&f), call_([](void* o, const Frame& fr, std::size_t i) { (*static_cast<F*>(o))(fr, i); }) {}
    void operator()(const Frame& f, std::size_t i) const { call_(obj_, f, i); }

   private:
    void* obj_;
    void (*call_)(void*, const Frame&, std::size_t);
  };
  void exchange(std::size_t count, std::uint32_t first_id, const ReplyHandler& on_reply, int* received_fd = nullptr);
  // Starts a batch: opens the connection if needed (fork check first) so that ids and the
  // handshake are in place. Call before encoding requests.
  void begin_batch();

  const HelloReply& hello() const { return hello_; }
  // The broker's effective uid (SO_PEERCRED of this connection, checked by the kernel).
  uid_t peer_uid() const { return peer_uid_; }
  const std::string& path() const { return path_; }
  void drop() noexcept;  // close without sending (safe in a forked child)
  bool connected() const { return static_cast<bool>(fd_); }

 private:
  void open();
  void send_all();
  void salvage_refusal();  // throws the broker's error frame if one is buffered
  std::size_t read_some(int* received_fd);
  [[noreturn]] void fail(BrokerError::Kind kind, const std::string& what);

  std::string path_;
  int timeout_ms_;
  UniqueFd fd_;
  pid_t pid_ = 0;
  uid_t peer_uid_ = static_cast<uid_t>(-1);
  bool fresh_ = false;          // HELLO was queued on this connection and not yet answered
  std::uint32_t hello_id_ = 0;
  std::uint32_t last_id_ = 0;
  HelloReply hello_;
  std::string out_;
  FrameDecoder decoder_{FrameDecoder::Side::kReplies, kMaxReplyFrame};
};

}  // namespace samering::broker
