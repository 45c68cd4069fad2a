#include "shm_publisher.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include "log.hpp"

namespace samering::broker {

namespace {

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what + ": " + std::strerror(errno)); }

void write_all(int fd, const void* data, std::size_t n, const std::string& path) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail("write " + path);
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

bool read_file(const std::string& path, std::vector<std::byte>& out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st{};
  bool ok = ::fstat(fd, &st) == 0;
  if (ok) {
    out.resize(static_cast<std::size_t>(st.st_size));
    std::size_t got = 0;
    while (ok && got < out.size()) {
      const ssize_t r = ::read(fd, out.data() + got, out.size() - got);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) ok = false;
      else got += static_cast<std::size_t>(r);
    }
  }
  ::close(fd);
  return ok;
}

}  // namespace

ShmPublisher::ShmPublisher(std::string dir, std::string ring, unsigned file_mode, std::chrono::milliseconds grace)
    : dir_(std::move(dir)), ring_(std::move(ring)), file_mode_(file_mode), grace_(grace) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) throw std::runtime_error("shm dir " + dir_ + ": " + ec.message());
  const std::string path = path_of(shm::control_file_name(ring_));
  // Reuse an existing control file (readers that mapped it keep following); make one otherwise.
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  bool fresh = false;
  if (fd < 0) {
    if (errno != ENOENT) fail("open " + path);
    const std::string tmp = path_of(std::string(".").append(shm::control_file_name(ring_)).append(".tmp.").append(std::to_string(::getpid())));
    fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, file_mode_);
    if (fd < 0) fail("create " + tmp);
    ::fchmod(fd, file_mode_);  // not subject to the umask
    if (::ftruncate(fd, shm::kControlFileSize) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
      const int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      errno = e;
      fail("create " + path);
    }
    fresh = true;
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    ::close(fd);
    if (e == EWOULDBLOCK) throw std::runtime_error(path + ": in use by another running broker");
    errno = e;
    fail("flock " + path);
  }
  struct stat st{};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw std::runtime_error(path + ": not a regular file");
  }
  if (static_cast<std::size_t>(st.st_size) != shm::kControlFileSize) {
    if (::ftruncate(fd, shm::kControlFileSize) != 0) {
      ::close(fd);
      fail("ftruncate " + path);
    }
    fresh = true;
  }
  void* p = ::mmap(nullptr, shm::kControlFileSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    const int e = errno;
    ::close(fd);
    errno = e;
    fail("mmap " + path);
  }
  control_fd_ = fd;
  control_ = static_cast<shm::Control*>(p);
  const bool valid = !fresh && std::memcmp(control_->magic, shm::kControlMagic, 8) == 0 &&
                     control_->version == shm::kControlVersion && control_->size == sizeof(shm::Control);
  if (!valid) {
    // Not ours or from another format: start over in place (same inode).
    std::memset(p, 0, shm::kControlFileSize);
    std::memcpy(control_->magic, shm::kControlMagic, 8);
    control_->version = shm::kControlVersion;
    control_->size = sizeof(shm::Control);
  }
  // Leftovers of earlier runs: temporary files now, superseded images after the grace period.
  const std::uint64_t current = published_generation();
  const std::string prefix = ring_ + ".";
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(std::string(".").append(prefix), 0) == 0 && name.find(".tmp") != std::string::npos) {
      ::unlink(entry.path().c_str());
    } else if (name.rfind(prefix, 0) == 0 && name.size() > prefix.size() + 4 &&
               name.compare(name.size() - 4, 4, ".img") == 0 && name != shm::image_file_name(ring_, current)) {
      const std::string middle = name.substr(prefix.size(), name.size() - prefix.size() - 4);
      if (!middle.empty() && middle.find_first_not_of("0123456789") == std::string::npos)
        old_.push_back({name, Clock::now()});
    }
  }
}

ShmPublisher::~ShmPublisher() {
  if (control_) ::munmap(control_, shm::kControlFileSize);
  if (control_fd_ >= 0) ::close(control_fd_);  // releases the flock
}

std::uint64_t ShmPublisher::published_generation() const {
  return control_->generation.load(std::memory_order_relaxed);
}

bool ShmPublisher::published_image_equals(std::span<const std::byte> image) const {
  const std::uint64_t g = published_generation();
  if (g == 0) return false;
  std::vector<std::byte> bytes;
  if (!read_file(path_of(shm::image_file_name(ring_, g)), bytes)) return false;
  return bytes.size() == image.size() && std::memcmp(bytes.data(), image.data(), image.size()) == 0;
}

void ShmPublisher::publish(std::uint64_t generation, std::span<const std::byte> image) {
  const std::string name = shm::image_file_name(ring_, generation);
  const std::string path = path_of(name);
  const std::string tmp = path_of(std::string(".").append(name).append(".tmp"));
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, file_mode_);
  if (fd < 0) fail("create " + tmp);
  try {
    ::fchmod(fd, file_mode_);
    write_all(fd, image.data(), image.size(), tmp);
    if (::close(fd) != 0) {
      ::unlink(tmp.c_str());
      fail("close " + tmp);
    }
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    errno = e;
    fail("rename " + tmp);
  }
  const std::uint64_t previous = published_generation();
  std::uint64_t checksum = 0;
  std::memcpy(&checksum, image.data() + 24, sizeof checksum);  // the image header's checksum field
  shm::publish(*control_, {0, generation, image.size(), checksum, static_cast<std::uint64_t>(::getpid())});
  if (previous != 0 && previous != generation) old_.push_back({shm::image_file_name(ring_, previous), Clock::now()});
}

void ShmPublisher::collect(Clock::time_point now) {
  while (!old_.empty() && now - old_.front().since >= grace_) {
    const std::string path = path_of(old_.front().file);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) log_warning("cannot remove " + path + ": " + std::strerror(errno));
    old_.pop_front();
  }
}

int make_sealed_memfd(const std::string& name, std::span<const std::byte> bytes) {
  const int fd = ::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) fail("memfd_create");
  try {
    write_all(fd, bytes.data(), bytes.size(), "memfd");
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
    const int e = errno;
    ::close(fd);
    errno = e;
    fail("seal memfd");
  }
  return fd;
}

}  // namespace samering::broker
