// ReplyQueue (reply_queue.hpp): the stream is buf_ with the extern spans and descriptors inserted
// at their offsets. Each sendmsg covers the stream from where writing stands up to the next
// descriptor (a descriptor must ride on the first byte of its own reply, so it starts a sendmsg).
#include "reply_queue.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace samering::broker {

namespace {
constexpr int kMaxIov = 64;
}

void ReplyQueue::append_shared(std::span<const std::byte> bytes, std::shared_ptr<const void> owner) {
  if (bytes.empty()) return;
  ext_.push_back({buf_.size(), bytes, -1, std::move(owner)});
  shared_pending_ += bytes.size();
}

void ReplyQueue::attach_fd(int fd, std::shared_ptr<const void> owner) {
  ext_.push_back({buf_.size(), {}, fd, std::move(owner)});
  ++fds_;
}

void ReplyQueue::clear() noexcept {
  buf_.clear();
  off_ = 0;
  ext_.clear();
  ext_off_ = 0;
  shared_pending_ = 0;
  fds_ = 0;
}

ReplyQueue::Write ReplyQueue::write(int socket_fd, int& error, bool& progress) {
  if (ext_.empty()) {  // the common case (every reply but RING_IMAGE): one span, one send
    while (off_ < buf_.size()) {
      const ssize_t n = ::send(socket_fd, buf_.data() + off_, buf_.size() - off_, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        progress = true;
        off_ += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Write::kWouldBlock;
      error = n < 0 ? errno : EPIPE;
      return Write::kFailed;
    }
    buf_.clear();
    off_ = 0;
    return Write::kDone;
  }
  while (!empty()) {
    iovec iov[kMaxIov];
    int n_iov = 0;
    std::size_t pos = off_, e = 0, e_off = ext_off_;
    int attach = -1;
    if (!ext_.empty() && ext_[0].at == off_ && ext_[0].fd >= 0) {
      attach = ext_[0].fd;
      e = 1;
    }
    while (n_iov < kMaxIov) {
      const std::size_t limit = e < ext_.size() ? ext_[e].at : buf_.size();
      if (limit > pos) {
        iov[n_iov++] = {buf_.data() + pos, limit - pos};
        pos = limit;
        continue;
      }
      if (e >= ext_.size() || ext_[e].fd >= 0) break;  // the end, or a descriptor: the next sendmsg
      iov[n_iov++] = {const_cast<std::byte*>(ext_[e].bytes.data()) + e_off, ext_[e].bytes.size() - e_off};
      e_off = 0;
      ++e;
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<std::size_t>(n_iov);
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
    const ssize_t n = ::sendmsg(socket_fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      progress = true;
      advance(static_cast<std::size_t>(n), attach >= 0);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Write::kWouldBlock;
    error = n < 0 ? errno : EPIPE;
    return Write::kFailed;
  }
  buf_.clear();
  off_ = 0;
  return Write::kDone;
}

void ReplyQueue::advance(std::size_t n, bool attached) {
  if (attached) {  // the descriptor went with the first of these bytes
    ext_.pop_front();
    --fds_;
  }
  while (n > 0) {
    if (!ext_.empty() && ext_[0].at == off_) {
      Extern& x = ext_[0];
      if (x.fd >= 0) break;  // unreachable: a descriptor ends the sendmsg before it
      const std::size_t take = std::min(n, x.bytes.size() - ext_off_);
      ext_off_ += take;
      shared_pending_ -= take;
      n -= take;
      if (ext_off_ == x.bytes.size()) {
        ext_.pop_front();
        ext_off_ = 0;
      }
    } else {
      const std::size_t limit = ext_.empty() ? buf_.size() : ext_[0].at;
      const std::size_t take = std::min(n, limit - off_);
      off_ += take;
      n -= take;
    }
  }
}

}  // namespace samering::broker
