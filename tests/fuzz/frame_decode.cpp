// Fuzz target: the broker's frame decoder and request parsers on arbitrary bytes, fed in the
// chunk sizes the input itself chooses (first byte), as a socket would deliver them. The decoder
// must yield frames, errors or "need more", never crash or grow past one frame; a fatal error
// must stay fatal; every payload is then given to the request parsers.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "frame_decoder.hpp"
#include "protocol.hpp"

namespace b = samering::broker;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t chunk = 1 + data[0] % 64;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  constexpr std::uint32_t kMaxPayload = 4096;
  b::FrameDecoder decoder(b::FrameDecoder::Side::kRequests, kMaxPayload);
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
      b::HelloRequest hello;
      b::PickRequest pick;
      b::RingRequest ring;
      (void)b::parse_hello(payload, hello);
      (void)b::parse_pick(payload, pick);
      (void)b::parse_ring_request(payload, true, ring);
      std::string_view name;
      std::vector<std::string_view> keys;
      (void)b::parse_pick_many(payload, 64, name, keys);
    }
    if (fatal) break;
  }
  return 0;
}
