// FakeServer: a scripted memcached text-protocol responder in a forked process (the test process
// itself stays single-threaded, so that it may fork). It listens on n loopback ports, logs every
// byte each accepted connection sends and whether it was closed, and answers in one of three modes:
//   immediate       "get"/"gets" -> the keys' values ("v:<key>", cas 1) at once
//   hold_until_all  "get"/"gets" -> held until every listener has received a complete get line,
//                   then all answered: a client that reads a reply before it has sent every
//                   server's request waits forever (times out)
//   silent          never answers anything (I/O timeouts)
// "version" is answered with "VERSION 1.6.18" except in silent mode.
// report() asks the process (over a control port) for its log.
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "memcached_process.hpp"

namespace client_test {

class FakeServer {
 public:
  enum class Mode { immediate, hold_until_all, silent };

  struct Connection {
    int listener = -1;
    bool closed = false;   // the peer closed (EOF) or reset it
    std::string received;  // every byte received
  };

  FakeServer(std::size_t listeners, Mode mode) {
    for (std::size_t i = 0; i <= listeners; ++i) {  // the last one is the control port
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      const int one = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      socklen_t len = sizeof a;
      if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 128) != 0 ||
          ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        throw std::runtime_error("FakeServer: cannot listen");
      }
      listen_fds_.push_back(fd);
      ports_.push_back(ntohs(a.sin_port));
    }
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("FakeServer: fork failed");
    if (pid_ == 0) {
      serve(mode);
      ::_exit(0);
    }
    for (const int fd : listen_fds_) ::close(fd);
  }
  ~FakeServer() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;

  std::uint16_t port(std::size_t i) const { return ports_.at(i); }
  std::size_t listeners() const { return ports_.size() - 1; }

  // The log: every connection accepted so far, in accept order.
  std::vector<Connection> report() {
    RawConnection control(ports_.back());
    std::vector<Connection> out;
    std::istringstream in(control.command("report"));
    std::string word;
    while (in >> word) {  // "<listener> <closed> <hex>|- ..."
      Connection c;
      c.listener = std::stoi(word);
      in >> word;
      c.closed = word == "1";
      in >> word;
      if (word != "-") {
        for (std::size_t i = 0; i + 1 < word.size(); i += 2) {
          c.received.push_back(static_cast<char>(std::stoi(word.substr(i, 2), nullptr, 16)));
        }
      }
      out.push_back(std::move(c));
    }
    return out;
  }

 private:
  struct Conn {
    int fd = -1;
    int listener = -1;
    bool closed = false;
    std::string received;
    std::string pending;            // bytes not yet parsed into lines
    std::vector<std::string> held;  // get lines waiting for hold_until_all
  };

  static std::string hex(const std::string& s) {
    static const char* d = "0123456789abcdef";
    std::string out;
    for (const unsigned char c : s) {
      out.push_back(d[c >> 4]);
      out.push_back(d[c & 15]);
    }
    return out.empty() ? "-" : out;
  }

  static void write_all(int fd, const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
      const ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<std::size_t>(n);
    }
  }

  static std::string answer_get(const std::string& line) {
    std::istringstream in(line);
    std::string verb, key, out;
    in >> verb;
    while (in >> key) {
      const std::string value = "v:" + key;
      out += "VALUE " + key + " 0 " + std::to_string(value.size()) + (verb == "gets" ? " 1" : "") + "\r\n" + value +
             "\r\n";
    }
    return out + "END\r\n";
  }

  [[noreturn]] void serve(Mode mode) {
    const std::size_t n = listen_fds_.size() - 1;
    std::vector<Conn> conns;
    std::vector<int> control;
    for (;;) {
      const std::size_t polled_conns = conns.size(), polled_control = control.size();
      std::vector<pollfd> fds;
      for (const int fd : listen_fds_) fds.push_back({fd, POLLIN, 0});
      for (const Conn& c : conns) fds.push_back({c.closed ? -1 : c.fd, POLLIN, 0});
      for (const int fd : control) fds.push_back({fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), -1) < 0) continue;
      for (std::size_t i = 0; i < listen_fds_.size(); ++i) {
        if (!(fds[i].revents & POLLIN)) continue;
        const int fd = ::accept4(listen_fds_[i], nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        if (i == n) {
          control.push_back(fd);
        } else {
          Conn c;
          c.fd = fd;
          c.listener = static_cast<int>(i);
          conns.push_back(std::move(c));
        }
      }
      for (std::size_t k = 0; k < polled_conns; ++k) {
        Conn& c = conns[k];
        if (c.closed || !(fds[listen_fds_.size() + k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        char buf[65536];
        const ssize_t got = ::recv(c.fd, buf, sizeof buf, 0);
        if (got <= 0) {
          c.closed = true;
          continue;
        }
        c.received.append(buf, static_cast<std::size_t>(got));
        c.pending.append(buf, static_cast<std::size_t>(got));
        for (auto end = c.pending.find("\r\n"); end != std::string::npos; end = c.pending.find("\r\n")) {
          const std::string line = c.pending.substr(0, end);
          c.pending.erase(0, end + 2);
          if (mode == Mode::silent) continue;
          if (line.rfind("get ", 0) == 0 || line.rfind("gets ", 0) == 0) {
            if (mode == Mode::immediate) {
              write_all(c.fd, answer_get(line));
            } else {
              c.held.push_back(line);
            }
          } else if (line == "version") {
            write_all(c.fd, "VERSION 1.6.18\r\n");
          } else if (line == "quit") {
            // memcached closes the connection; so do we (the log keeps the bytes).
            ::shutdown(c.fd, SHUT_RDWR);
          } else {
            write_all(c.fd, "ERROR\r\n");
          }
        }
      }
      if (mode == Mode::hold_until_all) {
        std::vector<bool> have(n, false);
        for (const Conn& c : conns) {
          if (!c.held.empty()) have[static_cast<std::size_t>(c.listener)] = true;
        }
        bool all = true;
        for (const bool h : have) all = all && h;
        if (all) {
          for (Conn& c : conns) {
            for (const std::string& line : c.held) write_all(c.fd, answer_get(line));
            c.held.clear();
          }
        }
      }
      const std::size_t control_base = listen_fds_.size() + polled_conns;
      for (std::size_t k = 0; k < polled_control; ++k) {
        if (!(fds[control_base + k].revents & (POLLIN | POLLHUP))) continue;
        char buf[256];
        if (::recv(control[k], buf, sizeof buf, 0) <= 0) {
          ::close(control[k]);
          control[k] = -1;
          continue;
        }
        std::string out;
        for (const Conn& c : conns) {
          out += std::to_string(c.listener) + " " + (c.closed ? "1" : "0") + " " + hex(c.received) + " ";
        }
        write_all(control[k], out + "\r\n");
      }
      std::erase(control, -1);
    }
  }

  std::vector<int> listen_fds_;
  std::vector<std::uint16_t> ports_;
  pid_t pid_ = -1;
};

}  // namespace client_test
