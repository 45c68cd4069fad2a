// BrokerSelector (samering/broker.hpp): the broker protocol's client requests over a Connection.
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include <fmt/format.h>

#include "connection.hpp"
#include "samering/broker.hpp"
#include "samering/error.hpp"
#include "samering/unique_fd.hpp"

namespace samering {

using broker::Connection;
using broker::Encoder;
using broker::Frame;
using broker::Opcode;

namespace {

void expect_opcode(const Frame& f, Opcode op, const std::string& path) {
  if (f.header.opcode != broker::reply_opcode(op))
    throw BrokerError(BrokerError::Kind::kProtocol, "samering broker " + path + ": expected a " +
                                                        broker::opcode_name(static_cast<std::uint8_t>(op)) +
                                                        " reply, got " + broker::opcode_name(f.header.opcode));
}

[[noreturn]] void malformed(const std::string& path, const char* reason) {
  throw BrokerError(BrokerError::Kind::kProtocol, "samering broker " + path + ": " + reason);
}

// Keys per PICK_MANY frame and request bytes per pipelined batch: below the broker's limits and
// small enough that requests and replies both fit in the socket buffers (no write/write deadlock).
constexpr std::size_t kPipelineBytes = 32 * 1024;

}  // namespace

BrokerSelector::BrokerSelector(std::string socket_path, std::string ring, BrokerOptions options)
    : conn_(std::make_unique<Connection>(std::move(socket_path), options.timeout_ms)), ring_(std::move(ring)) {
  if (!broker::valid_ring_name(ring_))
    throw BrokerError(BrokerError::Kind::kConnect, "samering broker: invalid ring name \"" + ring_ + "\"");
  if (options.connect_now) info();  // connects, shakes hands and checks that the ring exists
}

BrokerSelector::~BrokerSelector() = default;
BrokerSelector::BrokerSelector(BrokerSelector&&) noexcept = default;
BrokerSelector& BrokerSelector::operator=(BrokerSelector&&) noexcept = default;

const std::string& BrokerSelector::socket_path() const noexcept { return conn_->path(); }
const std::string& BrokerSelector::ring_name() const noexcept { return ring_; }
void BrokerSelector::close() noexcept { conn_->drop(); }

BrokerPick BrokerSelector::pick(std::string_view key) {
  conn_->begin_batch();
  const std::uint32_t id = conn_->next_id();
  Encoder e = conn_->encoder();
  broker::encode_pick(e, id, ring_, key);
  BrokerPick result;
  auto on_reply = [&](const Frame& f, std::size_t) {
    expect_opcode(f, Opcode::kPick, conn_->path());
    broker::PickReply r;
    if (broker::parse_pick_reply(f.payload, r)) malformed(conn_->path(), "malformed PICK reply");
    last_address_.assign(r.address);
    result.generation = r.generation;
    result.index = r.index;
  };
  conn_->exchange(1, id, on_reply);
  result.address = last_address_;
  return result;
}

std::uint64_t BrokerSelector::pick_many(const std::string_view* keys, std::size_t n, std::int32_t* out,
                                        bool* one_generation) {
  std::uint64_t generation = 0;
  if (one_generation) *one_generation = true;
  std::size_t done = 0;
  while (done < n) {
    conn_->begin_batch();
    const auto& hello = conn_->hello();
    const std::size_t max_keys = hello.max_keys ? hello.max_keys : broker::kDefaultMaxKeys;
    const std::size_t max_frame = hello.max_frame ? hello.max_frame : broker::kDefaultMaxFrame;
    // Pipeline several PICK_MANY frames in one write, up to ~1 MiB of requests per exchange.
    struct Chunk {
      std::size_t first, count;
    };
    std::vector<Chunk> chunks;
    std::size_t at = done, batch_bytes = 0;
    Encoder e = conn_->encoder();
    const std::uint32_t first_id = conn_->next_id() ;
    std::uint32_t id = first_id;
    while (at < n && batch_bytes < (1u << 20)) {
      std::size_t count = 0, bytes = 1 + ring_.size() + 4;
      while (at + count < n && count < max_keys) {
        const std::size_t len = keys[at + count].size();
        if (len > 0xffff)
          throw BrokerError(BrokerError::Kind::kProtocol, "samering broker: a key longer than 65535 bytes cannot be "
                                                          "sent in PICK_MANY");
        if (count > 0 && bytes + 2 + len > max_frame) break;
        bytes += 2 + len;
        ++count;
      }
      if (!chunks.empty()) id = conn_->next_id();
      broker::encode_pick_many(e, id, ring_, keys + at, count);
      chunks.push_back({at, count});
      at += count;
      batch_bytes += bytes;
    }
    auto on_reply = [&](const Frame& f, std::size_t i) {
      expect_opcode(f, Opcode::kPickMany, conn_->path());
      broker::PickManyReply r;
      if (broker::parse_pick_many_reply(f.payload, r)) malformed(conn_->path(), "malformed PICK_MANY reply");
      if (r.count != chunks[i].count) malformed(conn_->path(), "PICK_MANY reply has the wrong number of indices");
      std::memcpy(out + chunks[i].first, r.indices.data(), r.indices.size());
      if (one_generation && generation != 0 && r.generation != generation) *one_generation = false;
      generation = std::max(generation, r.generation);
    };
    conn_->exchange(chunks.size(), first_id, on_reply);
    done = at;
  }
  return generation;
}

void BrokerSelector::pick_pipelined(const std::string_view* keys, std::size_t n, std::int32_t* out,
                                    std::uint64_t* generations) {
  std::size_t done = 0;
  while (done < n) {
    conn_->begin_batch();
    Encoder e = conn_->encoder();
    const std::uint32_t first_id = conn_->next_id();
    std::size_t count = 0, bytes = 0;
    while (done + count < n && (count == 0 || bytes < kPipelineBytes)) {
      const std::uint32_t id = count == 0 ? first_id : conn_->next_id();
      broker::encode_pick(e, id, ring_, keys[done + count]);
      bytes += broker::kHeaderSize + 1 + ring_.size() + keys[done + count].size();
      ++count;
    }
    auto on_reply = [&](const Frame& f, std::size_t i) {
      expect_opcode(f, Opcode::kPick, conn_->path());
      broker::PickReply r;
      if (broker::parse_pick_reply(f.payload, r)) malformed(conn_->path(), "malformed PICK reply");
      out[done + i] = r.index;
      if (generations) generations[done + i] = r.generation;
    };
    conn_->exchange(count, first_id, on_reply);
    done += count;
  }
}

BrokerRingInfo BrokerSelector::info() {
  conn_->begin_batch();
  const std::uint32_t id = conn_->next_id();
  Encoder e = conn_->encoder();
  broker::encode_ring_request(e, Opcode::kRingInfo, id, ring_);
  BrokerRingInfo info;
  auto on_reply = [&](const Frame& f, std::size_t) {
    expect_opcode(f, Opcode::kRingInfo, conn_->path());
    broker::RingInfoReply r;
    if (broker::parse_ring_info_reply(f.payload, r)) malformed(conn_->path(), "malformed RING_INFO reply");
    info.generation = r.generation;
    info.image_size = r.image_size;
    info.flavor = std::move(r.flavor);
    info.servers = std::move(r.servers);
  };
  conn_->exchange(1, id, on_reply);
  return info;
}

Ring BrokerSelector::ring(bool by_descriptor, std::uint64_t* generation) {
  conn_->begin_batch();
  const std::uint32_t id = conn_->next_id();
  Encoder e = conn_->encoder();
  broker::encode_ring_request(e, Opcode::kRingImage, id, ring_, by_descriptor ? broker::kFlagImageFd : 0);
  int received = -1;
  std::optional<Ring> result;
  std::uint64_t gen = 0, size = 0;
  auto on_reply = [&](const Frame& f, std::size_t) {
    expect_opcode(f, Opcode::kRingImage, conn_->path());
    broker::RingImageReply r;
    if (broker::parse_ring_image_reply(f.payload, by_descriptor, r)) malformed(conn_->path(), "malformed RING_IMAGE reply");
    gen = r.generation;
    size = r.image_size;
    if (!by_descriptor) result.emplace(RingImage::from_bytes({reinterpret_cast<const std::byte*>(r.bytes.data()), r.bytes.size()}));
  };
  try {
    conn_->exchange(1, id, on_reply, by_descriptor ? &received : nullptr);
  } catch (...) {
    UniqueFd{received}.reset();
    throw;
  }
  if (by_descriptor) {
    const UniqueFd fd(received);
    if (!fd) malformed(conn_->path(), "RING_IMAGE reply came without a descriptor");
    struct stat st{};
    if (::fstat(fd.get(), &st) != 0 || static_cast<std::uint64_t>(st.st_size) != size || size == 0)
      throw ImageError(fmt::format("samering broker {}: the image descriptor does not hold {} bytes", conn_->path(), size));
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd.get(), 0);  // the mapping outlives the descriptor
    if (p == MAP_FAILED)
      throw ImageError(fmt::format("samering broker {}: cannot map the image: {}", conn_->path(), std::strerror(errno)));
    std::shared_ptr<const void> owner(p, [size](const void* q) { ::munmap(const_cast<void*>(q), size); });
    result.emplace(Ring::view({static_cast<const std::byte*>(p), size}, std::move(owner)));
  }
  if (generation) *generation = gen;
  return std::move(*result);
}

