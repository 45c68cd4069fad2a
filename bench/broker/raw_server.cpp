// raw_server — the floor for broker benchmarks: a minimal single-threaded epoll (level-triggered)
// server on the same socket type that answers every frame of the broker protocol with a canned,
// well-formed reply of the same size as samering-broker's (HELLO → HELLO reply, anything else →
// a PICK reply for generation 1, index 0, "127.0.0.1:21000"). No parsing beyond the frame length,
// no pick, no buffers beyond one read: what any server on this socket must at least pay.
//   raw_server SOCKET_PATH
#include <fcntl.h>
#include <csignal>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <unordered_map>

#include "protocol.hpp"

namespace proto = samering::broker;

namespace {
volatile sig_atomic_t stop = 0;
void on_term(int) { stop = 1; }
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: raw_server SOCKET_PATH\n");
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGTERM, on_term);
  std::signal(SIGINT, on_term);
  const int lfd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, argv[1], sizeof a.sun_path - 1);
  ::unlink(argv[1]);
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(lfd, 4096) != 0) {
    std::perror("bind/listen");
    return 1;
  }
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{EPOLLIN, {.fd = lfd}};
  ::epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  struct Conn {
    std::string in;
  };
  std::unordered_map<int, Conn> conns;
  std::string out;
  epoll_event events[256];
  char buf[65536];
  while (!stop) {
    const int n = ::epoll_wait(ep, events, 256, 200);
    for (int e = 0; e < n; ++e) {
      const int fd = events[e].data.fd;
      if (fd == lfd) {
        for (;;) {
          const int c = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          epoll_event cev{EPOLLIN, {.fd = c}};
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
          conns[c];
        }
        continue;
      }
      const ssize_t r = ::read(fd, buf, sizeof buf);
      if (r <= 0) {
        ::close(fd);
        conns.erase(fd);
        continue;
      }
      Conn& conn = conns[fd];
      conn.in.append(buf, static_cast<std::size_t>(r));
      out.clear();
      std::size_t at = 0;
      while (conn.in.size() - at >= proto::kHeaderSize) {
        const proto::FrameHeader h = proto::read_header(conn.in.data() + at);
        if (conn.in.size() - at < proto::kHeaderSize + h.length) break;
        at += proto::kHeaderSize + h.length;
        proto::Encoder enc(out);
        if (h.opcode == static_cast<std::uint8_t>(proto::Opcode::kHello))
          proto::encode_hello_reply(enc, h.id, {1, proto::kDefaultMaxFrame, proto::kDefaultMaxKeys, 0, {}});
        else
          proto::encode_pick_reply(enc, h.id, 1, 0, "127.0.0.1:21000");
      }
      conn.in.erase(0, at);
      if (!out.empty()) {
        std::size_t off = 0;
        while (off < out.size()) {  // tiny replies: the socket buffer takes them
          const ssize_t w = ::send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
          if (w <= 0) break;
          off += static_cast<std::size_t>(w);
        }
      }
    }
  }
  ::unlink(argv[1]);
  return 0;
}
