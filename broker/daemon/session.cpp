#include "session.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

Session::~Session() {
  for (auto& a : fds_) ::close(a.fd);
}

void Session::start() {
  boost::system::error_code ec;
  socket_.non_blocking(true, ec);
  read();
}

// Wait for readability, then read once, instead of async_read_some. Boost 1.74's reactor starts
// every read on a stream socket with a speculative recv (a successful read never clears
// try_speculative_), and a speculative read that finds the next request completes ahead of every
// connection the next epoll_wait reports. A client on the broker's vCPU preempts the broker when
// its reply is sent and has its next request queued by the time that read runs, so it was served
// over and over while the others waited. perf record of the syscalls, 1,000 clients: a connection
// read in a loop turn was read again in that turn 9.4% of the time, the gap between two reads of
// one connection was p10 133 / p50 399 / p90 2,127 other reads (raw epoll server: 999 throughout),
// 0.56 failed recv (EAGAIN) per request; p50 fell and p99 rose. Now each connection is read once
// per turn in readiness order (gap p1 976 / p99 1,014). Each wait costs an epoll_ctl instead (Asio
// re-arms the edge-triggered registration), ~0.37 µs here, about what the failed recvs cost.
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
  last_active_ = Clock::now();
  process();
  if (flush())
    after_write();
  else
    wait_writable();
}

void Session::after_write() {
  if (closed_) return;
  if (closing_ || server_.stopping()) {
    close();
    return;
  }
  if (out_.capacity() > kKeepBuffer) std::string().swap(out_);
  decoder_.shrink(kKeepBuffer);
  read();
}

void Session::wait_writable() {
  writing_ = true;
  socket_.async_wait(SessionSocket::wait_write,
                     [self = shared_from_this()](const boost::system::error_code& ec) {
                       self->writing_ = false;
                       if (self->closed_) return;
                       if (ec) {
                         self->close();
                         return;
                       }
                       if (self->flush())
                         self->after_write();
                       else
                         self->wait_writable();
                     });
}

bool Session::flush() {
  const int fd = socket_.native_handle();
  while (out_off_ < out_.size()) {
    std::size_t end = out_.size();
    int attach = -1;
    if (!fds_.empty()) {
      if (fds_.front().offset <= out_off_) {
        attach = fds_.front().fd;
        if (fds_.size() > 1) end = fds_[1].offset;
      } else {
        end = fds_.front().offset;
      }
    }
    iovec iov{out_.data() + out_off_, end - out_off_};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    if (attach >= 0) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &attach, sizeof attach);
    }
    const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      if (attach >= 0) {  // the descriptor went with these bytes
        ::close(attach);
        fds_.pop_front();
      }
      out_off_ += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
    close();  // EPIPE, ECONNRESET: the client is gone
    return false;
  }
  out_.clear();
  out_off_ = 0;
  return true;
}

void Session::close() {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ignored;
  socket_.close(ignored);
  for (auto& a : fds_) ::close(a.fd);
  fds_.clear();
  server_.remove(shared_from_this());
}

void Session::close_with(ErrorCode code, std::string_view message) {
  if (closed_) return;
  reply_error(0, code, message);
  flush();
  close();
}

void Session::reply_error(std::uint32_t id, ErrorCode code, std::string_view message) {
  ++server_.stats().errors[static_cast<std::size_t>(code) < kErrorCodeCount ? static_cast<std::size_t>(code) : 0];
  Encoder e(out_);
  encode_error(e, id, code, message);
}

void Session::process() {
  for (;;) {
    const DecodeResult r = decoder_.next();
    if (r.status == DecodeStatus::kNeedMore) break;
    if (r.status == DecodeStatus::kError) {
      reply_error(r.id, r.error, r.reason);
      if (r.fatal) {
        closing_ = true;
        break;
      }
      continue;
    }
    ++server_.stats().requests;
    handle(r.frame);
    if (closing_) break;
  }
}

RingEntry* Session::ring_or_error(std::uint32_t id, std::string_view name) {
  RingEntry* ring = server_.rings().find(name);
  if (!ring) reply_error(id, ErrorCode::kNoSuchRing, "no ring named \"" + std::string(name) + "\"");
  return ring;
}

