// Payload encoders and parsers of the broker protocol (docs/protocol.md). Every parser reads
// through a bounds-checked Cursor and refuses trailing bytes, so a malformed payload is an
// error frame, never an out-of-bounds read.
#include "protocol.hpp"

#include <algorithm>
#include <stdexcept>

#include "samering/ring.hpp"

namespace samering::broker {

bool is_request_opcode(std::uint8_t op) {
  switch (op) {
#define SAMERING_OPCODE_CASE(name, value, text) case value:
    SAMERING_BROKER_OPCODES(SAMERING_OPCODE_CASE)
#undef SAMERING_OPCODE_CASE
    return true;
    default:
      return false;
  }
}

bool is_reply_opcode(std::uint8_t op) {
  return op == static_cast<std::uint8_t>(Opcode::kError) ||
         ((op & kReplyBit) && is_request_opcode(static_cast<std::uint8_t>(op & ~kReplyBit)));
}

const char* opcode_name(std::uint8_t op) {
  if (op == static_cast<std::uint8_t>(Opcode::kError)) return "ERROR";
  switch (op & ~kReplyBit) {
#define SAMERING_OPCODE_NAME(name, value, text) \
  case value:                                   \
    return text;
    SAMERING_BROKER_OPCODES(SAMERING_OPCODE_NAME)
#undef SAMERING_OPCODE_NAME
    default:
      return "unknown";
  }
}

const char* error_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return "ok";
#define SAMERING_ERROR_NAME(name, value, text, fatal) \
  case ErrorCode::name:                               \
    return text;
      SAMERING_BROKER_ERRORS(SAMERING_ERROR_NAME)
#undef SAMERING_ERROR_NAME
  }
  return "unknown_error";
}

bool is_fatal(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return false;
#define SAMERING_ERROR_FATAL(name, value, text, fatal) \
  case ErrorCode::name:                                \
    return fatal;
      SAMERING_BROKER_ERRORS(SAMERING_ERROR_FATAL)
#undef SAMERING_ERROR_FATAL
  }
  return false;
}

bool valid_ring_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxRingName || name.front() == '.') return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

namespace {

void check_ring(std::string_view ring) {
  if (ring.size() > 0xff) throw std::length_error("samering broker protocol: a ring name longer than 255 bytes");
}

void put_ring(Encoder& e, std::string_view ring) {
  e.u8(static_cast<std::uint8_t>(ring.size()));
  e.bytes(ring);
}

constexpr ParseError bad(const char* reason) { return {ErrorCode::kBadFrame, reason}; }

ParseError take_ring(Cursor& c, std::string_view& ring) {
  std::uint8_t n = 0;
  if (!c.u8(n)) return bad("payload ends before the ring name length");
  if (!c.bytes(n, ring)) return bad("payload ends inside the ring name");
  return {};
}

}  // namespace

// ---- requests ------------------------------------------------------------------------------

void encode_hello(Encoder& e, std::uint32_t id, std::uint16_t min_version, std::uint16_t max_version) {
  e.begin(static_cast<std::uint8_t>(Opcode::kHello), id);
  e.raw(kHelloMagic, sizeof kHelloMagic);
  e.u16(min_version);
  e.u16(max_version);
  e.finish();
}

void encode_pick(Encoder& e, std::uint32_t id, std::string_view ring, std::string_view key) {
  check_ring(ring);
  e.begin(static_cast<std::uint8_t>(Opcode::kPick), id);
  put_ring(e, ring);
  e.bytes(key);
  e.finish();
}

void encode_pick_many(Encoder& e, std::uint32_t id, std::string_view ring, const std::string_view* keys,
                      std::size_t n) {
  check_ring(ring);
  if (n > 0xffffffffu) throw std::length_error("samering broker protocol: more than 2^32 - 1 keys in one PICK_MANY");
  for (std::size_t i = 0; i < n; ++i)
    if (keys[i].size() > kMaxString16)
      throw std::length_error("samering broker protocol: a PICK_MANY key longer than 65535 bytes");
  e.begin(static_cast<std::uint8_t>(Opcode::kPickMany), id);
  put_ring(e, ring);
  e.u32(static_cast<std::uint32_t>(n));
  for (std::size_t i = 0; i < n; ++i) {
    e.u16(static_cast<std::uint16_t>(keys[i].size()));
    e.bytes(keys[i]);
  }
  e.finish();
}

void encode_ring_request(Encoder& e, Opcode op, std::uint32_t id, std::string_view ring, std::uint8_t flags) {
  check_ring(ring);
  e.begin(static_cast<std::uint8_t>(op), id, flags);
  put_ring(e, ring);
  e.finish();
}

void encode_empty(Encoder& e, Opcode op, std::uint32_t id) {
  e.begin(static_cast<std::uint8_t>(op), id);
  e.finish();
}

