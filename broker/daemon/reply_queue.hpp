// ReplyQueue: one connection's replies waiting to be written, in order. Small replies are encoded
// into one byte buffer; a RING_IMAGE reply's image is queued by reference (the bytes stay where
// the ring keeps them, shared by every reply that sends them, and are written with sendmsg
// scatter-gather), and a descriptor (RING_IMAGE by SCM_RIGHTS) is queued by reference to the
// ring's own memfd: queuing it duplicates nothing. write() sends as much as the socket takes.
//
//   Encoder e(q.buffer()); encode_pick_reply(e, ...);                 // inline bytes
//   encode_ring_image_reply_head(e, ...); q.append_shared(bytes, ring); // the image, not copied
//   q.attach_fd(memfd, owner); encode_ring_image_reply_head(e, ...);  // fd goes with that header
//   switch (q.write(socket_fd, err)) { ... }
//
// Socket-free except write(), which takes any stream socket (tests use a socketpair).
// Allocation: the byte buffer grows with what is appended; one deque entry per shared span or
// descriptor. Thread safety: one queue per connection, one thread.
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <span>
#include <string>

namespace samering::broker {

class ReplyQueue {
 public:
  // Where encoders append inline reply bytes.
  std::string& buffer() noexcept { return buf_; }
  // Queues `bytes` after everything appended so far, without copying; `owner` keeps them alive
  // until they are written (or the queue is cleared). Empty spans are ignored.
  void append_shared(std::span<const std::byte> bytes, std::shared_ptr<const void> owner);
  // The descriptor `fd` travels (SCM_RIGHTS) with the first byte appended after this call, which
  // must come (the reply's header); `owner` keeps `fd` open until it was sent.
  void attach_fd(int fd, std::shared_ptr<const void> owner);

  std::size_t bytes() const noexcept { return buf_.size() - off_ + shared_pending_; }  // not yet written
  std::size_t descriptors() const noexcept { return fds_; }                            // not yet sent
  bool empty() const noexcept { return bytes() == 0 && ext_.empty(); }

  enum class Write { kDone, kWouldBlock, kFailed };
  // Non-blocking sendmsg (MSG_NOSIGNAL) until everything is written (kDone: the queue is empty
  // again), the socket is full (kWouldBlock) or it fails (kFailed, errno in `error`: EPIPE,
  // ECONNRESET, ETOOMANYREFS...). `progress` is set when at least one byte was written.
  Write write(int socket_fd, int& error, bool& progress);
  // Forgets everything queued (the connection is closing); releases the owners.
  void clear() noexcept;
  // Frees a buffer grown past `keep` bytes when the queue is empty.
  void shrink(std::size_t keep) {
    if (buf_.capacity() > keep && empty()) std::string().swap(buf_);
  }

 private:
  struct Extern {
    std::size_t at;                    // inserted before buf_[at]
    std::span<const std::byte> bytes;  // shared bytes (empty for a descriptor)
    int fd;                            // -1, or the descriptor sent with the bytes from here on
    std::shared_ptr<const void> owner;
  };
  void advance(std::size_t n, bool attached);

  std::string buf_;
  std::size_t off_ = 0;             // bytes of buf_ written
  std::deque<Extern> ext_;          // in stream order
  std::size_t ext_off_ = 0;         // bytes of ext_.front() written
  std::size_t shared_pending_ = 0;  // shared bytes not yet written
  std::size_t fds_ = 0;             // descriptors not yet sent
};

}  // namespace samering::broker
