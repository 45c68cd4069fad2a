// FrameDecoder: a socket-free state machine that turns a byte stream into broker frames
// (docs/protocol.md "Frames"), in the manner of hiredis's redisReaderFeed/GetReply. Feed it bytes
// in any split (one byte at a time is fine); ask it for the next frame. It knows nothing of
// sockets, so the unit tests and a fuzzer drive it directly.
//
//   FrameDecoder d(FrameDecoder::Side::kRequests, max_payload);
//   d.feed(bytes);                     // or: auto room = d.prepare(4096); n = read(fd, room); d.commit(n);
//   for (;;) {
//     DecodeResult r = d.next();
//     if (r.status == DecodeStatus::kNeedMore) break;
//     if (r.status == DecodeStatus::kFrame) handle(r.frame);
//     else if (r.fatal) { reply_error(r); close(); break; }   // the stream cannot be resynchronised
//     else reply_error(r);                                    // the frame was skipped; go on
//   }
//
// Errors: a header whose reserved bits are set (kBadHeader) or whose length exceeds the limit
// (kFrameTooLarge) is fatal: the decoder stays failed and returns the same error from then on.
// An unknown opcode (kUnknownOpcode) is recoverable: the whole frame is consumed first.
// Allocation: the buffer grows to hold one whole frame (≤ header + max_payload); nothing else.
// Thread safety: one decoder per stream, one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "protocol.hpp"

namespace samering::broker {

struct Frame {
  FrameHeader header;
  std::string_view payload;  // valid until the next feed(), prepare() or reset()
};

enum class DecodeStatus { kFrame, kNeedMore, kError };

struct DecodeResult {
  DecodeStatus status = DecodeStatus::kNeedMore;
  Frame frame;                              // kFrame
  ErrorCode error = ErrorCode::kOk;         // kError
  bool fatal = false;                       // kError: the stream is unusable from here on
  std::uint32_t id = 0;                     // kError: the id of the offending frame (0 if unknown)
  const char* reason = "";                  // kError: static text
};

class FrameDecoder {
 public:
  enum class Side { kRequests, kReplies };  // which opcodes are known

  FrameDecoder(Side side, std::uint32_t max_payload) : side_(side), max_payload_(max_payload) {}
  FrameDecoder(const FrameDecoder&) = delete;
  FrameDecoder& operator=(const FrameDecoder&) = delete;

  // Copies bytes in.
  void feed(std::string_view bytes);
  // Room for at least `min` more bytes (more when a partly received frame needs it), to be
  // filled by a read and then commit()ed. Invalidates payload views of earlier frames.
  std::span<char> prepare(std::size_t min);
  void commit(std::size_t n);

  DecodeResult next();

  std::size_t buffered() const { return end_ - begin_; }
  bool failed() const { return failed_; }
  // Forgets every byte and a failure (after a reconnect).
  void reset();
  // Frees a buffer grown past `keep` bytes when nothing is buffered.
  void shrink(std::size_t keep);

 private:
  void reserve_tail(std::size_t n);

  Side side_;
  std::uint32_t max_payload_;
  std::unique_ptr<char[]> buf_;
  std::size_t cap_ = 0, begin_ = 0, end_ = 0;
  std::size_t want_ = 0;  // bytes the frame at begin_ needs in total (0 = unknown yet)
  bool failed_ = false;
  DecodeResult failure_;
};

}  // namespace samering::broker