ParseError parse_hello(std::string_view payload, HelloRequest& out) {
  Cursor c(payload);
  std::string_view magic;
  if (!c.bytes(4, magic) || !c.u16(out.min_version) || !c.u16(out.max_version))
    return bad("HELLO payload is shorter than 8 bytes");
  if (magic != std::string_view(kHelloMagic, 4)) return bad("HELLO magic is not \"SRNG\"");
  if (!c.done()) return bad("trailing bytes after HELLO");
  if (out.min_version > out.max_version) return {ErrorCode::kVersionUnsupported, "HELLO min_version > max_version"};
  return {};
}

HelloOutcome negotiate_hello(std::uint8_t flags, std::string_view payload) {
  if (flags != 0) return {ErrorCode::kBadFrame, "HELLO takes no flags", 0};
  HelloRequest req;
  if (const ParseError err = parse_hello(payload, req)) return {err.code, err.reason, 0};
  const std::uint16_t version = std::min(req.max_version, kProtocolVersion);
  if (version < kMinProtocolVersion || version < req.min_version)
    return {ErrorCode::kVersionUnsupported, "this broker speaks protocol versions 1 and 2 only", 0};
  return {ErrorCode::kOk, "", version};
}

ParseError parse_pick(std::string_view payload, PickRequest& out) {
  Cursor c(payload);
  if (auto e = take_ring(c, out.ring)) return e;
  out.key = c.rest();
  return {};
}

ParseError parse_pick_many(std::string_view payload, std::uint32_t max_keys, std::string_view& ring,
                           std::vector<std::string_view>& keys) {
  keys.clear();
  Cursor c(payload);
  if (auto e = take_ring(c, ring)) return e;
  std::uint32_t n = 0;
  if (!c.u32(n)) return bad("payload ends before the key count");
  if (n > max_keys) return {ErrorCode::kTooManyKeys, "more keys than the broker's max_keys"};
  // Each key needs at least its 2-byte length: a count the payload cannot hold is refused
  // before anything is reserved.
  if (n > c.remaining() / 2) return bad("key count larger than the payload can hold (truncated key list)");
  keys.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    std::uint16_t len = 0;
    std::string_view key;
    if (!c.u16(len) || !c.bytes(len, key)) return bad("key list truncated");
    keys.push_back(key);
  }
  if (!c.done()) return bad("trailing bytes after the key list");
  return {};
}

ParseError parse_ring_request(std::string_view payload, bool empty_allowed, RingRequest& out) {
  Cursor c(payload);
  if (auto e = take_ring(c, out.ring)) return e;
  if (!c.done()) return bad("trailing bytes after the ring name");
  if (out.ring.empty() && !empty_allowed) return bad("empty ring name");
  return {};
}

// ---- replies -------------------------------------------------------------------------------

void encode_hello_reply(Encoder& e, std::uint32_t id, const HelloReply& r) {
  if (r.version >= 2 && r.shm_dir.size() > kMaxString16)
    throw std::length_error("samering broker protocol: a shm dir longer than 65535 bytes");
  e.begin(reply_opcode(Opcode::kHello), id);
  e.u16(r.version);
  e.u16(0);
  e.u32(r.max_frame);
  e.u32(r.max_keys);
  e.u32(r.broker_pid);
  if (r.version >= 2) {
    e.u16(static_cast<std::uint16_t>(r.shm_dir.size()));
    e.bytes(r.shm_dir);
  }
  e.finish();
}

void encode_pick_reply(Encoder& e, std::uint32_t id, std::uint64_t generation, std::int32_t index,
                       std::string_view address) {
  e.begin(reply_opcode(Opcode::kPick), id);
  e.u64(generation);
  e.i32(index);
  e.u16(static_cast<std::uint16_t>(address.size()));  // ≤ 65535: protocol_misfit at load
  e.bytes(address);
  e.finish();
}

void encode_pick_many_reply(Encoder& e, std::uint32_t id, std::uint64_t generation, const std::int32_t* indices,
                            std::size_t n) {
  e.begin(reply_opcode(Opcode::kPickMany), id);
  e.u64(generation);
  e.u32(static_cast<std::uint32_t>(n));
  e.raw(indices, n * sizeof(std::int32_t));
  e.finish();
}

void encode_ring_info_reply(Encoder& e, std::uint32_t id, std::uint64_t generation, const Ring& ring) {
  e.begin(reply_opcode(Opcode::kRingInfo), id);
  e.u64(generation);
  e.u64(ring.image().size());
  const std::string_view flavor = ring.flavor();  // ≤ 255 and every address ≤ 65535: protocol_misfit
  e.u8(static_cast<std::uint8_t>(flavor.size()));
  e.bytes(flavor);
  e.u32(static_cast<std::uint32_t>(ring.size()));
  for (std::size_t i = 0; i < ring.size(); ++i) {
    const std::string_view address = ring.server(i).address;
    e.u16(static_cast<std::uint16_t>(address.size()));
    e.bytes(address);
  }
  e.finish();
}

