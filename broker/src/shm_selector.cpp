// ShmSelector (samering/broker.hpp): maps <dir>/<ring>.ctl and <dir>/<ring>.<generation>.img,
// following the reader rules of docs/protocol.md "Shared memory": the dir, the control file and
// every image are owned by a trusted uid and not writable by group or others, files are opened
// relative to the dir without following symbolic links, and every image is validated first.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "protocol.hpp"
#include "samering/broker.hpp"
#include "samering/error.hpp"
#include "samering/unique_fd.hpp"
#include "shm_format.hpp"

namespace samering {

namespace shm = broker::shm;

namespace {

constexpr std::int64_t kCheckEveryNs = 1'000'000'000;  // the control file's path: once a second of picking

std::int64_t coarse_now_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);  // vDSO: no system call
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Whether `st` (of `path`) may be trusted: owned by root, this process's effective uid or the
// configured one, and not writable by group or others. The message says which rule failed.
std::string untrusted(const struct stat& st, const std::string& path, const ShmOptions& options) {
  const uid_t self = ::geteuid();
  const bool owner_ok = st.st_uid == 0 || st.st_uid == self ||
                        (options.trusted_uid >= 0 && st.st_uid == static_cast<uid_t>(options.trusted_uid));
  if (!owner_ok)
    return options.trusted_uid >= 0
               ? fmt::format("{}: owned by uid {}; a shm reader trusts only root, uid {} (its own) and uid {}: refused",
                             path, st.st_uid, self, options.trusted_uid)
               : fmt::format("{}: owned by uid {}; a shm reader trusts only root and uid {} (its own): refused", path,
                             st.st_uid, self);
  if ((st.st_mode & 022) != 0)
    return fmt::format("{}: writable by group or others (mode {:04o}): refused", path, st.st_mode & 07777);
  return {};
}

UniqueFd open_dir(const std::string& dir, const ShmOptions& options) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) throw BrokerError(BrokerError::Kind::kConnect, fmt::format("{}: {}", dir, std::strerror(errno)));
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0)
    throw BrokerError(BrokerError::Kind::kConnect, fmt::format("{}: fstat: {}", dir, std::strerror(errno)));
  if (const std::string why = untrusted(st, dir, options); !why.empty())
    throw BrokerError(BrokerError::Kind::kConnect, why);
  return fd;
}

// Maps `name` in the dir read-only. A missing file is BrokerError(`missing`); anything else wrong
// (not a regular file, untrusted, empty) is ImageError. No descriptor survives the call.
std::shared_ptr<const void> map_file(int dir_fd, const std::string& path, const char* name, std::size_t& size,
                                     struct stat& st, BrokerError::Kind missing, const ShmOptions& options) {
  // O_NONBLOCK: a FIFO must not block the open; O_NOFOLLOW: a link is not the broker's file.
  const UniqueFd fd(::openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd) {
    if (errno == ELOOP) throw ImageError(path + ": a symbolic link: refused");
    throw BrokerError(missing, fmt::format("{}: {}", path, std::strerror(errno)));
  }
  if (::fstat(fd.get(), &st) != 0) throw ImageError(fmt::format("{}: fstat: {}", path, std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) throw ImageError(path + ": not a regular file");
  if (const std::string why = untrusted(st, path, options); !why.empty()) throw ImageError(why);
  size = static_cast<std::size_t>(st.st_size);
  if (size == 0) throw ImageError(path + ": empty file (truncated)");
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd.get(), 0);
  if (p == MAP_FAILED) throw ImageError(fmt::format("{}: mmap: {}", path, std::strerror(errno)));
  const std::size_t n = size;
  return {p, [n](const void* q) { ::munmap(const_cast<void*>(q), n); }};  // the mapping keeps the file
}

}  // namespace

struct ShmSelector::Control {
  std::shared_ptr<const void> map;
  std::uint64_t dev = 0, ino = 0;
};

