// broker::Connection (connection.hpp).
#include "connection.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include <fmt/format.h>

namespace samering::broker {

namespace {

std::string errno_text(int e) { return std::strerror(e); }

// A broken connection inside exchange(): caught there, then retried or reported.
struct Broken {
  int error;
};

}  // namespace

Connection::Connection(std::string path, int timeout_ms) : path_(std::move(path)), timeout_ms_(timeout_ms) {}

Connection::~Connection() { drop(); }

void Connection::drop() noexcept {
  // close(), never shutdown(): in a forked child the descriptor shares its socket with the
  // parent, and shutdown() would end the parent's connection too.
  fd_.reset();
  fresh_ = false;
  decoder_.reset();
  decoder_.shrink(1 << 16);
}

void Connection::fail(BrokerError::Kind kind, const std::string& what) {
  drop();
  throw BrokerError(kind, "samering broker " + path_ + ": " + what);
}

void Connection::open() {
  if (path_.size() >= sizeof(sockaddr_un{}.sun_path))
    throw BrokerError(BrokerError::Kind::kConnect, "samering broker " + path_ + ": socket path too long");
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw BrokerError(BrokerError::Kind::kConnect, "samering broker " + path_ + ": socket: " + errno_text(errno));
  if (timeout_ms_ > 0) {
    timeval tv{timeout_ms_ / 1000, (timeout_ms_ % 1000) * 1000};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);  // also bounds connect() on a full backlog
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path_.data(), path_.size());
  int rc;
  do {
    rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) throw BrokerError(BrokerError::Kind::kConnect, "samering broker " + path_ + ": connect: " + errno_text(errno));
  ucred peer{};
  socklen_t len = sizeof peer;
  peer_uid_ = ::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &peer, &len) == 0 ? peer.uid : static_cast<uid_t>(-1);
  fd_ = std::move(fd);
  pid_ = ::getpid();
  decoder_.reset();
  // The handshake travels with the first request: no extra round trip.
  hello_id_ = next_id();
  Encoder e(out_);
  encode_hello(e, hello_id_);
  fresh_ = true;
}

void Connection::begin_batch() {
  if (fd_ && pid_ != ::getpid()) drop();  // forked child: drop the parent's connection unused
  out_.clear();
  if (!fd_) open();
}

void Connection::send_all() {
  std::size_t off = 0;
  while (off < out_.size()) {
    const ssize_t n = ::send(fd_.get(), out_.data() + off, out_.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    const int e = errno;
    if (e == EAGAIN || e == EWOULDBLOCK) fail(BrokerError::Kind::kTimeout, "send timed out");
    throw Broken{e};
  }
}

std::size_t Connection::read_some(int* received_fd) {
  for (;;) {
    const auto room = decoder_.prepare(16384);
    ssize_t n;
    if (received_fd) {
      iovec iov{room.data(), room.size()};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      n = ::recvmsg(fd_.get(), &msg, MSG_CMSG_CLOEXEC);
      if (n > 0) {
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
          if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
          const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
          for (std::size_t i = 0; i < count; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (*received_fd < 0)
              *received_fd = fd;
            else
              UniqueFd{fd}.reset();  // one descriptor per reply: drop any other
          }
        }
      }
    } else {
      n = ::recv(fd_.get(), room.data(), room.size(), 0);
    }
    if (n > 0) {
      decoder_.commit(static_cast<std::size_t>(n));
      return static_cast<std::size_t>(n);
    }
    if (n == 0) throw Broken{ECONNRESET};  // the broker closed the connection
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) fail(BrokerError::Kind::kTimeout, "no reply within the timeout");
    throw Broken{errno};
  }
}

void Connection::salvage_refusal() {
  for (int i = 0; i < 16 && fd_; ++i) {
    const DecodeResult r = decoder_.next();
    if (r.status == DecodeStatus::kFrame) {
      if (r.frame.header.opcode != static_cast<std::uint8_t>(Opcode::kError)) continue;
      ErrorReply er;
      if (parse_error_reply(r.frame.payload, er)) return;
      const auto kind = er.code == ErrorCode::kTooManyConnections ? BrokerError::Kind::kConnect
                                                                   : BrokerError::Kind::kBroker;
      BrokerError err(kind, "samering broker " + path_ + ": " + error_name(er.code) + ": " + std::string(er.message),
                      static_cast<int>(er.code));
      drop();
      throw err;
    }
    if (r.status == DecodeStatus::kError) return;
    const auto room = decoder_.prepare(4096);
    const ssize_t n = ::recv(fd_.get(), room.data(), room.size(), MSG_DONTWAIT);
    if (n <= 0) return;
    decoder_.commit(static_cast<std::size_t>(n));
  }
}