void encode_ring_image_reply_head(Encoder& e, std::uint32_t id, std::uint64_t generation, std::uint64_t image_size,
                                  bool with_bytes) {
  if (with_bytes && image_size > kMaxReplyFrame - 16)
    throw std::length_error("samering broker protocol: an image larger than a reply frame");
  e.begin(reply_opcode(Opcode::kRingImage), id);
  e.u64(generation);
  e.u64(image_size);
  e.finish(with_bytes ? static_cast<std::uint32_t>(image_size) : 0);
}

void encode_error(Encoder& e, std::uint32_t id, ErrorCode code, std::string_view message, bool fatal) {
  e.begin(static_cast<std::uint8_t>(Opcode::kError), id);
  e.u16(static_cast<std::uint16_t>(code));
  e.u8(fatal ? 1 : 0);
  e.u8(0);
  e.bytes(message.substr(0, 4096));
  e.finish();
}

std::string protocol_misfit(const Ring& ring) {
  if (ring.flavor().size() > 0xff) return "flavor";
  for (std::size_t i = 0; i < ring.size(); ++i)
    if (ring.server(i).address.size() > kMaxString16) return "servers[" + std::to_string(i) + "].address";
  return {};
}

ParseError parse_hello_reply(std::string_view payload, HelloReply& out) {
  Cursor c(payload);
  std::uint16_t reserved = 0;
  if (!c.u16(out.version) || !c.u16(reserved) || !c.u32(out.max_frame) || !c.u32(out.max_keys) ||
      !c.u32(out.broker_pid))
    return bad("HELLO reply is shorter than 16 bytes");
  out.shm_dir.clear();
  if (out.version >= 2) {
    std::uint16_t n = 0;
    std::string_view dir;
    if (!c.u16(n) || !c.bytes(n, dir)) return bad("version-2 HELLO reply ends inside the shm dir");
    out.shm_dir.assign(dir);
  }
  if (!c.done()) return bad(out.version >= 2 ? "trailing bytes after a version-2 HELLO reply"
                                             : "a version-1 HELLO reply is not 16 bytes");
  return {};
}

ParseError parse_pick_reply(std::string_view payload, PickReply& out) {
  Cursor c(payload);
  std::uint16_t n = 0;
  if (!c.u64(out.generation) || !c.i32(out.index) || !c.u16(n) || !c.bytes(n, out.address) || !c.done())
    return bad("malformed PICK reply");
  return {};
}

ParseError parse_pick_many_reply(std::string_view payload, PickManyReply& out) {
  Cursor c(payload);
  if (!c.u64(out.generation) || !c.u32(out.count)) return bad("malformed PICK_MANY reply");
  if (c.remaining() != std::size_t{out.count} * 4) return bad("PICK_MANY reply count does not match its size");
  out.indices = c.rest();
  return {};
}

ParseError parse_ring_info_reply(std::string_view payload, RingInfoReply& out) {
  Cursor c(payload);
  std::uint32_t count = 0;
  std::uint8_t flavor_len = 0;
  std::string_view flavor;
  if (!c.u64(out.generation) || !c.u64(out.image_size) || !c.u8(flavor_len) || !c.bytes(flavor_len, flavor) ||
      !c.u32(count))
    return bad("malformed RING_INFO reply");
  if (count > c.remaining() / 2) return bad("RING_INFO server count larger than the reply");
  out.flavor.assign(flavor);
  out.servers.clear();
  out.servers.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    std::uint16_t n = 0;
    std::string_view address;
    if (!c.u16(n) || !c.bytes(n, address)) return bad("RING_INFO server list truncated");
    out.servers.emplace_back(address);
  }
  if (!c.done()) return bad("trailing bytes after RING_INFO");
  return {};
}

ParseError parse_ring_image_reply(std::string_view payload, bool with_fd, RingImageReply& out) {
  Cursor c(payload);
  if (!c.u64(out.generation) || !c.u64(out.image_size)) return bad("malformed RING_IMAGE reply");
  out.bytes = c.rest();
  if (with_fd ? !out.bytes.empty() : out.bytes.size() != out.image_size)
    return bad("RING_IMAGE reply size does not match its image_size");
  return {};
}

ParseError parse_error_reply(std::string_view payload, ErrorReply& out) {
  Cursor c(payload);
  std::uint16_t code = 0;
  std::uint8_t fatal = 0, reserved = 0;
  if (!c.u16(code) || !c.u8(fatal) || !c.u8(reserved)) return bad("malformed ERROR reply");
  out.code = static_cast<ErrorCode>(code);
  out.fatal = fatal != 0;
  out.message = c.rest();
  return {};
}

}  // namespace samering::broker
