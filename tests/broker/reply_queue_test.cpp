// The broker's ReplyQueue on a socketpair: inline bytes, shared spans and descriptors come out as
// one stream in the order they were queued, whatever the socket takes per write; each descriptor
// arrives with the first byte of the reply it was queued with; nothing is copied or duplicated.
#include "reply_queue.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "samering/unique_fd.hpp"

namespace {

using samering::UniqueFd;
using samering::broker::ReplyQueue;

struct Pair {
  UniqueFd a, b;
  explicit Pair(int sndbuf = 0) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) throw std::runtime_error("socketpair");
    a.reset(fds[0]);
    b.reset(fds[1]);
    if (sndbuf) ::setsockopt(a.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  }
};

// Reads what is there: bytes, and for each descriptor the stream range of the recvmsg it came
// with (a stream socket may return the bytes before the descriptor's write in the same recvmsg,
// never its own bytes without it).
struct Received {
  std::string bytes;
  struct Fd {
    std::size_t begin, end;
    int inode;
  };
  std::vector<Fd> fds;
  bool read_some(int fd) {
    char buf[4096];
    iovec iov{buf, sizeof buf};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n <= 0) return false;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_type != SCM_RIGHTS) continue;
      for (std::size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); ++i) {
        int got;
        std::memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
        struct stat st{};
        ::fstat(got, &st);
        fds.push_back({bytes.size(), bytes.size() + static_cast<std::size_t>(n), static_cast<int>(st.st_ino)});
        ::close(got);
      }
    }
    bytes.append(buf, static_cast<std::size_t>(n));
    return true;
  }
};

int inode_of(int fd) {
  struct stat st{};
  ::fstat(fd, &st);
  return static_cast<int>(st.st_ino);
}

TEST(ReplyQueue, InlineSharedAndDescriptorsComeOutInOrderThroughPartialWrites) {
  Pair p(4096);  // a small send buffer: many partial writes
  ReplyQueue q;
  const std::string big(300000, 'x');
  auto owner = std::make_shared<std::string>(big);
  const std::span<const std::byte> shared(reinterpret_cast<const std::byte*>(owner->data()), owner->size());
  UniqueFd f1(::open("/dev/null", O_RDONLY | O_CLOEXEC)), f2(::memfd_create("q", MFD_CLOEXEC));
  auto fd_owner = std::make_shared<int>(0);
  std::string expected;
  std::vector<std::pair<std::size_t, int>> expected_fds;
  auto inline_bytes = [&](const std::string& s) {
    q.buffer() += s;
    expected += s;
  };
  inline_bytes("head-1|");
  q.append_shared(shared, owner);
  expected += big;
  expected_fds.emplace_back(expected.size(), inode_of(f1.get()));
  q.attach_fd(f1.get(), fd_owner);
  inline_bytes("reply-with-fd-1|");
  q.append_shared(shared.subspan(0, 1000), owner);
  expected += big.substr(0, 1000);
  expected_fds.emplace_back(expected.size(), inode_of(f2.get()));
  q.attach_fd(f2.get(), fd_owner);
  inline_bytes("reply-with-fd-2|tail");
  EXPECT_EQ(q.bytes(), expected.size());
  EXPECT_EQ(q.descriptors(), 2u);
  EXPECT_EQ(owner.use_count(), 3);  // two queued spans share the bytes: no copy

  Received r;
  int writes = 0;
  for (int guard = 0; guard < 100000 && !q.empty(); ++guard) {
    int error = 0;
    bool progress = false;
    const auto w = q.write(p.a.get(), error, progress);
    ASSERT_NE(w, ReplyQueue::Write::kFailed) << std::strerror(error);
    ++writes;
    while (r.read_some(p.b.get())) {
    }
  }
  while (r.read_some(p.b.get())) {
  }
  EXPECT_TRUE(q.empty());
  EXPECT_GT(writes, 10) << "the small buffer should have forced partial writes";
  ASSERT_EQ(r.bytes.size(), expected.size());
  EXPECT_EQ(r.bytes, expected);
  ASSERT_EQ(r.fds.size(), expected_fds.size());
  for (std::size_t i = 0; i < r.fds.size(); ++i) {  // each descriptor arrives with the first byte of its reply
    EXPECT_EQ(r.fds[i].inode, expected_fds[i].second) << i;
    EXPECT_LE(r.fds[i].begin, expected_fds[i].first) << i;
    EXPECT_GT(r.fds[i].end, expected_fds[i].first) << i;
  }
  EXPECT_EQ(owner.use_count(), 1) << "written spans release their owner";
  EXPECT_EQ(fd_owner.use_count(), 1) << "sent descriptors release their owner";
  EXPECT_EQ(q.descriptors(), 0u);
}

TEST(ReplyQueue, WouldBlockKeepsEverythingAndClearReleasesIt) {
  Pair p(4096);
  ReplyQueue q;
  auto owner = std::make_shared<std::string>(1 << 20, 'y');
  q.buffer() = "h";
  q.append_shared({reinterpret_cast<const std::byte*>(owner->data()), owner->size()}, owner);
  int error = 0;
  bool progress = false;
  EXPECT_EQ(q.write(p.a.get(), error, progress), ReplyQueue::Write::kWouldBlock);  // nobody reads
  EXPECT_TRUE(progress);
  EXPECT_LT(q.bytes(), owner->size() + 1);
  EXPECT_GT(q.bytes(), 0u);
  q.clear();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(owner.use_count(), 1);
}

TEST(ReplyQueue, AClosedPeerIsAFailedWrite) {
  Pair p;
  p.b.reset();
  ReplyQueue q;
  q.buffer() = "anything";
  int error = 0;
  bool progress = false;
  EXPECT_EQ(q.write(p.a.get(), error, progress), ReplyQueue::Write::kFailed);
  EXPECT_EQ(error, EPIPE);
}

}  // namespace