void BrokerSelector::ping() {
  conn_->begin_batch();
  const std::uint32_t id = conn_->next_id();
  Encoder e = conn_->encoder();
  e.begin(static_cast<std::uint8_t>(Opcode::kPing), id);
  e.bytes("ping");
  e.finish();
  auto on_reply = [&](const Frame& f, std::size_t) {
    expect_opcode(f, Opcode::kPing, conn_->path());
    if (f.payload != "ping") malformed(conn_->path(), "PING reply does not echo the payload");
  };
  conn_->exchange(1, id, on_reply);
}

namespace {
std::string text_request(Connection& conn, Opcode op, std::string_view ring, bool with_ring) {
  conn.begin_batch();
  const std::uint32_t id = conn.next_id();
  Encoder e = conn.encoder();
  if (with_ring)
    broker::encode_ring_request(e, op, id, ring);
  else
    broker::encode_empty(e, op, id);
  std::string text;
  auto on_reply = [&](const Frame& f, std::size_t) {
    expect_opcode(f, op, conn.path());
    text.assign(f.payload);
  };
  conn.exchange(1, id, on_reply);
  return text;
}
}  // namespace

std::string BrokerSelector::stats() { return text_request(*conn_, Opcode::kStats, {}, false); }
std::string BrokerSelector::reload(std::string_view ring) { return text_request(*conn_, Opcode::kReload, ring, true); }

std::uint32_t BrokerSelector::broker_pid() {
  if (!conn_->connected() || conn_->hello().broker_pid == 0) ping();
  return conn_->hello().broker_pid;
}

std::string BrokerSelector::shm_dir() {
  if (!conn_->connected() || conn_->hello().version == 0) ping();
  if (conn_->hello().version < 2)
    throw BrokerError(BrokerError::Kind::kProtocol,
                      fmt::format("samering broker {}: speaks protocol version {}, whose handshake does not name the "
                                  "shm dir (STATS \"shm_dir\" does)",
                                  conn_->path(), conn_->hello().version));
  return conn_->hello().shm_dir;
}

uid_t BrokerSelector::broker_uid() {
  if (!conn_->connected()) ping();
  return conn_->peer_uid();
}

}  // namespace samering
