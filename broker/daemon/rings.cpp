#include "rings.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "log.hpp"
#include "samering/error.hpp"
#include "samering/spec.hpp"

namespace samering::broker {

std::string read_spec_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(path + ": cannot read spec file: " + std::strerror(errno));
  std::string text;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      throw std::runtime_error(path + ": cannot read spec file: " + std::strerror(e));
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > (64u << 20)) {
      ::close(fd);
      throw std::runtime_error(path + ": spec file larger than 64 MiB");
    }
  }
  ::close(fd);
  return text;
}

RingSet::~RingSet() {
  for (auto& r : rings_)
    if (r->image_fd >= 0) ::close(r->image_fd);
}

bool RingSet::install(RingEntry& entry, std::string spec_text) {
  // 1. parse + build + validate (Ring's constructor validates the image) — nothing changes yet.
  Ring ring = [&] {
    try {
      return ring_from_json(spec_text);
    } catch (const SpecError& e) {
      throw std::runtime_error(entry.spec_path + ": " + e.what());
    } catch (const ImageError& e) {
      throw std::runtime_error(entry.spec_path + ": " + e.what());
    }
  }();
  const auto image = ring.image();
  if (entry.ring && entry.ring->image().size() == image.size() &&
      std::memcmp(entry.ring->image().data(), image.data(), image.size()) == 0) {
    entry.spec_text = std::move(spec_text);  // same ring (e.g. only whitespace changed)
    return false;
  }
  // 2. the generation: the next one, continuing what the shm control block names across restarts
  // (a restart with the same image keeps it, so mapped readers do not even re-map).
  std::uint64_t generation = entry.generation + 1;
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
  const int fd = make_sealed_memfd("samering-" + entry.name + "-" + std::to_string(generation), image);
  try {
    if (entry.shm && !already_published) entry.shm->publish(generation, image);
  } catch (...) {
    ::close(fd);
    throw;
  }
  // 4. swap (single-threaded: no request sees a half state).
  std::vector<std::string_view> addresses;
  addresses.reserve(ring.size());
  for (std::size_t i = 0; i < ring.size(); ++i) addresses.push_back(ring.server(i).address);
  if (entry.image_fd >= 0) ::close(entry.image_fd);
  entry.image_fd = fd;
  entry.ring.emplace(std::move(ring));
  entry.addresses = std::move(addresses);
  entry.generation = generation;
  entry.spec_text = std::move(spec_text);
  return true;
}

void RingSet::load_all() {
  for (const auto& source : config_.rings) {
    auto entry = std::make_unique<RingEntry>();
    entry->name = source.name;
    entry->spec_path = source.spec_path;
    if (!config_.shm_dir.empty()) {
      try {
        entry->shm = std::make_unique<ShmPublisher>(config_.shm_dir, source.name, (config_.socket_mode & 0444) | 0200,
                                                    std::chrono::milliseconds(static_cast<long>(config_.shm_grace_s * 1000)));
      } catch (const std::exception& e) {
        throw std::runtime_error("ring " + source.name + ": " + e.what());
      }
    }
    try {
      install(*entry, read_spec_file(source.spec_path));
    } catch (const std::exception& e) {
      throw std::runtime_error("ring " + source.name + ": " + e.what());
    }
    log_info("ring " + entry->name + ": generation " + std::to_string(entry->generation) + ", " +
             std::string(entry->ring->flavor()) + ", " + std::to_string(entry->ring->size()) + " servers from " +
             entry->spec_path);
    rings_.push_back(std::move(entry));
  }
}

ReloadOutcome RingSet::reload(RingEntry& entry, std::string_view trigger) {
  ReloadOutcome out;
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
    if (out.changed)
      log_info("ring " + entry.name + " reloaded (" + std::string(trigger) + "): generation " +
               std::to_string(entry.generation) + ", " + std::to_string(entry.ring->size()) + " servers");
    else
      ++entry.reloads_unchanged;
  } catch (const std::exception& e) {
    out.ok = false;
    out.generation = entry.generation;
    out.error = e.what();
    ++entry.reloads_failed;
    ++reloads_failed;
    entry.last_error = out.error;
    last_reload_error = "ring " + entry.name + ": " + out.error;
    log_error("ring " + entry.name + " reload (" + std::string(trigger) + ") failed, keeping generation " +
              std::to_string(entry.generation) + ": " + out.error);
  }
  return out;
}

}  // namespace samering::broker
