// The samering-broker wire protocol (docs/protocol.md): constants, frame headers, request and
// reply payload encoders and parsers. Socket-free: the daemon, the client library, the tests and
// a fuzzer share it. Little-endian on the wire; this build assumes a little-endian host.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

namespace samering {
class Ring;
}

namespace samering::broker {

static_assert(std::endian::native == std::endian::little, "the protocol code assumes a little-endian host");

// Versions this build speaks (docs/protocol.md "Handshake and versioning"). Version 2 adds
// trailing HELLO reply fields; every other frame is the same in both.
inline constexpr std::uint16_t kMinProtocolVersion = 1;
inline constexpr std::uint16_t kProtocolVersion = 2;  // the highest; what the clients here ask for
inline constexpr std::size_t kHeaderSize = 12;
inline constexpr char kHelloMagic[4] = {'S', 'R', 'N', 'G'};

// Defaults, also the documented limits (docs/protocol.md "Limits").
inline constexpr std::uint32_t kDefaultMaxFrame = 1u << 20;      // request payload bytes
inline constexpr std::uint32_t kDefaultMaxKeys = 16384;          // keys per PICK_MANY
inline constexpr std::uint32_t kMaxReplyFrame = 256u << 20;      // what a client accepts
inline constexpr std::size_t kMaxRingName = 200;  // <ring>.<generation>.img and its temporary name fit NAME_MAX
inline constexpr std::size_t kMaxString16 = 0xffff;  // keys in PICK_MANY, addresses, the shm dir (u16 prefix)

// Every request opcode, once: enumerator, value, name. A reply carries `opcode | 0x80`; an error
// reply is 0xFF (kError). The enum, is_request_opcode and opcode_name are made from this list.
#define SAMERING_BROKER_OPCODES(X)  \
  X(kHello, 0x01, "HELLO")          \
  X(kPing, 0x02, "PING")            \
  X(kPick, 0x10, "PICK")            \
  X(kPickMany, 0x11, "PICK_MANY")   \
  X(kRingInfo, 0x20, "RING_INFO")   \
  X(kRingImage, 0x21, "RING_IMAGE") \
  X(kStats, 0x30, "STATS")          \
  X(kReload, 0x31, "RELOAD")

enum class Opcode : std::uint8_t {
#define SAMERING_OPCODE_ENUM(name, value, text) name = value,
  SAMERING_BROKER_OPCODES(SAMERING_OPCODE_ENUM)
#undef SAMERING_OPCODE_ENUM
  kError = 0xff,  // replies only
};
inline constexpr std::uint8_t kReplyBit = 0x80;
inline constexpr std::uint8_t kFlagImageFd = 0x01;  // RING_IMAGE: send a descriptor, not the bytes

inline constexpr std::uint8_t reply_opcode(Opcode op) { return static_cast<std::uint8_t>(op) | kReplyBit; }
bool is_request_opcode(std::uint8_t op);
bool is_reply_opcode(std::uint8_t op);
const char* opcode_name(std::uint8_t op);

// Every error code, once: enumerator, value, name (also the STATS key), and whether the broker
// closes the connection after sending it (the `fatal` byte of the error frame; a malformed HELLO
// is the one bad_frame sent as fatal: docs/protocol.md "Handshake and versioning"). Values are
// dense from 1: STATS counts them in an array indexed by the value.
#define SAMERING_BROKER_ERRORS(X)                          \
  X(kBadFrame, 1, "bad_frame", false)                      \
  X(kUnknownOpcode, 2, "unknown_opcode", false)            \
  X(kFrameTooLarge, 3, "frame_too_large", true)            \
  X(kTooManyKeys, 4, "too_many_keys", false)               \
  X(kNoSuchRing, 5, "no_such_ring", false)                 \
  X(kPermissionDenied, 6, "permission_denied", false)      \
  X(kReloadFailed, 7, "reload_failed", false)              \
  X(kBadHeader, 8, "bad_header", true)                     \
  X(kHandshakeRequired, 9, "handshake_required", true)     \
  X(kVersionUnsupported, 10, "version_unsupported", true)  \
  X(kTooManyConnections, 11, "too_many_connections", true) \
  X(kIdleTimeout, 12, "idle_timeout", true)                \
  X(kShuttingDown, 13, "shutting_down", true)              \
  X(kInternal, 14, "internal", false)                      \
  X(kUnavailable, 15, "unavailable", false)

enum class ErrorCode : std::uint16_t {
  kOk = 0,
#define SAMERING_ERROR_ENUM(name, value, text, fatal) name = value,
  SAMERING_BROKER_ERRORS(SAMERING_ERROR_ENUM)
#undef SAMERING_ERROR_ENUM
};
// Every code but kOk, in value order.
inline constexpr ErrorCode kErrorCodes[] = {
#define SAMERING_ERROR_LIST(name, value, text, fatal) ErrorCode::name,
    SAMERING_BROKER_ERRORS(SAMERING_ERROR_LIST)
#undef SAMERING_ERROR_LIST
};
inline constexpr std::size_t kErrorCodeCount = std::size(kErrorCodes) + 1;  // with kOk: array size by value
static_assert([] {
  for (std::size_t i = 0; i < std::size(kErrorCodes); ++i)
    if (static_cast<std::size_t>(kErrorCodes[i]) != i + 1) return false;
  return true;
}(), "error codes must be dense from 1 in SAMERING_BROKER_ERRORS");
const char* error_name(ErrorCode code);  // "bad_frame", ... (also the STATS keys)
bool is_fatal(ErrorCode code);           // the list's fatal column

struct FrameHeader {
  std::uint32_t length = 0;  // payload bytes after the 12-byte header
  std::uint8_t opcode = 0;
  std::uint8_t flags = 0;
  std::uint16_t reserved = 0;  // must be 0
  std::uint32_t id = 0;        // chosen by the client, echoed in the reply
};

inline FrameHeader read_header(const char* p) {
  FrameHeader h;
  std::memcpy(&h.length, p, 4);
  h.opcode = static_cast<std::uint8_t>(p[4]);
  h.flags = static_cast<std::uint8_t>(p[5]);
  std::memcpy(&h.reserved, p + 6, 2);
  std::memcpy(&h.id, p + 8, 4);
  return h;
}

// ---- encoding: append to a std::string -----------------------------------------------------

class Encoder {
 public:
  explicit Encoder(std::string& out) : out_(out) {}
  // Starts a frame; finish() patches its length.
  void begin(std::uint8_t opcode, std::uint32_t id, std::uint8_t flags = 0) {
    start_ = out_.size();
    char h[kHeaderSize] = {};
    h[4] = static_cast<char>(opcode);
    h[5] = static_cast<char>(flags);
    std::memcpy(h + 8, &id, 4);
    out_.append(h, sizeof h);
  }
  // `follows`: payload bytes the caller sends after this frame's appended bytes from elsewhere
  // (RING_IMAGE's image, written from where it is); the length field counts them.
  void finish(std::uint32_t follows = 0) {
    const auto len = static_cast<std::uint32_t>(out_.size() - start_ - kHeaderSize + follows);
    std::memcpy(out_.data() + start_, &len, 4);
  }
  void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u16(std::uint16_t v) { raw(&v, 2); }
  void u32(std::uint32_t v) { raw(&v, 4); }
  void i32(std::int32_t v) { raw(&v, 4); }
  void u64(std::uint64_t v) { raw(&v, 8); }
  void bytes(std::string_view s) { out_.append(s); }
  void raw(const void* p, std::size_t n) { out_.append(static_cast<const char*>(p), n); }
  std::size_t frame_start() const { return start_; }

