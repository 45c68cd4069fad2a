// Session: one client connection. It is read once each time the reactor reports it readable
// (fair among connections: docs/design-notes.md "Broker: one read per readiness"); the frames
// read are answered in order into a ReplyQueue, which is written when the frames are drained
// (one write for a pipelined batch).
//
// Bounds (docs/protocol.md "Limits"): frames are answered only while the queue holds fewer than
// kMaxQueuedReplies replies, kMaxQueuedBytes bytes and kMaxQueuedDescriptors descriptors; at a
// bound the queue is written first, and nothing more is read from the socket while a write is
// pending. So a client that does not read its replies stops being read, and costs the broker at
// most the bounds (RING_IMAGE bytes and descriptors are shared with the ring, not copied).
// Idle time counts from the last progress — a request answered, a new frame begun, reply bytes
// taken by the client — not from the last byte received, so trickling bytes keeps nothing open.
#pragma once

#include <sys/socket.h>

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp uses std::exchange unincluded
#include <boost/asio.hpp>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "frame_decoder.hpp"
#include "reply_queue.hpp"
#include "server.hpp"

namespace samering::broker {

// Per-connection bounds on queued replies (docs/protocol.md "Limits").
inline constexpr std::size_t kMaxQueuedReplies = 4096;
inline constexpr std::size_t kMaxQueuedBytes = 1u << 20;  // a single larger reply is queued alone
inline constexpr std::size_t kMaxQueuedDescriptors = 16;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server& server, SessionSocket socket, const ucred& peer);
  void start();
  void close();
  // Best effort: queue a fatal error frame, try one non-blocking write, close.
  void close_with(ErrorCode code, std::string_view message);
  // No progress since `cutoff` (see the file comment).
  bool idle(Clock::time_point cutoff) const { return last_progress_ < cutoff; }
  bool writing() const { return writing_; }
  std::size_t queued_bytes() const { return out_.bytes(); }

  std::list<std::shared_ptr<Session>>::iterator self;

 private:
  enum class Stop { kNeedMore, kBound, kClosing };
  void read();
  void on_readable(const boost::system::error_code& ec);
  void serve(Clock::time_point now);  // answers buffered frames up to the bounds, writes, repeats; then reads
  Stop answer_frames(Clock::time_point now);
  void on_writable(const boost::system::error_code& ec);
  bool write();  // true when the queue was written completely
  void wait_writable();
  void handle(const Frame& f);
  // One handler per opcode (docs/protocol.md "Opcodes").
  void on_hello(const Frame& f);
  void on_ping(const Frame& f);
  void on_pick(const Frame& f);
  void on_pick_many(const Frame& f);
  void on_ring_info(const Frame& f);
  void on_ring_image(const Frame& f);
  void on_stats(const Frame& f);
  void on_reload(const Frame& f);
  // An error frame; `fatal` ones close the connection once the queue is written.
  void reply_error(std::uint32_t id, ErrorCode code, std::string_view message, bool fatal);
  void reply_error(std::uint32_t id, ErrorCode code, std::string_view message) {
    reply_error(id, code, message, is_fatal(code));
  }
  RingEntry* ring_or_error(std::uint32_t id, std::string_view name);

  Server& server_;
  SessionSocket socket_;
  FrameDecoder decoder_;
  ReplyQueue out_;
  ucred peer_;
  std::uint16_t version_ = 0;  // 0 until the handshake
  bool closing_ = false, writing_ = false, closed_ = false;
  Clock::time_point last_progress_ = Clock::now();
  std::vector<std::string_view> keys_;
  std::vector<std::int32_t> indices_;
};

}  // namespace samering::broker
