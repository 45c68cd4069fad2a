// Real memcached processes for the client tests: started by PID on free loopback ports with
// bounded waits, killed at the end; and RawConnection, a blocking text-protocol socket to one node
// that checks what a node holds without going through the client under test.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace client_test {

using namespace std::chrono_literals;

// A loopback port that was free a moment ago (bind to port 0, read it back, close).
inline std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind: " + std::string(std::strerror(errno)));
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

// A blocking TCP connection to 127.0.0.1:port, or -1.
inline int connect_loopback(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// One memcached process (Debian's /usr/bin/memcached), 64 MB, default 1 MB item limit.
class MemcachedProcess {
 public:
  MemcachedProcess() {
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = free_port();
      if (spawn()) return;
    }
    throw std::runtime_error("memcached did not start on a free port in 5 attempts");
  }
  ~MemcachedProcess() { stop(); }
  MemcachedProcess(const MemcachedProcess&) = delete;
  MemcachedProcess& operator=(const MemcachedProcess&) = delete;

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

  // SIGKILL and reap (bounded).
  void kill() { stop(); }
  // Starts again on the same port (bounded retries while the port leaves TIME_WAIT users).
  void restart() {
    stop();
    for (int attempt = 0; attempt < 50; ++attempt) {
      if (spawn()) return;
      std::this_thread::sleep_for(20ms);
    }
    throw std::runtime_error("memcached did not restart on port " + std::to_string(port_));
  }

 private:
  bool spawn() {
    const std::string port = std::to_string(port_);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork: " + std::string(std::strerror(errno)));
    if (pid == 0) {
      const int devnull = ::open("/dev/null", O_RDWR);
      if (devnull >= 0) {
        ::dup2(devnull, 1);
        ::dup2(devnull, 2);
      }
      const bool root = ::geteuid() == 0;
      if (root) {
        ::execlp("memcached", "memcached", "-u", "nobody", "-l", "127.0.0.1", "-p", port.c_str(), "-U", "0", "-t", "2",
                 "-m", "64", static_cast<char*>(nullptr));
      } else {
        ::execlp("memcached", "memcached", "-l", "127.0.0.1", "-p", port.c_str(), "-U", "0", "-t", "2", "-m", "64",
                 static_cast<char*>(nullptr));
      }
      ::_exit(127);
    }
    pid_ = pid;
    // Ready when it accepts a connection; gone if it exited (port taken). At most 5 s.
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      const int fd = connect_loopback(port_);
      if (fd >= 0) {
        ::close(fd);
        return true;
      }
      std::this_thread::sleep_for(5ms);
    }
    stop();
    return false;
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (::waitpid(pid_, nullptr, WNOHANG) == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    pid_ = -1;
  }

  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

// Three (or n) memcached processes and the spec JSON of a ring over them.
class Cluster {
 public:
  explicit Cluster(std::size_t n = 3) {
    for (std::size_t i = 0; i < n; ++i) nodes_.push_back(std::make_unique<MemcachedProcess>());
  }
  MemcachedProcess& node(std::size_t i) { return *nodes_.at(i); }
  std::size_t size() const { return nodes_.size(); }
  // {"flavor": flavor, "options": {options}, "servers": [127.0.0.1:port...]}
  std::string spec(const std::string& flavor = "cmf", const std::string& options = "{}") const {
    std::string s = "{\"flavor\":\"" + flavor + "\",\"options\":" + options + ",\"servers\":[";
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (i) s += ",";
      s += "{\"host\":\"127.0.0.1\",\"port\":" + std::to_string(nodes_[i]->port()) + "}";
    }
    return s + "]}";
  }

 private:
  std::vector<std::unique_ptr<MemcachedProcess>> nodes_;
};

// A blocking text-protocol connection to one node, independent of the client under test.
class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port) : fd_(connect_loopback(port)) {
    if (fd_ < 0) throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port));
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  struct Value {
    std::string data;
    std::uint32_t flags;
  };
  // "get <key>": the value if this node holds the key.
  std::optional<Value> get(std::string_view key) {
    send("get " + std::string(key) + "\r\n");
    std::optional<Value> found;
    for (;;) {
      const std::string line = read_line();
      if (line == "END") return found;
      // VALUE <key> <flags> <bytes>
      if (line.rfind("VALUE ", 0) != 0) throw std::runtime_error("unexpected reply: " + line);
      const auto p1 = line.find(' ', 6), p2 = line.find(' ', p1 + 1);
      const std::uint32_t flags = static_cast<std::uint32_t>(std::stoul(line.substr(p1 + 1, p2 - p1 - 1)));
      const std::size_t bytes = std::stoul(line.substr(p2 + 1));
      std::string data = read_exact(bytes + 2);
      data.resize(bytes);
      found = Value{std::move(data), flags};
    }
  }
  // A one-line command and its one-line reply ("flush_all" -> "OK").
  std::string command(const std::string& line) {
    send(line + "\r\n");
    return read_line();
  }
  // "stats" as name -> value.
  std::string stat(const std::string& name) {
    send("stats\r\n");
    std::string value;
    for (;;) {
      const std::string line = read_line();
      if (line == "END") return value;
      if (line.rfind("STAT " + name + " ", 0) == 0) value = line.substr(6 + name.size());
    }
  }

 private:
  void send(const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
      const ssize_t n = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send: " + std::string(std::strerror(errno)));
      off += static_cast<std::size_t>(n);
    }
  }
  void fill() {
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) throw std::runtime_error("recv: connection closed or timed out");
    buffer_.append(buf, static_cast<std::size_t>(n));
  }
  std::string read_line() {
    for (;;) {
      const auto end = buffer_.find("\r\n");
      if (end != std::string::npos) {
        std::string line = buffer_.substr(0, end);
        buffer_.erase(0, end + 2);
        return line;
      }
      fill();
    }
  }
  std::string read_exact(std::size_t n) {
    while (buffer_.size() < n) fill();
    std::string out = buffer_.substr(0, n);
    buffer_.erase(0, n);
    return out;
  }

  int fd_;
  std::string buffer_;
};

}  // namespace client_test
