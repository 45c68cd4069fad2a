// Session: one client connection, read once each time the reactor reports it readable (fair among
// connections: see Session::read). Frames are decoded from the read buffer and answered in order
// into one output buffer, which is written when the buffer has been drained (one write for a whole
// pipelined batch). While a write is pending nothing more is read (backpressure: a client that does
// not read its replies stops being read). Replies that carry a descriptor (RING_IMAGE by
// descriptor) start a separate sendmsg with SCM_RIGHTS.
#pragma once

#include <sys/socket.h>

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp uses std::exchange unincluded
#include <boost/asio.hpp>
#include <deque>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "frame_decoder.hpp"
#include "server.hpp"

namespace samering::broker {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server& server, SessionSocket socket, const ucred& peer);
  ~Session();
  void start();
  void close();
  // Best effort: queue an error frame, try one non-blocking write, close.
  void close_with(ErrorCode code, std::string_view message);
  bool idle(Clock::time_point cutoff) const { return !writing_ && last_active_ < cutoff; }
  bool writing() const { return writing_; }

  std::list<std::shared_ptr<Session>>::iterator self;

 private:
  void read();
  void on_readable(const boost::system::error_code& ec);
  void process();
  void handle(const Frame& f);
  void reply_error(std::uint32_t id, ErrorCode code, std::string_view message);
  RingEntry* ring_or_error(std::uint32_t id, std::string_view name);
  bool flush();  // true when everything queued was written
  void wait_writable();
  void after_write();

  Server& server_;
  SessionSocket socket_;
  FrameDecoder decoder_;
  std::string out_;
  std::size_t out_off_ = 0;
  struct Attachment {
    std::size_t offset;  // in out_: the first byte of the frame the descriptor travels with
    int fd;
  };
  std::deque<Attachment> fds_;
  ucred peer_;
  bool hello_ = false, closing_ = false, writing_ = false, closed_ = false;
  Clock::time_point last_active_ = Clock::now();
  std::vector<std::string_view> keys_;
  std::vector<std::int32_t> indices_;
};

}  // namespace samering::broker
