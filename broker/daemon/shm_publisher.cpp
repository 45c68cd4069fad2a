#include "shm_publisher.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string_view>
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

bool digits(std::string_view s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos; }

// Whether the broker may create a directory inside `fd` (`path`): another user who could rename
// or replace entries there could swap what the broker makes for their own. A sticky directory
// (/dev/shm, /tmp) lets nobody else rename an entry they do not own.
void check_creatable(int fd, const std::string& path, uid_t self) {
  struct stat st{};
  if (::fstat(fd, &st) != 0) fail("fstat " + path);
  if (st.st_uid != 0 && st.st_uid != self)
    throw std::runtime_error(
        fmt::format("{}: owned by uid {}, not by root or the broker's uid {}: refusing to create "
                    "the shm dir in it",
                    path, st.st_uid, self));
  if ((st.st_mode & 022) != 0 && (st.st_mode & S_ISVTX) == 0)
    throw std::runtime_error(
        fmt::format("{}: writable by group or others and not sticky (mode {:04o}): refusing to "
                    "create the shm dir in it",
                    path, st.st_mode & 07777));
}

}  // namespace

UniqueFd open_shm_dir(const std::string& path, mode_t mode) {
  if (path.empty() || path.front() != '/') throw std::runtime_error("shm dir " + path + ": not an absolute path");
  const uid_t self = ::geteuid();
  UniqueFd dir(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) fail("open /");
  std::string at;  // the path of `dir`
  std::size_t pos = 1;
  while (pos <= path.size()) {
    std::size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    const std::string name = path.substr(pos, end - pos);
    pos = end + 1;
    if (name.empty() || name == ".") continue;
    if (name == "..") throw std::runtime_error("shm dir " + path + ": must not contain \"..\"");
    const bool last = pos > path.size();
    const std::string here = at + "/" + name;
    // Components above the last one may be symbolic links (/var/run); the shm dir itself may not.
    UniqueFd next(::openat(dir.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | (last ? O_NOFOLLOW : 0)));
    bool created = false;
    if (!next && errno == ENOENT) {
      check_creatable(dir.get(), at.empty() ? "/" : at, self);
      if (::mkdirat(dir.get(), name.c_str(), 0700) == 0)
        created = true;
      else if (errno != EEXIST)
        fail("mkdir " + here);
      next.reset(::openat(dir.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
    }
    if (!next) {
      const int e = errno;
      struct stat link{};
      if (last && (e == ELOOP || e == ENOTDIR) && ::fstatat(dir.get(), name.c_str(), &link, AT_SYMLINK_NOFOLLOW) == 0 &&
          S_ISLNK(link.st_mode))  // O_DIRECTORY|O_NOFOLLOW on a link: ENOTDIR on Linux
        throw std::runtime_error("shm dir " + here + ": a symbolic link: refused (its target could be anyone's)");
      errno = e;
      fail("shm dir " + here);
    }
    if (created && ::fchmod(next.get(), mode) != 0) fail("chmod " + here);  // not subject to the umask
    dir = std::move(next);
    at = here;
  }
  struct stat st{};
  if (::fstat(dir.get(), &st) != 0) fail("fstat " + path);
  if (st.st_uid != self)
    throw std::runtime_error(
        fmt::format("shm dir {}: owned by uid {}, not by the broker's uid {}: refused (its "
                    "owner could replace the files readers trust)",
                    path, st.st_uid, self));
  if ((st.st_mode & 022) != 0)
    throw std::runtime_error(
        fmt::format("shm dir {}: writable by group or others (mode {:04o}): refused (they could "
                    "replace the files readers trust)",
                    path, st.st_mode & 07777));
  return dir;
}

ShmPublisher::ShmPublisher(const UniqueFd& dir, std::string dir_path, std::string ring, unsigned file_mode,
                           std::chrono::milliseconds grace)
    : dir_(::fcntl(dir.get(), F_DUPFD_CLOEXEC, 0)),
      dir_path_(std::move(dir_path)),
      ring_(std::move(ring)),
      file_mode_(file_mode),
      grace_(grace) {
  if (!dir_) fail("dup " + dir_path_);
  const uid_t self = ::geteuid();
  // The liveness lock: a file only the broker can open. flock needs no write access, so a lock on
  // a file readers can open (the control file) is one any reader can take.
  const std::string lock_name = "." + ring_ + ".lock";
  lock_.reset(::openat(dir_.get(), lock_name.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!lock_) fail("open " + path_of(lock_name));
  struct stat st{};
  if (::fstat(lock_.get(), &st) != 0) fail("fstat " + path_of(lock_name));
  if (st.st_uid != self)
    throw std::runtime_error(
        fmt::format("{}: owned by uid {}, not by the broker's uid {}: refused", path_of(lock_name), st.st_uid, self));
  if ((st.st_mode & 077) != 0 && ::fchmod(lock_.get(), 0600) != 0) fail("chmod " + path_of(lock_name));
  if (::flock(lock_.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) throw std::runtime_error(path_of(lock_name) + ": in use by another running broker");
    fail("flock " + path_of(lock_name));
  }

  // Reuse an existing control file (readers that mapped it keep following); make one otherwise.
  const std::string control_name = shm::control_file_name(ring_);
  UniqueFd fd(::openat(dir_.get(), control_name.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  bool fresh = false;
  if (!fd) {
    if (errno != ENOENT) fail("open " + path_of(control_name));
    const std::string tmp = fmt::format(".{}.tmp.{}", control_name, ::getpid());
    ::unlinkat(dir_.get(), tmp.c_str(), 0);
    fd.reset(::openat(dir_.get(), tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) fail("create " + path_of(tmp));
    if (::ftruncate(fd.get(), shm::kControlFileSize) != 0 ||
        ::renameat(dir_.get(), tmp.c_str(), dir_.get(), control_name.c_str()) != 0) {
      const int e = errno;
      ::unlinkat(dir_.get(), tmp.c_str(), 0);
      errno = e;
      fail("create " + path_of(control_name));
    }
    fresh = true;
  }
  if (::fstat(fd.get(), &st) != 0) fail("fstat " + path_of(control_name));
  if (!S_ISREG(st.st_mode)) throw std::runtime_error(path_of(control_name) + ": not a regular file");
  if (st.st_uid != self)
    throw std::runtime_error(fmt::format("{}: owned by uid {}, not by the broker's uid {}: refused",
                                         path_of(control_name), st.st_uid, self));
  if ((st.st_mode & 07777) != file_mode_ && ::fchmod(fd.get(), file_mode_) != 0) fail("chmod " + path_of(control_name));
  if (static_cast<std::size_t>(st.st_size) != shm::kControlFileSize) {
    if (::ftruncate(fd.get(), shm::kControlFileSize) != 0) fail("ftruncate " + path_of(control_name));
    fresh = true;
  }
  void* p = ::mmap(nullptr, shm::kControlFileSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (p == MAP_FAILED) fail("mmap " + path_of(control_name));
  control_ = static_cast<shm::Control*>(p);  // the mapping outlives the descriptor
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
  // Names are matched exactly (ring "a" must not take ring "a.b"'s files).
  const std::string current = shm::image_file_name(ring_, published_generation());
  const std::string tmp_control = "." + control_name + ".tmp.", prefix = ring_ + ".", tmp_prefix = "." + prefix;
  UniqueFd scan_fd(::fcntl(dir_.get(), F_DUPFD_CLOEXEC, 0));
  DIR* scan = scan_fd ? ::fdopendir(scan_fd.get()) : nullptr;
  if (!scan) {
    log_warning(fmt::format("cannot list {}: {} (leftover files stay)", dir_path_, std::strerror(errno)));
    return;
  }
  scan_fd.release();  // closedir closes it
  while (const dirent* e = ::readdir(scan)) {
    const std::string_view name = e->d_name;
    const auto between = [&](std::string_view head, std::string_view tail) {
      return name.size() > head.size() + tail.size() && name.starts_with(head) && name.ends_with(tail) &&
             digits(name.substr(head.size(), name.size() - head.size() - tail.size()));
    };
    if ((name.starts_with(tmp_control) && digits(name.substr(tmp_control.size()))) || between(tmp_prefix, ".img.tmp"))
      ::unlinkat(dir_.get(), e->d_name, 0);
    else if (between(prefix, ".img") && name != current)
      old_.push_back({std::string(name), Clock::now()});
  }
  ::closedir(scan);
}

ShmPublisher::~ShmPublisher() {
  if (control_) ::munmap(control_, shm::kControlFileSize);
  // lock_ closes last (members are destroyed after this body): the flock is released.
}

std::uint64_t ShmPublisher::published_generation() const {
  return control_->generation.load(std::memory_order_relaxed);
}

bool ShmPublisher::published_image_equals(std::span<const std::byte> image) const {
  const std::uint64_t g = published_generation();
  if (g == 0) return false;
  const std::string name = shm::image_file_name(ring_, g);
  const UniqueFd fd(::openat(dir_.get(), name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  struct stat st{};
  if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<std::size_t>(st.st_size) != image.size())
    return false;
  std::vector<std::byte> bytes(image.size());
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t r = ::read(fd.get(), bytes.data() + got, bytes.size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    got += static_cast<std::size_t>(r);
  }
  return std::memcmp(bytes.data(), image.data(), image.size()) == 0;
}

void ShmPublisher::publish(std::uint64_t generation, std::span<const std::byte> image) {
  const std::string name = shm::image_file_name(ring_, generation);
  const std::string tmp = "." + name + ".tmp";
  ::unlinkat(dir_.get(), tmp.c_str(), 0);
  UniqueFd fd(::openat(dir_.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) fail("create " + path_of(tmp));
  try {
    if (::fchmod(fd.get(), file_mode_) != 0) fail("chmod " + path_of(tmp));  // not subject to the umask
    write_all(fd.get(), image.data(), image.size(), path_of(tmp));
    if (::close(fd.release()) != 0) fail("close " + path_of(tmp));
    if (::renameat(dir_.get(), tmp.c_str(), dir_.get(), name.c_str()) != 0) fail("rename " + path_of(tmp));
  } catch (...) {
    ::unlinkat(dir_.get(), tmp.c_str(), 0);
    throw;
  }
  const std::uint64_t previous = published_generation();
  std::uint64_t checksum = 0;
  std::memcpy(&checksum, image.data() + shm::kImageChecksumOffset, sizeof checksum);
  shm::publish(*control_, {0, generation, image.size(), checksum, static_cast<std::uint64_t>(::getpid())});
  if (previous != 0 && previous != generation) old_.push_back({shm::image_file_name(ring_, previous), Clock::now()});
}

void ShmPublisher::collect(Clock::time_point now) {
  while (!old_.empty() && now - old_.front().since >= grace_) {
    if (::unlinkat(dir_.get(), old_.front().file.c_str(), 0) != 0 && errno != ENOENT)
      log_warning(fmt::format("cannot remove {}: {}", path_of(old_.front().file), std::strerror(errno)));
    old_.pop_front();
  }
}

UniqueFd make_sealed_memfd(const std::string& name, std::span<const std::byte> bytes) {
  UniqueFd fd(::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) fail("memfd_create");
  write_all(fd.get(), bytes.data(), bytes.size(), "memfd");
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) fail("seal memfd");
  return fd;
}

}  // namespace samering::broker
