#include "rings.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "log.hpp"
#include "protocol.hpp"
#include "samering/error.hpp"
#include "samering/spec.hpp"

namespace samering::broker {

namespace {

constexpr std::size_t kMaxSpecFile = 64u << 20;

[[noreturn]] void refuse(const std::string& reason) { throw LoadError(reason, reason); }

// The wall clock in microseconds: a broker process's first generation (see rings.hpp).
std::uint64_t clock_generation() {
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch());
  return us.count() > 0 ? static_cast<std::uint64_t>(us.count()) : 1;
}

}  // namespace

std::string read_spec_file(const std::string& path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (the broker has one thread).
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd) refuse(fmt::format("{}: cannot read spec file: {}", path, std::strerror(errno)));
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) refuse(fmt::format("{}: cannot read spec file: {}", path, std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) refuse(fmt::format("{}: not a regular file (a spec file must be one)", path));
  if (static_cast<std::uint64_t>(st.st_size) > kMaxSpecFile) refuse(path + ": spec file larger than 64 MiB");
  std::string text;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) refuse(fmt::format("{}: cannot read spec file: {}", path, std::strerror(errno)));
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > kMaxSpecFile) refuse(path + ": spec file larger than 64 MiB");  // it grew meanwhile
  }
  return text;
}

bool RingSet::install(RingEntry& entry, std::string spec_text) {
  // 1. parse + build + validate (Ring's constructor validates the image) — nothing changes yet.
  Ring built = [&] {
    try {
      return ring_from_json(spec_text);
    } catch (const SpecError& e) {
      throw LoadError(fmt::format("{}: {}", entry.spec_path, e.what()), entry.spec_path + ": invalid spec");
    } catch (const ImageError& e) {
      throw LoadError(fmt::format("{}: {}", entry.spec_path, e.what()), entry.spec_path + ": invalid ring image");
    }
  }();
  if (const std::string misfit = protocol_misfit(built); !misfit.empty())
    refuse(fmt::format("{}: {}: longer than the protocol carries (255 bytes for the flavor, 65,535 for an address)",
                       entry.spec_path, misfit));
  const auto image = built.image();
  if (entry.ring && entry.ring->image().size() == image.size() &&
      std::memcmp(entry.ring->image().data(), image.data(), image.size()) == 0) {
    entry.spec_text = std::move(spec_text);  // same ring (e.g. only whitespace changed)
    return false;
  }
  // 2. the generation (rings.hpp): a restart with the published image keeps its generation, so
  // mapped readers do not even re-map.
  std::uint64_t generation = entry.ring ? entry.generation + 1 : clock_generation();
  bool already_published = false;
  if (entry.shm) {
    const std::uint64_t published = entry.shm->published_generation();
    if (!entry.ring && published > 0 && entry.shm->published_image_equals(image)) {
      generation = published;
      already_published = true;
    } else {
      generation = std::max(generation, published + 1);
    }
  }
  // 3. everything that can fail, before the swap.
  auto fd =
      std::make_shared<const UniqueFd>(make_sealed_memfd(fmt::format("samering-{}-{}", entry.name, generation), image));
  if (entry.shm && !already_published) entry.shm->publish(generation, image);
  // 4. swap (single-threaded: no request sees a half state). Replies still queued keep the old
  // ring and memfd alive through their shared_ptrs.
  auto ring = std::make_shared<const Ring>(std::move(built));
  std::vector<std::string_view> addresses;
  addresses.reserve(ring->size());
  for (std::size_t i = 0; i < ring->size(); ++i) addresses.push_back(ring->server(i).address);
  entry.image_fd = std::move(fd);
  entry.ring = std::move(ring);
  entry.addresses = std::move(addresses);
  entry.generation = generation;
  entry.spec_text = std::move(spec_text);
  return true;
}

void RingSet::load_all() {
  UniqueFd shm_dir;
  if (!config_.shm_dir.empty()) {
    // Directories made for readers get the socket mode's read bits as read and search bits.
    const unsigned read = config_.socket_mode & 0044;
    shm_dir = open_shm_dir(config_.shm_dir, 0700 | read | (read >> 2));
  }
  for (const auto& source : config_.rings) {
    auto entry = std::make_unique<RingEntry>();
    entry->name = source.name;
    entry->spec_path = source.spec_path;
    if (shm_dir) {
      try {
        entry->shm =
            std::make_unique<ShmPublisher>(shm_dir, config_.shm_dir, source.name, (config_.socket_mode & 0444) | 0200,
                                           std::chrono::milliseconds(static_cast<long>(config_.shm_grace_s * 1000)));
      } catch (const std::exception& e) {
        throw std::runtime_error(fmt::format("ring {}: {}", source.name, e.what()));
      }
    }
    try {
      install(*entry, read_spec_file(source.spec_path));
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("ring {}: {}", source.name, e.what()));
    }
    log_info(fmt::format("ring {}: generation {}, {}, {} servers from {}", entry->name, entry->generation,
                         entry->ring->flavor(), entry->ring->size(), entry->spec_path));
    rings_.push_back(std::move(entry));
  }
}

ReloadOutcome RingSet::reload(RingEntry& entry, std::string_view trigger) {
  ReloadOutcome out;
  std::string public_reason;
  try {
    std::string text = read_spec_file(entry.spec_path);
    if (text == entry.spec_text) {
      out.ok = true;
      out.generation = entry.generation;
      ++entry.reloads_ok;
      ++entry.reloads_unchanged;
      ++reloads_ok;
      return out;
    }
    out.changed = install(entry, std::move(text));
    out.ok = true;
    out.generation = entry.generation;
    ++entry.reloads_ok;
    ++reloads_ok;
    entry.last_error.clear();
    entry.last_error_detail.clear();
    if (out.changed)
      log_info(fmt::format("ring {} reloaded ({}): generation {}, {} servers", entry.name, trigger, entry.generation,
                           entry.ring->size()));
    else
      ++entry.reloads_unchanged;
    return out;
  } catch (const LoadError& e) {
    out.error = e.what();
    public_reason = e.public_reason();
  } catch (const std::exception& e) {  // publication (memfd, shm dir): names files of the broker's own
    out.error = e.what();
    public_reason = e.what();
  }
  out.ok = false;
  out.generation = entry.generation;
  ++entry.reloads_failed;
  ++reloads_failed;
  entry.last_error = public_reason;
  entry.last_error_detail = out.error;
  last_reload_error = fmt::format("ring {}: {}", entry.name, public_reason);
  log_error(fmt::format("ring {} reload ({}) failed, keeping generation {}: {}", entry.name, trigger, entry.generation,
                        out.error));
  return out;
}

}  // namespace samering::broker
