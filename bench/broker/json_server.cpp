// json_server — "the old way" for contrast: a new connection per pick and a JSON request and
// reply (what the Perl→Go broker of the seed story did). Single-threaded epoll; each connection
// sends one line {"key": "..."}\n, gets {"server": "host:port", "index": N}\n and is closed.
//   json_server SOCKET_PATH SPEC_FILE
#include <csignal>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>

#include "samering/ring.hpp"

namespace {
volatile sig_atomic_t stop = 0;
void on_term(int) { stop = 1; }
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: json_server SOCKET_PATH SPEC_FILE\n");
    return 2;
  }
  const samering::Ring ring = samering::ring_from_file(argv[2]);
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
  std::unordered_map<int, std::string> conns;
  epoll_event events[256];
  char buf[4096];
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
      std::string& in = conns[fd];
      in.append(buf, static_cast<std::size_t>(r));
      const auto nl = in.find('\n');
      if (nl == std::string::npos) continue;
      std::string reply;
      try {
        const auto req = nlohmann::json::parse(in.substr(0, nl));
        const std::string key = req.at("key").get<std::string>();
        const int i = ring.pick(key);
        reply = nlohmann::json{{"server", i >= 0 ? std::string(ring.server(static_cast<std::size_t>(i)).address) : ""},
                               {"index", i}}
                    .dump() +
                "\n";
      } catch (const std::exception& ex) {
        reply = nlohmann::json{{"error", ex.what()}}.dump() + "\n";
      }
      (void)!::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
      ::close(fd);
      conns.erase(fd);
    }
  }
  ::unlink(argv[1]);
  return 0;
}
