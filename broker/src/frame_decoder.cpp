// FrameDecoder (frame_decoder.hpp): header checks, then whole frames out of a growing buffer.
#include "frame_decoder.hpp"

#include <algorithm>
#include <cstring>

namespace samering::broker {

void FrameDecoder::reserve_tail(std::size_t n) {
  if (cap_ - end_ >= n) return;
  // Move the unread bytes to the front first; grow only if that is not enough.
  if (begin_ > 0) {
    std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    if (cap_ - end_ >= n) return;
  }
  std::size_t cap = std::max<std::size_t>(cap_ ? cap_ * 2 : 4096, end_ + n);
  auto grown = std::make_unique<char[]>(cap);
  if (end_) std::memcpy(grown.get(), buf_.get(), end_);
  buf_ = std::move(grown);
  cap_ = cap;
}

void FrameDecoder::feed(std::string_view bytes) {
  if (bytes.empty()) return;
  reserve_tail(bytes.size());
  std::memcpy(buf_.get() + end_, bytes.data(), bytes.size());
  end_ += bytes.size();
}

std::span<char> FrameDecoder::prepare(std::size_t min) {
  // A partly received frame gets room for all of it, so a large frame arrives in few reads.
  std::size_t need = min;
  if (want_ > buffered()) need = std::max(need, want_ - buffered());
  reserve_tail(need);
  return {buf_.get() + end_, cap_ - end_};
}

void FrameDecoder::commit(std::size_t n) { end_ += std::min(n, cap_ - end_); }

void FrameDecoder::reset() {
  begin_ = end_ = want_ = 0;
  failed_ = false;
  failure_ = {};
}

void FrameDecoder::shrink(std::size_t keep) {
  if (buffered() == 0 && cap_ > keep) {
    buf_.reset();
    cap_ = begin_ = end_ = 0;
  }
}

DecodeResult FrameDecoder::next() {
  if (failed_) return failure_;
  const std::size_t have = end_ - begin_;
  if (have < kHeaderSize) {
    if (have == 0) begin_ = end_ = 0;  // cheap compaction: nothing to move
    want_ = 0;
    return {};
  }
  const char* p = buf_.get() + begin_;
  const FrameHeader h = read_header(p);
  const auto fail = [&](ErrorCode code, const char* reason) {
    failed_ = true;
    failure_ = DecodeResult{DecodeStatus::kError, {}, code, true, h.id, reason};
    return failure_;
  };
  if (h.reserved != 0) return fail(ErrorCode::kBadHeader, "reserved header bytes are not zero (not a samering frame)");
  if (h.length > max_payload_) return fail(ErrorCode::kFrameTooLarge, "frame length exceeds the limit");
  const std::size_t total = kHeaderSize + std::size_t{h.length};
  if (have < total) {
    want_ = total;
    return {};
  }
  want_ = 0;
  begin_ += total;
  const bool known = side_ == Side::kRequests ? is_request_opcode(h.opcode) : is_reply_opcode(h.opcode);
  if (!known) {
    DecodeResult r;
    r.status = DecodeStatus::kError;
    r.error = ErrorCode::kUnknownOpcode;
    r.id = h.id;
    r.reason = "unknown opcode";
    return r;
  }
  DecodeResult r;
  r.status = DecodeStatus::kFrame;
  r.frame.header = h;
  r.frame.payload = std::string_view(p + kHeaderSize, h.length);
  return r;
}

}  // namespace samering::broker
