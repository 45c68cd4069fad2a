// Payload encoders and parsers of the broker protocol (docs/protocol.md). Every parser reads
// through a bounds-checked Cursor and refuses trailing bytes, so a malformed payload is an
// error frame, never an out-of-bounds read.
#include "protocol.hpp"

#include "samering/ring.hpp"

namespace samering::broker {

bool is_request_opcode(std::uint8_t op) {
  switch (static_cast<Opcode>(op)) {
    case Opcode::kHello:
    case Opcode::kPing:
    case Opcode::kPick:
    case Opcode::kPickMany:
    case Opcode::kRingInfo:
    case Opcode::kRingImage:
    case Opcode::kStats:
    case Opcode::kReload:
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
  switch (static_cast<Opcode>(op & ~kReplyBit)) {
    case Opcode::kHello: return "HELLO";
    case Opcode::kPing: return "PING";
    case Opcode::kPick: return "PICK";
    case Opcode::kPickMany: return "PICK_MANY";
    case Opcode::kRingInfo: return "RING_INFO";
    case Opcode::kRingImage: return "RING_IMAGE";
    case Opcode::kStats: return "STATS";
    case Opcode::kReload: return "RELOAD";
    default: break;
  }
  return op == static_cast<std::uint8_t>(Opcode::kError) ? "ERROR" : "unknown";
}

const char* error_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return "ok";
    case ErrorCode::kBadFrame: return "bad_frame";
    case ErrorCode::kUnknownOpcode: return "unknown_opcode";
    case ErrorCode::kFrameTooLarge: return "frame_too_large";
    case ErrorCode::kTooManyKeys: return "too_many_keys";
    case ErrorCode::kNoSuchRing: return "no_such_ring";
    case ErrorCode::kPermissionDenied: return "permission_denied";
    case ErrorCode::kReloadFailed: return "reload_failed";
    case ErrorCode::kBadHeader: return "bad_header";
    case ErrorCode::kHandshakeRequired: return "handshake_required";
    case ErrorCode::kVersionUnsupported: return "version_unsupported";
    case ErrorCode::kTooManyConnections: return "too_many_connections";
    case ErrorCode::kIdleTimeout: return "idle_timeout";
    case ErrorCode::kShuttingDown: return "shutting_down";
    case ErrorCode::kInternal: return "internal";
    case ErrorCode::kUnavailable: return "unavailable";
  }
  return "unknown_error";
}

bool is_fatal(ErrorCode code) {
  switch (code) {
    case ErrorCode::kFrameTooLarge:
    case ErrorCode::kBadHeader:
    case ErrorCode::kHandshakeRequired:
    case ErrorCode::kVersionUnsupported:
    case ErrorCode::kTooManyConnections:
    case ErrorCode::kIdleTimeout:
    case ErrorCode::kShuttingDown:
      return true;
    default:
      return false;
  }
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

void put_ring(Encoder& e, std::string_view ring) {
  e.u8(static_cast<std::uint8_t>(ring.size()));
  e.bytes(ring.substr(0, 255));
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
  e.begin(static_cast<std::uint8_t>(Opcode::kPick), id);
  put_ring(e, ring);
  e.bytes(key);
  e.finish();
}

void encode_pick_many(Encoder& e, std::uint32_t id, std::string_view ring, const std::string_view* keys,
                      std::size_t n) {
  e.begin(static_cast<std::uint8_t>(Opcode::kPickMany), id);
  put_ring(e, ring);
  e.u32(static_cast<std::uint32_t>(n));
  for (std::size_t i = 0; i < n; ++i) {
    e.u16(static_cast<std::uint16_t>(keys[i].size()));
    e.bytes(keys[i].substr(0, 0xffff));
  }
  e.finish();
}

void encode_ring_request(Encoder& e, Opcode op, std::uint32_t id, std::string_view ring, std::uint8_t flags) {
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
  if (out.min_version > out.max_version) return bad("HELLO min_version > max_version");
  return {};
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
  e.begin(reply_opcode(Opcode::kHello), id);
  e.u16(r.version);
  e.u16(0);
  e.u32(r.max_frame);
  e.u32(r.max_keys);
  e.u32(r.broker_pid);
  e.finish();
}

void encode_pick_reply(Encoder& e, std::uint32_t id, std::uint64_t generation, std::int32_t index,
                       std::string_view address) {
  e.begin(reply_opcode(Opcode::kPick), id);
  e.u64(generation);
  e.i32(index);
  e.u16(static_cast<std::uint16_t>(address.size()));
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
  const std::string_view flavor = ring.flavor().substr(0, 255);
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

void encode_ring_image_reply(Encoder& e, std::uint32_t id, std::uint64_t generation, std::uint64_t image_size,
                             std::string_view bytes) {
  e.begin(reply_opcode(Opcode::kRingImage), id);
  e.u64(generation);
  e.u64(image_size);
  e.bytes(bytes);
  e.finish();
}

void encode_error(Encoder& e, std::uint32_t id, ErrorCode code, std::string_view message) {
  e.begin(static_cast<std::uint8_t>(Opcode::kError), id);
  e.u16(static_cast<std::uint16_t>(code));
  e.u8(is_fatal(code) ? 1 : 0);
  e.u8(0);
  e.bytes(message.substr(0, 4096));
  e.finish();
}

ParseError parse_hello_reply(std::string_view payload, HelloReply& out) {
  Cursor c(payload);
  std::uint16_t reserved = 0;
  if (!c.u16(out.version) || !c.u16(reserved) || !c.u32(out.max_frame) || !c.u32(out.max_keys) ||
      !c.u32(out.broker_pid) || !c.done())
    return bad("HELLO reply is not 16 bytes");
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