ShmSelector::Control ShmSelector::open_control() const {
  const UniqueFd dir = open_dir(dir_, options_);
  const std::string name = shm::control_file_name(name_);
  std::size_t size = 0;
  struct stat st{};
  Control control{map_file(dir.get(), control_path_, name.c_str(), size, st, BrokerError::Kind::kConnect, options_),
                  static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
  const auto* c = static_cast<const shm::Control*>(control.map.get());
  if (size < sizeof(shm::Control) || std::memcmp(c->magic, shm::kControlMagic, sizeof c->magic) != 0 ||
      c->version != shm::kControlVersion || c->size != sizeof(shm::Control))
    throw ImageError(control_path_ + ": not a samering control file (bad magic, version or size)");
  return control;
}

ShmSelector::ShmSelector(std::string dir, std::string ring, ShmOptions options)
    : dir_(std::move(dir)),
      name_(std::move(ring)),
      control_path_(dir_ + "/" + shm::control_file_name(name_)),
      options_(options),
      ring_(first_load()) {}

Ring ShmSelector::first_load() {
  if (!broker::valid_ring_name(name_))
    throw BrokerError(BrokerError::Kind::kConnect, "samering shm: invalid ring name \"" + name_ + "\"");
  Control control = open_control();
  Ring ring = load(control, seen_seq_, generation_);
  adopt(std::move(control));
  checked_ns_ = coarse_now_ns();
  return ring;
}

ShmSelector::~ShmSelector() = default;
ShmSelector::ShmSelector(ShmSelector&&) noexcept = default;
ShmSelector& ShmSelector::operator=(ShmSelector&&) noexcept = default;

void ShmSelector::adopt(Control control) {
  control_map_ = std::move(control.map);
  control_seq_ = &static_cast<const shm::Control*>(control_map_.get())->seq;
  control_dev_ = control.dev;
  control_ino_ = control.ino;
}

Ring ShmSelector::load(const Control& control_file, std::uint64_t& seq, std::uint64_t& generation) const {
  const auto& control = *static_cast<const shm::Control*>(control_file.map.get());
  const UniqueFd dir = open_dir(dir_, options_);
  // The broker removes an image only a grace period after it was replaced, so a missing file means
  // the control moved on while we read it: read the control again (a few times).
  for (int attempt = 0;; ++attempt) {
    shm::Snapshot snap;
    if (!shm::read_snapshot(control, snap)) throw ImageError(control_path_ + ": the control block stays mid-update");
    if (snap.generation == 0) throw ImageError(control_path_ + ": no image published yet");
    const std::string name = shm::image_file_name(name_, snap.generation);
    const std::string path = dir_ + "/" + name;
    std::size_t size = 0;
    struct stat st{};
    std::shared_ptr<const void> map;
    try {
      map = map_file(dir.get(), path, name.c_str(), size, st, BrokerError::Kind::kIo, options_);
    } catch (const BrokerError& e) {
      shm::Snapshot again;
      if (attempt < 3 && shm::read_snapshot(control, again) && again.seq != snap.seq) continue;
      throw ImageError(
          fmt::format("{} (the image of generation {} named by the control block)", e.what(), snap.generation));
    }
    if (size != snap.image_size)
      throw ImageError(
          fmt::format("{}: invalid ring image: truncated or resized: the control block says {} bytes, the "
                      "file has {}",
                      path, snap.image_size, size));
    std::span<const std::byte> bytes(static_cast<const std::byte*>(map.get()), size);
    Ring ring = [&] {
      try {
        return Ring::view(bytes, map);
      } catch (const ImageError& e) {
        throw ImageError(path + ": " + e.what());
      }
    }();
    std::uint64_t checksum = 0;
    std::memcpy(&checksum, bytes.data() + shm::kImageChecksumOffset, sizeof checksum);
    if (checksum != snap.image_checksum)
      throw ImageError(path + ": invalid ring image: its checksum differs from the one the control block names");
    seq = snap.seq;
    generation = snap.generation;
    return ring;
  }
}

void ShmSelector::follow() noexcept {
  if (picks_to_clock_ == 0) {
    picks_to_clock_ = kPicksPerClockRead;
    if (coarse_now_ns() - checked_ns_ >= kCheckEveryNs) check_control_file();
  }
  if (control_seq_->load(std::memory_order_acquire) != seen_seq_) follow_seq();
}

void ShmSelector::follow_seq() noexcept {
  const std::uint64_t now = control_seq_->load(std::memory_order_acquire);
  try {
    std::uint64_t seq = 0, generation = 0;
    Control current{control_map_, control_dev_, control_ino_};
    Ring next = load(current, seq, generation);
    ring_ = std::move(next);
    seen_seq_ = seq;
    generation_ = generation;
    last_error_.clear();
  } catch (const std::exception& e) {
    // Keep the previous ring; do not retry on every pick: wait until the broker publishes again.
    seen_seq_ = now;
    try {
      last_error_ = e.what();
    } catch (...) {
    }
  }
}

// The control file this reader maps may no longer be the published one: a broker restarted on a
// re-created shm dir (systemd removes a RuntimeDirectory on every stop) makes a new file under the
// same path, and the old one, unlinked, never changes again. One lstat says whether the path
// still names the mapped file; if not, the file there now is mapped and followed.
void ShmSelector::check_control_file() noexcept {
  checked_ns_ = coarse_now_ns();
  struct stat st{};
  const bool present = ::lstat(control_path_.c_str(), &st) == 0;
  if (present && static_cast<std::uint64_t>(st.st_dev) == control_dev_ &&
      static_cast<std::uint64_t>(st.st_ino) == control_ino_)
    return;
  try {
    if (!present)
      throw BrokerError(BrokerError::Kind::kConnect,
                        fmt::format("{}: {} (the broker's shm dir was removed?)", control_path_, std::strerror(errno)));
    Control control = open_control();
    std::uint64_t seq = 0, generation = 0;
    Ring next = load(control, seq, generation);
    ring_ = std::move(next);
    adopt(std::move(control));
    seen_seq_ = seq;
    generation_ = generation;
    last_error_.clear();
  } catch (const std::exception& e) {
    try {  // keep the ring; checked again a second later
      last_error_ = fmt::format("the control file mapped is no longer the published one; keeping generation {}: {}",
                                generation_, e.what());
    } catch (...) {
    }
  }
}

bool ShmSelector::refresh() noexcept {
  if (coarse_now_ns() - checked_ns_ >= kCheckEveryNs) check_control_file();
  if (control_seq_->load(std::memory_order_acquire) != seen_seq_) follow_seq();
  return last_error_.empty();
}

}  // namespace samering
