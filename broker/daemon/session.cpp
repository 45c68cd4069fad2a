#include "session.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>

#include "log.hpp"

namespace samering::broker {

namespace {
constexpr std::size_t kReadChunk = 16384;
constexpr std::size_t kKeepBuffer = 1 << 20;  // shrink buffers grown past this once drained
}  // namespace

Session::Session(Server& server, SessionSocket socket, const ucred& peer)
    : server_(server),
      socket_(std::move(socket)),
      decoder_(FrameDecoder::Side::kRequests, server.config().max_frame),
      peer_(peer) {}

void Session::start() {
  boost::system::error_code ec;
  socket_.non_blocking(true, ec);
  read();
}

// Wait for readability, then read once (not async_read_some: docs/design-notes.md).
void Session::read() {
  socket_.async_wait(SessionSocket::wait_read,
                     [self = shared_from_this()](const boost::system::error_code& ec) { self->on_readable(ec); });
}

void Session::on_readable(const boost::system::error_code& ec) {
  if (closed_) return;
  if (ec) {  // cancelled, or the descriptor failed
    close();
    return;
  }
  const bool frame_begins = decoder_.buffered() == 0;
  auto room = decoder_.prepare(kReadChunk);
  const ssize_t n = ::recv(socket_.native_handle(), room.data(), room.size(), MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    read();
    return;
  }
  if (n <= 0) {  // EOF or reset
    close();
    return;
  }
  decoder_.commit(static_cast<std::size_t>(n));
  const auto now = Clock::now();
  if (frame_begins) last_progress_ = now;  // bytes that continue an unfinished frame are no progress
  serve(now);
}

void Session::serve(Clock::time_point now) {
  for (;;) {
    const Stop stop = answer_frames(now);
    if (!write()) {
      if (!closed_) wait_writable();
      return;
    }
    if (stop != Stop::kBound) break;  // at a bound: the queue is written, answer the next frames
  }
  if (closing_ || server_.stopping()) {
    close();
    return;
  }
  out_.shrink(kKeepBuffer);
  decoder_.shrink(kKeepBuffer);
  read();
}

Session::Stop Session::answer_frames(Clock::time_point now) {
  // The queue is empty here (serve answers only after a complete write): `replies` counts it.
  std::size_t replies = 0;
  for (;;) {
    if (closing_) return Stop::kClosing;
    if (replies >= kMaxQueuedReplies || out_.bytes() >= kMaxQueuedBytes || out_.descriptors() >= kMaxQueuedDescriptors)
      return Stop::kBound;
    const DecodeResult r = decoder_.next();
    if (r.status == DecodeStatus::kNeedMore) return Stop::kNeedMore;
    if (replies++ == 0) last_progress_ = now;
    if (r.status == DecodeStatus::kError) {
      if (version_ == 0 && !r.fatal)  // an unknown opcode as the first frame
        reply_error(r.id, ErrorCode::kHandshakeRequired, "the first frame must be HELLO");
      else
        reply_error(r.id, r.error, r.reason, r.fatal);
      continue;
    }
    ++server_.stats().requests;
    handle(r.frame);
  }
}

bool Session::write() {
  int error = 0;
  bool progress = false;
  switch (out_.write(socket_.native_handle(), error, progress)) {
    case ReplyQueue::Write::kDone:
      return true;
    case ReplyQueue::Write::kWouldBlock:
      return false;
    case ReplyQueue::Write::kFailed:
      break;
  }
  close();  // EPIPE, ECONNRESET, ETOOMANYREFS: the client is gone or hoards descriptors
  return false;
}

void Session::wait_writable() {
  writing_ = true;
  socket_.async_wait(SessionSocket::wait_write,
                     [self = shared_from_this()](const boost::system::error_code& ec) { self->on_writable(ec); });
}

void Session::on_writable(const boost::system::error_code& ec) {
  writing_ = false;
  if (closed_) return;
  if (ec) {
    close();
    return;
  }
  int error = 0;
  bool progress = false;
  const ReplyQueue::Write w = out_.write(socket_.native_handle(), error, progress);
  const auto now = Clock::now();
  if (progress) last_progress_ = now;
  if (w == ReplyQueue::Write::kFailed) {
    close();
  } else if (w == ReplyQueue::Write::kWouldBlock) {
    wait_writable();
  } else {
    serve(now);  // frames left unanswered at a bound first, then the socket
  }
}

void Session::close() {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ignored;
  socket_.close(ignored);
  out_.clear();
  server_.remove(shared_from_this());
}

void Session::close_with(ErrorCode code, std::string_view message) {
  if (closed_) return;
  reply_error(0, code, message, true);
  int error = 0;
  bool progress = false;
  out_.write(socket_.native_handle(), error, progress);
  close();
}

void Session::reply_error(std::uint32_t id, ErrorCode code, std::string_view message, bool fatal) {
  ++server_.stats().errors[static_cast<std::size_t>(code)];  // codes are dense below kErrorCodeCount
  Encoder e(out_.buffer());
  encode_error(e, id, code, message, fatal);
  if (fatal) closing_ = true;
}

RingEntry* Session::ring_or_error(std::uint32_t id, std::string_view name) {
  RingEntry* ring = server_.rings().find(name);
  if (!ring) reply_error(id, ErrorCode::kNoSuchRing, fmt::format("no ring named \"{}\"", name));
  return ring;
}

void Session::handle(const Frame& f) {
  const auto op = static_cast<Opcode>(f.header.opcode);
  if (version_ == 0 && op != Opcode::kHello)
    return reply_error(f.header.id, ErrorCode::kHandshakeRequired, "the first frame must be HELLO");
  if (op != Opcode::kHello) {  // HELLO's flags are negotiate_hello's to refuse (fatally)
    const std::uint8_t allowed_flags = op == Opcode::kRingImage ? kFlagImageFd : 0;
    if (f.header.flags & ~allowed_flags)
      return reply_error(f.header.id, ErrorCode::kBadFrame, "unknown flags for this opcode");
  }
  try {
    switch (op) {
      case Opcode::kHello:
        return on_hello(f);
      case Opcode::kPing:
        return on_ping(f);
      case Opcode::kPick:
        return on_pick(f);
      case Opcode::kPickMany:
        return on_pick_many(f);
      case Opcode::kRingInfo:
        return on_ring_info(f);
      case Opcode::kRingImage:
        return on_ring_image(f);
      case Opcode::kStats:
        return on_stats(f);
      case Opcode::kReload:
        return on_reload(f);
      case Opcode::kError:
        break;
    }
    reply_error(f.header.id, ErrorCode::kUnknownOpcode, "unknown opcode");  // unreachable: the decoder filters
  } catch (const std::exception& e) {
    // Nothing a client sends may end the broker (an allocation failure, a JSON error in STATS).
    log_error(fmt::format("{} from pid {}: {}", opcode_name(f.header.opcode), peer_.pid, e.what()));
    reply_error(f.header.id, ErrorCode::kInternal, e.what());
  }
}

void Session::on_hello(const Frame& f) {
  const HelloOutcome h = negotiate_hello(f.header.flags, f.payload);
  if (h.error != ErrorCode::kOk) return reply_error(f.header.id, h.error, h.reason, true);
  version_ = h.version;
  const Config& c = server_.config();
  Encoder e(out_.buffer());
  encode_hello_reply(e, f.header.id, {version_, c.max_frame, c.max_keys, server_.pid(), c.shm_dir});
}

void Session::on_ping(const Frame& f) {
  Encoder e(out_.buffer());
  e.begin(reply_opcode(Opcode::kPing), f.header.id);
  e.bytes(f.payload);
  e.finish();
}

void Session::on_pick(const Frame& f) {
  PickRequest req;
  if (auto err = parse_pick(f.payload, req)) return reply_error(f.header.id, err.code, err.reason);
  RingEntry* ring = ring_or_error(f.header.id, req.ring);
  if (!ring) return;
  ++ring->requests;
  ++ring->picks;
  ++server_.stats().picks;
  const std::int32_t i = ring->ring->pick(req.key);
  Encoder e(out_.buffer());
  encode_pick_reply(e, f.header.id, ring->generation, i, i >= 0 ? ring->addresses[static_cast<std::size_t>(i)] : "");
}

void Session::on_pick_many(const Frame& f) {
  std::string_view name;
  if (auto err = parse_pick_many(f.payload, server_.config().max_keys, name, keys_))
    return reply_error(f.header.id, err.code, err.reason);
  RingEntry* ring = ring_or_error(f.header.id, name);
  if (!ring) return;
  indices_.resize(keys_.size());
  ring->ring->pick_many(keys_.data(), keys_.size(), indices_.data());
  ++ring->requests;
  ring->picks += keys_.size();
  server_.stats().picks += keys_.size();
  Encoder e(out_.buffer());
  encode_pick_many_reply(e, f.header.id, ring->generation, indices_.data(), indices_.size());
}

void Session::on_ring_info(const Frame& f) {
  RingRequest req;
  if (auto err = parse_ring_request(f.payload, false, req)) return reply_error(f.header.id, err.code, err.reason);
  RingEntry* ring = ring_or_error(f.header.id, req.ring);
  if (!ring) return;
  ++ring->requests;
  Encoder e(out_.buffer());
  encode_ring_info_reply(e, f.header.id, ring->generation, *ring->ring);
}

void Session::on_ring_image(const Frame& f) {
  RingRequest req;
  if (auto err = parse_ring_request(f.payload, false, req)) return reply_error(f.header.id, err.code, err.reason);
  RingEntry* ring = ring_or_error(f.header.id, req.ring);
  if (!ring) return;
  ++ring->requests;
  const auto image = ring->ring->image();
  Encoder e(out_.buffer());
  if (f.header.flags & kFlagImageFd) {
    // The ring's own sealed memfd, shared by every queued reply (no dup: a client that does not
    // read costs no descriptor of its own); the kernel gives the client its own copy.
    out_.attach_fd(ring->image_fd->get(), ring->image_fd);
    encode_ring_image_reply_head(e, f.header.id, ring->generation, image.size(), false);
  } else {
    encode_ring_image_reply_head(e, f.header.id, ring->generation, image.size(), true);
    out_.append_shared(image, ring->ring);  // written from the ring's bytes, not copied
  }
}

void Session::on_stats(const Frame& f) {
  if (!f.payload.empty()) return reply_error(f.header.id, ErrorCode::kBadFrame, "STATS takes no payload");
  const std::string json = server_.stats_json();
  Encoder e(out_.buffer());
  e.begin(reply_opcode(Opcode::kStats), f.header.id);
  e.bytes(json);
  e.finish();
}

void Session::on_reload(const Frame& f) {
  RingRequest req;
  if (auto err = parse_ring_request(f.payload, true, req)) return reply_error(f.header.id, err.code, err.reason);
  const uid_t self = ::geteuid();
  if (peer_.uid != self && peer_.uid != 0)
    return reply_error(f.header.id, ErrorCode::kPermissionDenied,
                       fmt::format("RELOAD is allowed only to uid {} and root, not uid {}", self, peer_.uid));
  const auto report = server_.reload(req.ring, fmt::format("RELOAD from pid {} uid {}", peer_.pid, peer_.uid));
  if (report.code != ErrorCode::kOk) return reply_error(f.header.id, report.code, report.error);
  Encoder e(out_.buffer());
  e.begin(reply_opcode(Opcode::kReload), f.header.id);
  e.bytes(report.json);
  e.finish();
}

}  // namespace samering::broker