void Session::handle(const Frame& f) {
  const std::uint32_t id = f.header.id;
  const auto op = static_cast<Opcode>(f.header.opcode);
  Encoder e(out_);
  if (!hello_ && op != Opcode::kHello) {
    reply_error(id, ErrorCode::kHandshakeRequired, "the first frame must be HELLO");
    closing_ = true;
    return;
  }
  const std::uint8_t allowed_flags = op == Opcode::kRingImage ? kFlagImageFd : 0;
  if (f.header.flags & ~allowed_flags) {
    reply_error(id, ErrorCode::kBadFrame, "unknown flags for this opcode");
    return;
  }
  switch (op) {
    case Opcode::kHello: {
      HelloRequest req;
      if (auto err = parse_hello(f.payload, req)) {
        reply_error(id, err.code, err.reason);
        closing_ = true;  // a failed handshake leaves nothing to talk about
        return;
      }
      if (req.min_version > kProtocolVersion || req.max_version < kProtocolVersion) {
        reply_error(id, ErrorCode::kVersionUnsupported,
                    "this broker speaks protocol version " + std::to_string(kProtocolVersion) + " only");
        closing_ = true;
        return;
      }
      hello_ = true;
      encode_hello_reply(e, id,
                         {kProtocolVersion, server_.config().max_frame, server_.config().max_keys,
                          static_cast<std::uint32_t>(::getpid())});
      return;
    }
    case Opcode::kPing:
      e.begin(reply_opcode(Opcode::kPing), id);
      e.bytes(f.payload);
      e.finish();
      return;
    case Opcode::kPick: {
      PickRequest req;
      if (auto err = parse_pick(f.payload, req)) return reply_error(id, err.code, err.reason);
      RingEntry* ring = ring_or_error(id, req.ring);
      if (!ring) return;
      ++ring->requests;
      ++ring->picks;
      ++server_.stats().picks;
      const std::int32_t i = ring->ring->pick(req.key);
      encode_pick_reply(e, id, ring->generation, i, i >= 0 ? ring->addresses[static_cast<std::size_t>(i)] : "");
      return;
    }
    case Opcode::kPickMany: {
      std::string_view name;
      if (auto err = parse_pick_many(f.payload, server_.config().max_keys, name, keys_))
        return reply_error(id, err.code, err.reason);
      RingEntry* ring = ring_or_error(id, name);
      if (!ring) return;
      indices_.resize(keys_.size());
      ring->ring->pick_many(keys_.data(), keys_.size(), indices_.data());
      ++ring->requests;
      ring->picks += keys_.size();
      server_.stats().picks += keys_.size();
      encode_pick_many_reply(e, id, ring->generation, indices_.data(), indices_.size());
      return;
    }
    case Opcode::kRingInfo: {
      RingRequest req;
      if (auto err = parse_ring_request(f.payload, false, req)) return reply_error(id, err.code, err.reason);
      RingEntry* ring = ring_or_error(id, req.ring);
      if (!ring) return;
      ++ring->requests;
      encode_ring_info_reply(e, id, ring->generation, *ring->ring);
      return;
    }
    case Opcode::kRingImage: {
      RingRequest req;
      if (auto err = parse_ring_request(f.payload, false, req)) return reply_error(id, err.code, err.reason);
      RingEntry* ring = ring_or_error(id, req.ring);
      if (!ring) return;
      ++ring->requests;
      const auto image = ring->ring->image();
      if (f.header.flags & kFlagImageFd) {
        const int fd = ::fcntl(ring->image_fd, F_DUPFD_CLOEXEC, 0);
        if (fd < 0) return reply_error(id, ErrorCode::kUnavailable, std::string("dup: ") + std::strerror(errno));
        fds_.push_back({out_.size(), fd});
        encode_ring_image_reply(e, id, ring->generation, image.size(), {});
      } else {
        encode_ring_image_reply(e, id, ring->generation, image.size(),
                                {reinterpret_cast<const char*>(image.data()), image.size()});
      }
      return;
    }
    case Opcode::kStats:
      if (!f.payload.empty()) return reply_error(id, ErrorCode::kBadFrame, "STATS takes no payload");
      e.begin(reply_opcode(Opcode::kStats), id);
      e.bytes(server_.stats_json());
      e.finish();
      return;
    case Opcode::kReload: {
      RingRequest req;
      if (auto err = parse_ring_request(f.payload, true, req)) return reply_error(id, err.code, err.reason);
      if (peer_.uid != ::geteuid() && peer_.uid != 0)
        return reply_error(id, ErrorCode::kPermissionDenied,
                           "RELOAD is allowed only to uid " + std::to_string(::geteuid()) + " and root, not uid " +
                               std::to_string(peer_.uid));
      const auto report = server_.reload(req.ring, "RELOAD from pid " + std::to_string(peer_.pid) + " uid " +
                                                       std::to_string(peer_.uid));
      if (report.code != ErrorCode::kOk) return reply_error(id, report.code, report.error);
      e.begin(reply_opcode(Opcode::kReload), id);
      e.bytes(report.json);
      e.finish();
      return;
    }
    case Opcode::kError:
      break;
  }
  reply_error(id, ErrorCode::kUnknownOpcode, "unknown opcode");  // unreachable: the decoder filters
}

}  // namespace samering::broker