void Connection::exchange(std::size_t count, std::uint32_t first_id, const ReplyHandler& on_reply, int* received_fd) {
  // The requests of this batch, kept for a resend on a new connection.
  const bool had_hello = fresh_;
  std::size_t requests_at = 0;
  if (had_hello) {
    requests_at = kHeaderSize + 8;  // HELLO frame
  }
  for (int attempt = 0;; ++attempt) {
    const bool fresh = fresh_;
    std::size_t replies = 0;
    std::optional<BrokerError> deferred;
    try {
      send_all();
      bool hello_pending = fresh;
      while (replies < count) {
        DecodeResult r = decoder_.next();
        if (r.status == DecodeStatus::kNeedMore) {
          read_some(received_fd);
          continue;
        }
        if (r.status == DecodeStatus::kError)
          fail(BrokerError::Kind::kProtocol, std::string("malformed reply: ") + r.reason);
        const Frame& f = r.frame;
        if (f.header.opcode == static_cast<std::uint8_t>(Opcode::kError)) {
          ErrorReply er;
          if (parse_error_reply(f.payload, er)) fail(BrokerError::Kind::kProtocol, "malformed error reply");
          const auto kind = er.code == ErrorCode::kTooManyConnections ? BrokerError::Kind::kConnect
                                                                       : BrokerError::Kind::kBroker;
          BrokerError err(kind, "samering broker " + path_ + ": " + error_name(er.code) + ": " + std::string(er.message),
                          static_cast<int>(er.code));
          // A fatal error that answers nothing of ours (idle timeout, shutdown) arrived on a
          // connection the broker has since closed: that is a lost connection, retried below.
          if (er.fatal && f.header.id == 0 && replies == 0 && !fresh) throw Broken{ECONNRESET};
          if (er.fatal || (hello_pending && f.header.id == hello_id_)) {
            drop();
            throw err;
          }
          if (!deferred) deferred = err;
          if (f.header.id != first_id + replies) fail(BrokerError::Kind::kProtocol, "reply id out of order");
          ++replies;
          continue;
        }
        if (hello_pending) {
          if (f.header.id != hello_id_ || f.header.opcode != reply_opcode(Opcode::kHello))
            fail(BrokerError::Kind::kProtocol, "first reply is not the HELLO reply");
          if (parse_hello_reply(f.payload, hello_)) fail(BrokerError::Kind::kProtocol, "malformed HELLO reply");
          if (hello_.version < kMinProtocolVersion || hello_.version > kProtocolVersion)
            fail(BrokerError::Kind::kProtocol, fmt::format("broker chose protocol version {}, outside the [{}, {}] asked",
                                                           hello_.version, kMinProtocolVersion, kProtocolVersion));
          hello_pending = false;
          fresh_ = false;
          continue;
        }
        if (f.header.id != first_id + replies)
          fail(BrokerError::Kind::kProtocol, "reply id " + std::to_string(f.header.id) + ", expected " +
                                                 std::to_string(first_id + replies) + " (cross-talk?)");
        on_reply(f, replies);
        ++replies;
      }
    } catch (const Broken& broken) {
      const int e = broken.error;
      if (fresh && replies == 0) {
        // Refused right after connect (e.g. too_many_connections): the broker's error frame may
        // still be waiting in our receive buffer; report it rather than a bare EPIPE.
        salvage_refusal();
        drop();
        throw BrokerError(BrokerError::Kind::kConnect,
                          "samering broker " + path_ + ": connection closed during the handshake: " + errno_text(e));
      }
      // The connection broke. A connection that had answered before may simply have been closed
      // by the broker (idle timeout, restart): reopen once and send the batch again.
      drop();
      if (attempt == 0 && replies == 0 && !fresh) {
        std::string requests = out_.substr(requests_at);
        out_.clear();
        open();  // queues a new HELLO into out_
        out_ += requests;
        requests_at = out_.size() - requests.size();
        continue;
      }
      if (e == ECONNRESET && replies < count)
        throw BrokerError(BrokerError::Kind::kIo, "samering broker " + path_ + ": connection closed by the broker");
      throw BrokerError(BrokerError::Kind::kIo, "samering broker " + path_ + ": " + errno_text(e));
    }
    if (deferred) throw *deferred;
    return;
  }
}

}  // namespace samering::broker
