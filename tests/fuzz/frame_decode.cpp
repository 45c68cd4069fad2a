// Fuzz target: the broker's frame decoder, its handshake and the payload parsers on arbitrary
// bytes, fed in the chunk sizes the input itself chooses (first byte), as a socket would deliver
// them. The decoder must yield frames, errors or "need more", never crash or grow past one frame;
// a fatal error must stay fatal; every payload is then given to negotiate_hello (which must pick a
// version both sides speak, or refuse), to the request parsers and to the reply parsers the
// clients run on what a broker sends.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "frame_decoder.hpp"
#include "protocol.hpp"

namespace b = samering::broker;

namespace {

// One side's decoder over the input (requests: what the broker reads; replies: what a client reads).
void decode(b::FrameDecoder::Side side, std::size_t chunk, std::string_view bytes) {
  constexpr std::uint32_t kMaxPayload = 4096;
  b::FrameDecoder decoder(side, kMaxPayload);
  bool fatal = false;
  for (std::size_t at = 0; at < bytes.size(); at += chunk) {
    decoder.feed(bytes.substr(at, chunk));
    for (;;) {
      const b::DecodeResult r = decoder.next();
      if (r.status == b::DecodeStatus::kNeedMore) break;
      if (r.status == b::DecodeStatus::kError) {
        if (fatal && !r.fatal) std::abort();  // a fatal error must stay fatal
        if (r.fatal) {
          fatal = true;
          break;
        }
        continue;
      }
      if (fatal || r.frame.payload.size() > kMaxPayload) std::abort();
      const std::string_view payload = r.frame.payload;
      const b::HelloOutcome h = b::negotiate_hello(r.frame.header.flags, payload);
      if (h.error == b::ErrorCode::kOk && (h.version < b::kMinProtocolVersion || h.version > b::kProtocolVersion))
        std::abort();  // a version the broker does not speak
      if (h.error != b::ErrorCode::kOk && (h.version != 0 || h.reason[0] == '\0')) std::abort();
      b::HelloRequest hello;
      b::PickRequest pick;
      b::RingRequest ring;
      (void)b::parse_hello(payload, hello);
      (void)b::parse_pick(payload, pick);
      (void)b::parse_ring_request(payload, true, ring);
      std::string_view name;
      std::vector<std::string_view> keys;
      (void)b::parse_pick_many(payload, 64, name, keys);
      b::HelloReply hello_reply;
      b::PickReply pick_reply;
      b::PickManyReply many_reply;
      b::RingInfoReply info_reply;
      b::RingImageReply image_reply;
      b::ErrorReply error_reply;
      if (!b::parse_hello_reply(payload, hello_reply) && hello_reply.shm_dir.size() > payload.size()) std::abort();
      (void)b::parse_pick_reply(payload, pick_reply);
      if (!b::parse_pick_many_reply(payload, many_reply) && many_reply.indices.size() != std::size_t{many_reply.count} * 4)
        std::abort();
      (void)b::parse_ring_info_reply(payload, info_reply);
      (void)b::parse_ring_image_reply(payload, r.frame.header.flags & 1, image_reply);
      (void)b::parse_error_reply(payload, error_reply);
    }
    if (fatal) break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t chunk = 1 + data[0] % 64;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  decode(b::FrameDecoder::Side::kRequests, chunk, bytes);
  decode(b::FrameDecoder::Side::kReplies, chunk, bytes);
  return 0;
}
