// ShmSelector (samering/broker.hpp): maps <dir>/<ring>.ctl and <dir>/<ring>.<generation>.img.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "samering/broker.hpp"
#include "samering/error.hpp"
#include "protocol.hpp"
#include "shm_format.hpp"

namespace samering {

namespace shm = broker::shm;

namespace {

// The image header's checksum field (docs/ring-image.md: magic 8, version 4, header size 4,
// total size 8, then the checksum).
constexpr std::size_t kImageChecksumOffset = 24;

std::shared_ptr<const void> map_file(const std::string& path, std::size_t& size, BrokerError::Kind open_error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    throw BrokerError(open_error, path + ": " + std::strerror(e));
  }
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    throw ImageError(path + ": fstat: " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw ImageError(path + ": not a regular file");
  }
  size = static_cast<std::size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    throw ImageError(path + ": empty file (truncated)");
  }
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  const int e = errno;
  ::close(fd);  // the mapping keeps the file; no descriptor survives into forked children
  if (p == MAP_FAILED) throw ImageError(path + ": mmap: " + std::strerror(e));
  const std::size_t n = size;
  return {p, [n](const void* q) { ::munmap(const_cast<void*>(q), n); }};
}

std::shared_ptr<const void> map_control(const std::string& dir, const std::string& ring) {
  if (!broker::valid_ring_name(ring))
    throw BrokerError(BrokerError::Kind::kConnect, "samering shm: invalid ring name \"" + ring + "\"");
  const std::string path = dir + "/" + shm::control_file_name(ring);
  std::size_t size = 0;
  auto map = map_file(path, size, BrokerError::Kind::kConnect);
  const auto* c = static_cast<const shm::Control*>(map.get());
  if (size < sizeof(shm::Control) || std::memcmp(c->magic, shm::kControlMagic, sizeof c->magic) != 0 ||
      c->version != shm::kControlVersion || c->size != sizeof(shm::Control))
    throw ImageError(path + ": not a samering control file (bad magic, version or size)");
  return map;
}

}  // namespace

ShmSelector::ShmSelector(std::string dir, std::string ring)
    : dir_(std::move(dir)),
      name_(std::move(ring)),
      control_map_(map_control(dir_, name_)),
      control_seq_(&static_cast<const shm::Control*>(control_map_.get())->seq),
      ring_(load(seen_seq_, generation_)) {}

ShmSelector::~ShmSelector() = default;
ShmSelector::ShmSelector(ShmSelector&&) noexcept = default;
ShmSelector& ShmSelector::operator=(ShmSelector&&) noexcept = default;

Ring ShmSelector::load(std::uint64_t& seq, std::uint64_t& generation) {
  const auto& control = *static_cast<const shm::Control*>(control_map_.get());
  // The broker removes an image only a grace period after it was replaced, so a missing file means
  // the control moved on while we read it: read the control again (a few times).
  for (int attempt = 0;; ++attempt) {
    shm::Snapshot snap;
    if (!shm::read_snapshot(control, snap))
      throw ImageError(dir_ + "/" + shm::control_file_name(name_) + ": the control block stays mid-update");
    if (snap.generation == 0)
      throw ImageError(dir_ + "/" + shm::control_file_name(name_) + ": no image published yet");
    const std::string path = dir_ + "/" + shm::image_file_name(name_, snap.generation);
    std::size_t size = 0;
    std::shared_ptr<const void> map;
    try {
      map = map_file(path, size, BrokerError::Kind::kIo);
    } catch (const BrokerError& e) {
      shm::Snapshot again;
      if (attempt < 3 && shm::read_snapshot(control, again) && again.seq != snap.seq) continue;
      throw ImageError(std::string(e.what()) + " (the image of generation " + std::to_string(snap.generation) +
                       " named by the control block)");
    }
    if (size != snap.image_size)
      throw ImageError(path + ": invalid ring image: truncated or resized: the control block says " +
                       std::to_string(snap.image_size) + " bytes, the file has " + std::to_string(size));
    std::span<const std::byte> bytes(static_cast<const std::byte*>(map.get()), size);
    Ring ring = [&] {
      try {
        return Ring::view(bytes, map);
      } catch (const ImageError& e) {
        throw ImageError(path + ": " + e.what());
      }
    }();
    std::uint64_t checksum = 0;
    std::memcpy(&checksum, bytes.data() + kImageChecksumOffset, sizeof checksum);
    if (checksum != snap.image_checksum)
      throw ImageError(path + ": invalid ring image: its checksum differs from the one the control block names");
    seq = snap.seq;
    generation = snap.generation;
    return ring;
  }
}

void ShmSelector::follow() noexcept {
  const std::uint64_t now = control_seq_->load(std::memory_order_acquire);
  try {
    std::uint64_t seq = 0, generation = 0;
    Ring next = load(seq, generation);
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

bool ShmSelector::refresh() noexcept {
  if (control_seq_->load(std::memory_order_acquire) != seen_seq_) follow();
  return last_error_.empty();
}

}  // namespace samering