 private:
  std::string& out_;
  std::size_t start_ = 0;
};

// ---- decoding payloads: a cursor over bytes that never reads past the end -----------------

class Cursor {
 public:
  explicit Cursor(std::string_view s) : p_(s.data()), end_(s.data() + s.size()) {}
  bool u8(std::uint8_t& v) { return take(&v, 1); }
  bool u16(std::uint16_t& v) { return take(&v, 2); }
  bool u32(std::uint32_t& v) { return take(&v, 4); }
  bool i32(std::int32_t& v) { return take(&v, 4); }
  bool u64(std::uint64_t& v) { return take(&v, 8); }
  bool bytes(std::size_t n, std::string_view& v) {
    if (static_cast<std::size_t>(end_ - p_) < n) return false;
    v = {p_, n};
    p_ += n;
    return true;
  }
  std::string_view rest() {
    std::string_view v(p_, static_cast<std::size_t>(end_ - p_));
    p_ = end_;
    return v;
  }
  std::size_t remaining() const { return static_cast<std::size_t>(end_ - p_); }
  bool done() const { return p_ == end_; }

 private:
  bool take(void* v, std::size_t n) {
    if (static_cast<std::size_t>(end_ - p_) < n) return false;
    std::memcpy(v, p_, n);
    p_ += n;
    return true;
  }
  const char* p_;
  const char* end_;
};

// A parse failure: a code and a static reason (no allocation on the error path of the daemon).
struct ParseError {
  ErrorCode code = ErrorCode::kOk;
  const char* reason = "";
  explicit operator bool() const { return code != ErrorCode::kOk; }
};

// ---- requests ------------------------------------------------------------------------------

struct HelloRequest {
  std::uint16_t min_version = 0, max_version = 0;
};
struct PickRequest {
  std::string_view ring, key;
};
struct RingRequest {  // RING_INFO, RING_IMAGE, RELOAD (RELOAD: empty ring = every ring)
  std::string_view ring;
};

// Request encoders append one whole frame, or nothing: they throw std::length_error (before
// appending) for what the wire cannot carry instead of truncating it — a ring name over 255
// bytes, a PICK_MANY key over 65,535 bytes or more than 2^32 - 1 keys.
void encode_hello(Encoder& e, std::uint32_t id, std::uint16_t min_version = kMinProtocolVersion,
                  std::uint16_t max_version = kProtocolVersion);
void encode_pick(Encoder& e, std::uint32_t id, std::string_view ring, std::string_view key);
void encode_pick_many(Encoder& e, std::uint32_t id, std::string_view ring, const std::string_view* keys,
                      std::size_t n);
void encode_ring_request(Encoder& e, Opcode op, std::uint32_t id, std::string_view ring, std::uint8_t flags = 0);
void encode_empty(Encoder& e, Opcode op, std::uint32_t id);

ParseError parse_hello(std::string_view payload, HelloRequest& out);
ParseError parse_pick(std::string_view payload, PickRequest& out);
// Fills `keys` (cleared first; capacity reused). Refuses more than max_keys keys.
ParseError parse_pick_many(std::string_view payload, std::uint32_t max_keys, std::string_view& ring,
                           std::vector<std::string_view>& keys);
ParseError parse_ring_request(std::string_view payload, bool empty_allowed, RingRequest& out);

// The broker's side of the handshake (docs/protocol.md "Handshake and versioning") for a HELLO
// frame with `flags` and `payload`: the version both sides speak (the highest), or why not —
// kBadFrame for flags, a short or long payload or the wrong magic, kVersionUnsupported for
// min > max or no common version. Every refusal is sent as fatal and closes the connection.
struct HelloOutcome {
  ErrorCode error = ErrorCode::kOk;
  const char* reason = "";     // static text
  std::uint16_t version = 0;   // kOk: the version chosen
};
HelloOutcome negotiate_hello(std::uint8_t flags, std::string_view payload);

// ---- replies -------------------------------------------------------------------------------

struct HelloReply {
  std::uint16_t version = 0;
  std::uint32_t max_frame = 0, max_keys = 0, broker_pid = 0;
  std::string shm_dir;  // version >= 2: the broker's --shm-dir, "" when it publishes none
};
struct PickReply {
  std::uint64_t generation = 0;
  std::int32_t index = -1;  // -1: the flavor refuses this key
  std::string_view address;
};
struct PickManyReply {
  std::uint64_t generation = 0;
  std::uint32_t count = 0;
  std::string_view indices;  // count little-endian i32
};
struct RingInfoReply {
  std::uint64_t generation = 0;
  std::uint64_t image_size = 0;
  std::string flavor;
  std::vector<std::string> servers;  // "host:port" as written, in index order
};
struct RingImageReply {
  std::uint64_t generation = 0;
  std::uint64_t image_size = 0;
  std::string_view bytes;  // empty when the image came as a descriptor
};
struct ErrorReply {
  ErrorCode code = ErrorCode::kInternal;
  bool fatal = false;
  std::string_view message;
};

// Reply encoders. The broker refuses at load a ring whose flavor or addresses would not fit
// (fits_protocol), so these never truncate; encode_hello_reply throws std::length_error for a
// shm dir over 65,535 bytes (the broker refuses one at start-up).
// r.version 1: exactly the version-1 fields; 2: the version-2 trailing fields too.
void encode_hello_reply(Encoder& e, std::uint32_t id, const HelloReply& r);
void encode_pick_reply(Encoder& e, std::uint32_t id, std::uint64_t generation, std::int32_t index,
                       std::string_view address);
void encode_pick_many_reply(Encoder& e, std::uint32_t id, std::uint64_t generation, const std::int32_t* indices,
                            std::size_t n);
void encode_ring_info_reply(Encoder& e, std::uint32_t id, std::uint64_t generation, const Ring& ring);
// The header and the two size fields of a RING_IMAGE reply whose image_size bytes follow (the
// caller appends them, or sends them from where they are: the broker does not copy the image),
// or travel as a descriptor (SCM_RIGHTS) with this frame when `with_bytes` is false.
void encode_ring_image_reply_head(Encoder& e, std::uint32_t id, std::uint64_t generation, std::uint64_t image_size,
                                  bool with_bytes);
// `fatal`: whether the broker closes the connection after this frame (default: the code's own).
void encode_error(Encoder& e, std::uint32_t id, ErrorCode code, std::string_view message, bool fatal);
inline void encode_error(Encoder& e, std::uint32_t id, ErrorCode code, std::string_view message) {
  encode_error(e, id, code, message, is_fatal(code));
}

ParseError parse_hello_reply(std::string_view payload, HelloReply& out);
ParseError parse_pick_reply(std::string_view payload, PickReply& out);
ParseError parse_pick_many_reply(std::string_view payload, PickManyReply& out);
ParseError parse_ring_info_reply(std::string_view payload, RingInfoReply& out);
ParseError parse_ring_image_reply(std::string_view payload, bool with_fd, RingImageReply& out);
ParseError parse_error_reply(std::string_view payload, ErrorReply& out);

// Whether a ring's flavor name (u8 prefix) and every address (u16 prefix) fit the replies;
// otherwise the name of what does not ("servers[3].address"), for the broker's load error.
std::string protocol_misfit(const Ring& ring);

// Ring names: 1–200 bytes of [A-Za-z0-9_.-], not starting with '.' (they name files in the shm dir).
bool valid_ring_name(std::string_view name);

}  // namespace samering::broker
