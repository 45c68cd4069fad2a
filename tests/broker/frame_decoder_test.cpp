// The frame decoder and the payload parsers, driven with bytes only (no sockets): every
// malformed shape gets the documented error, nothing reads out of bounds (run under ASan), and a
// fatal error sticks.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "frame_decoder.hpp"
#include "protocol.hpp"

namespace {

using namespace samering::broker;

std::string frame(std::uint8_t opcode, std::uint32_t id, std::string_view payload, std::uint8_t flags = 0) {
  std::string s;
  Encoder e(s);
  e.begin(opcode, id, flags);
  e.bytes(payload);
  e.finish();
  return s;
}

std::string pick_many_payload(std::string_view ring, const std::vector<std::string>& keys) {
  std::string s;
  Encoder e(s);
  std::vector<std::string_view> v(keys.begin(), keys.end());
  encode_pick_many(e, 0, ring, v.data(), v.size());
  return s.substr(kHeaderSize);
}

std::vector<std::string> make_keys_for_test(std::size_t n) {
  std::vector<std::string> k;
  for (std::size_t i = 0; i < n; ++i) k.push_back(fmt::format("k{}", i));
  return k;
}

constexpr auto kPick = static_cast<std::uint8_t>(Opcode::kPick);
constexpr auto kPing = static_cast<std::uint8_t>(Opcode::kPing);

TEST(FrameDecoder, ShortHeaderNeedsMore) {
  const std::string f = frame(kPing, 7, "abc");
  for (std::size_t n = 0; n < kHeaderSize; ++n) {
    FrameDecoder d(FrameDecoder::Side::kRequests, 1024);
    d.feed(std::string_view(f).substr(0, n));
    EXPECT_EQ(d.next().status, DecodeStatus::kNeedMore) << n << " bytes";
  }
}

TEST(FrameDecoder, ShortPayloadNeedsMore) {
  const std::string f = frame(kPing, 7, "abcdef");
  FrameDecoder d(FrameDecoder::Side::kRequests, 1024);
  d.feed(std::string_view(f).substr(0, f.size() - 1));
  EXPECT_EQ(d.next().status, DecodeStatus::kNeedMore);
  d.feed(std::string_view(f).substr(f.size() - 1));
  const auto r = d.next();
  ASSERT_EQ(r.status, DecodeStatus::kFrame);
  EXPECT_EQ(r.frame.payload, "abcdef");
  EXPECT_EQ(r.frame.header.id, 7u);
}

TEST(FrameDecoder, EverySplitOfAStreamGivesTheSameFrames) {
  const std::string stream = frame(kPing, 1, "") + frame(kPick, 2, std::string("\x04main", 5) + "key") +
                             frame(kPing, 3, std::string(300, 'x'));
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    FrameDecoder d(FrameDecoder::Side::kRequests, 1024);
    std::vector<std::string> payloads;
    std::vector<std::uint32_t> ids;
    auto drain = [&] {
      for (;;) {
        const auto r = d.next();
        if (r.status != DecodeStatus::kFrame) {
          ASSERT_EQ(r.status, DecodeStatus::kNeedMore);
          return;
        }
        ids.push_back(r.frame.header.id);
        payloads.emplace_back(r.frame.payload);
      }
    };
    d.feed(std::string_view(stream).substr(0, cut));
    drain();
    d.feed(std::string_view(stream).substr(cut));
    drain();
    ASSERT_EQ(ids, (std::vector<std::uint32_t>{1, 2, 3})) << "cut at " << cut;
    EXPECT_EQ(payloads[0], "");
    EXPECT_EQ(payloads[2], std::string(300, 'x'));
  }
}

TEST(FrameDecoder, OneByteAtATime) {
  const std::string stream = frame(kPing, 9, "hello") + frame(kPing, 10, "");
  FrameDecoder d(FrameDecoder::Side::kRequests, 64);
  std::vector<std::uint32_t> ids;
  for (char c : stream) {
    auto room = d.prepare(1);
    ASSERT_GE(room.size(), 1u);
    room[0] = c;
    d.commit(1);
    for (auto r = d.next(); r.status == DecodeStatus::kFrame; r = d.next()) ids.push_back(r.frame.header.id);
  }
  EXPECT_EQ(ids, (std::vector<std::uint32_t>{9, 10}));
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(FrameDecoder, PayloadAtTheLimitIsAcceptedOneMoreIsFatal) {
  {
    FrameDecoder d(FrameDecoder::Side::kRequests, 100);
    d.feed(frame(kPing, 1, std::string(100, 'a')));
    EXPECT_EQ(d.next().status, DecodeStatus::kFrame);
  }
  FrameDecoder d(FrameDecoder::Side::kRequests, 100);
  d.feed(frame(kPing, 5, std::string(101, 'a')).substr(0, kHeaderSize));  // the header alone decides
  const auto r = d.next();
  ASSERT_EQ(r.status, DecodeStatus::kError);
  EXPECT_EQ(r.error, ErrorCode::kFrameTooLarge);
  EXPECT_TRUE(r.fatal);
  EXPECT_EQ(r.id, 5u);
}

TEST(FrameDecoder, OversizedLengthIsFatalAndSticks) {
  std::string h(kHeaderSize, '\0');
  const std::uint32_t huge = 0xffffffffu;
  std::memcpy(h.data(), &huge, 4);
  h[4] = static_cast<char>(kPing);
  FrameDecoder d(FrameDecoder::Side::kRequests, 1 << 20);
  d.feed(h);
  for (int i = 0; i < 3; ++i) {
    const auto r = d.next();
    ASSERT_EQ(r.status, DecodeStatus::kError);
    EXPECT_EQ(r.error, ErrorCode::kFrameTooLarge);
    EXPECT_TRUE(r.fatal);
    d.feed(frame(kPing, 1, ""));  // a valid frame afterwards does not resynchronise
  }
  EXPECT_TRUE(d.failed());
  d.reset();
  d.feed(frame(kPing, 2, ""));
  EXPECT_EQ(d.next().status, DecodeStatus::kFrame);
}

TEST(FrameDecoder, ReservedBytesAreFatal) {
  std::string f = frame(kPing, 3, "x");
  f[6] = 1;
  FrameDecoder d(FrameDecoder::Side::kRequests, 1024);
  d.feed(f);
  const auto r = d.next();
  ASSERT_EQ(r.status, DecodeStatus::kError);
  EXPECT_EQ(r.error, ErrorCode::kBadHeader);
  EXPECT_TRUE(r.fatal);
}

TEST(FrameDecoder, UnknownOpcodeIsSkippedAndRecoverable) {
  const std::string stream = frame(0x55, 4, "whatever") + frame(reply_opcode(Opcode::kPick), 5, "") +
                             frame(kPing, 6, "ok");
  FrameDecoder d(FrameDecoder::Side::kRequests, 1024);
  d.feed(stream);
  auto r = d.next();
  ASSERT_EQ(r.status, DecodeStatus::kError);
  EXPECT_EQ(r.error, ErrorCode::kUnknownOpcode);
  EXPECT_FALSE(r.fatal);
  EXPECT_EQ(r.id, 4u);
  r = d.next();  // a reply opcode is unknown on the request side
  ASSERT_EQ(r.status, DecodeStatus::kError);
  EXPECT_EQ(r.error, ErrorCode::kUnknownOpcode);
  EXPECT_EQ(r.id, 5u);
  r = d.next();
  ASSERT_EQ(r.status, DecodeStatus::kFrame);
  EXPECT_EQ(r.frame.payload, "ok");
}

TEST(FrameDecoder, ReplySideKnowsReplyOpcodes) {
  FrameDecoder d(FrameDecoder::Side::kReplies, 1024);
  d.feed(frame(reply_opcode(Opcode::kPick), 1, "") + frame(static_cast<std::uint8_t>(Opcode::kError), 2, "") +
         frame(kPick, 3, ""));
  EXPECT_EQ(d.next().status, DecodeStatus::kFrame);
  EXPECT_EQ(d.next().status, DecodeStatus::kFrame);
  EXPECT_EQ(d.next().error, ErrorCode::kUnknownOpcode);
}

TEST(FrameDecoder, GarbageNeverCrashesAndEndsFatalOrConsistent) {
  std::mt19937 rng(12345);
  for (int round = 0; round < 2000; ++round) {
    FrameDecoder d(FrameDecoder::Side::kRequests, 4096);
    std::string garbage(rng() % 200, '\0');
    for (auto& c : garbage) c = static_cast<char>(rng());
    std::size_t at = 0;
    bool fatal = false;
    while (at < garbage.size()) {
      const std::size_t n = std::min<std::size_t>(garbage.size() - at, 1 + rng() % 17);
      d.feed(std::string_view(garbage).substr(at, n));
      at += n;
      for (;;) {
        const auto r = d.next();
        if (r.status == DecodeStatus::kNeedMore) break;
        if (r.status == DecodeStatus::kFrame) {
          ASSERT_FALSE(fatal);
          ASSERT_LE(r.frame.payload.size(), 4096u);
          continue;
        }
        if (r.fatal) {
          fatal = true;
          EXPECT_TRUE(r.error == ErrorCode::kBadHeader || r.error == ErrorCode::kFrameTooLarge);
          EXPECT_EQ(d.next().error, r.error);  // sticky
          break;
        }
        EXPECT_EQ(r.error, ErrorCode::kUnknownOpcode);
      }
      if (fatal) break;
    }
  }
}

TEST(FrameDecoder, ShrinkFreesOnlyWhenEmpty) {
  FrameDecoder d(FrameDecoder::Side::kRequests, 1 << 20);
  d.feed(frame(kPing, 1, std::string(200000, 'z')));
  d.shrink(4096);
  ASSERT_EQ(d.next().status, DecodeStatus::kFrame);
  d.shrink(4096);
  EXPECT_EQ(d.buffered(), 0u);
  d.feed(frame(kPing, 2, "a"));
  EXPECT_EQ(d.next().frame.header.id, 2u);
}

// ---- payload parsers -------------------------------------------------------------------------

TEST(ProtocolParse, PickManyRoundTrip) {
  const std::vector<std::string> keys = {"", "a", std::string(300, 'b'), std::string("\0\xff", 2)};
  std::string_view ring;
  std::vector<std::string_view> out;
  const std::string payload = pick_many_payload("main", keys);
  ASSERT_FALSE(parse_pick_many(payload, 100, ring, out));
  EXPECT_EQ(ring, "main");
  ASSERT_EQ(out.size(), keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(out[i], keys[i]);
}

TEST(ProtocolParse, PickManyTruncatedKeyList) {
  const std::string p = pick_many_payload("main", {"alpha", "beta", "gamma"});
  std::string_view ring;
  std::vector<std::string_view> out;
  // Every strict prefix is malformed (the count promises more than is there).
  for (std::size_t n = 0; n < p.size(); ++n) {
    const auto e = parse_pick_many(std::string_view(p).substr(0, n), 100, ring, out);
    EXPECT_EQ(e.code, ErrorCode::kBadFrame) << "prefix of " << n << " bytes";
  }
}

TEST(ProtocolParse, PickManyCountLargerThanPayloadIsRefusedWithoutAllocating) {
  std::string p("\x04main", 5);
  const std::uint32_t n = 0x7fffffff;
  p.append(reinterpret_cast<const char*>(&n), 4);
  std::string_view ring;
  std::vector<std::string_view> out;
  EXPECT_EQ(parse_pick_many(p, 0xffffffffu, ring, out).code, ErrorCode::kBadFrame);
  EXPECT_EQ(out.capacity(), 0u);
}

TEST(ProtocolParse, PickManyTooManyKeys) {
  std::string_view ring;
  std::vector<std::string_view> out;
  EXPECT_EQ(parse_pick_many(pick_many_payload("r", make_keys_for_test(11)), 10, ring, out).code, ErrorCode::kTooManyKeys);
}

TEST(ProtocolParse, PickManyTrailingBytes) {
  std::string p = pick_many_payload("r", {"a"}) + "junk";
  std::string_view ring;
  std::vector<std::string_view> out;
  EXPECT_EQ(parse_pick_many(p, 10, ring, out).code, ErrorCode::kBadFrame);
}

TEST(ProtocolParse, PickTruncatedRingName) {
  PickRequest req;
  EXPECT_EQ(parse_pick("", req).code, ErrorCode::kBadFrame);
  EXPECT_EQ(parse_pick(std::string("\x09mai", 4), req).code, ErrorCode::kBadFrame);
  const std::string payload("\x04mainkey", 8);
  ASSERT_FALSE(parse_pick(payload, req));
  EXPECT_EQ(req.ring, "main");
  EXPECT_EQ(req.key, "key");
}

TEST(ProtocolParse, Hello) {
  HelloRequest h;
  std::string good;
  Encoder e(good);
  encode_hello(e, 1);
  ASSERT_FALSE(parse_hello(std::string_view(good).substr(kHeaderSize), h));
  EXPECT_EQ(h.min_version, 1);
  EXPECT_EQ(parse_hello("SRNG\x01", h).code, ErrorCode::kBadFrame);
  EXPECT_EQ(parse_hello(std::string("XXXX\x01\x00\x01\x00", 8), h).code, ErrorCode::kBadFrame);
  EXPECT_EQ(parse_hello(std::string("SRNG\x02\x00\x01\x00", 8), h).code, ErrorCode::kVersionUnsupported);  // min > max
  EXPECT_EQ(parse_hello(std::string("SRNG\x01\x00\x01\x00!", 9), h).code, ErrorCode::kBadFrame);
}

// Every row of the handshake table (docs/protocol.md "Handshake and versioning") that depends on
// the HELLO frame alone; the broker tests check the same rows on the wire, with the close.
TEST(ProtocolHandshake, NegotiateHelloFollowsTheTable) {
  const auto hello = [](std::uint16_t min, std::uint16_t max) {
    std::string p("SRNG", 4);
    p.append(reinterpret_cast<const char*>(&min), 2);
    p.append(reinterpret_cast<const char*>(&max), 2);
    return p;
  };
  struct Row {
    const char* what;
    std::uint8_t flags;
    std::string payload;
    ErrorCode error;
    std::uint16_t version;
  };
  const std::vector<Row> rows = {
      {"[1, 1]", 0, hello(1, 1), ErrorCode::kOk, 1},
      {"[1, 2]", 0, hello(1, 2), ErrorCode::kOk, 2},
      {"[2, 2]", 0, hello(2, 2), ErrorCode::kOk, 2},
      {"[0, 1]", 0, hello(0, 1), ErrorCode::kOk, 1},
      {"[1, 9]: the highest both speak", 0, hello(1, 9), ErrorCode::kOk, 2},
      {"[3, 5]: no common version", 0, hello(3, 5), ErrorCode::kVersionUnsupported, 0},
      {"[0, 0]: no common version", 0, hello(0, 0), ErrorCode::kVersionUnsupported, 0},
      {"min > max", 0, hello(2, 1), ErrorCode::kVersionUnsupported, 0},
      {"a flag", 0x01, hello(1, 2), ErrorCode::kBadFrame, 0},
      {"bad magic", 0, "XXXX" + hello(1, 2).substr(4), ErrorCode::kBadFrame, 0},
      {"short", 0, hello(1, 2).substr(0, 7), ErrorCode::kBadFrame, 0},
      {"empty", 0, "", ErrorCode::kBadFrame, 0},
      {"trailing bytes", 0, hello(1, 2) + "!", ErrorCode::kBadFrame, 0},
  };
  for (const Row& r : rows) {
    const HelloOutcome o = negotiate_hello(r.flags, r.payload);
    EXPECT_EQ(o.error, r.error) << r.what << ": " << o.reason;
    EXPECT_EQ(o.version, r.version) << r.what;
    if (r.error != ErrorCode::kOk) {
      EXPECT_STRNE(o.reason, "") << r.what;
    }
  }
}

TEST(ProtocolReplies, HelloReplyHasExactlyTheFieldsOfItsVersion) {
  std::string s;
  Encoder e(s);
  encode_hello_reply(e, 1, {1, 100, 200, 300, "/dev/shm/x"});
  EXPECT_EQ(s.size(), kHeaderSize + 16);  // version 1: no shm dir, whatever the broker has
  HelloReply r;
  ASSERT_FALSE(parse_hello_reply(std::string_view(s).substr(kHeaderSize), r));
  EXPECT_EQ(r.version, 1);
  EXPECT_EQ(r.max_frame, 100u);
  EXPECT_EQ(r.max_keys, 200u);
  EXPECT_EQ(r.broker_pid, 300u);
  EXPECT_EQ(r.shm_dir, "");
  EXPECT_TRUE(parse_hello_reply(s.substr(kHeaderSize) + std::string("\0\0", 2), r));

  s.clear();
  encode_hello_reply(e, 2, {2, 100, 200, 300, "/dev/shm/x"});
  EXPECT_EQ(s.size(), kHeaderSize + 16 + 2 + 10);
  ASSERT_FALSE(parse_hello_reply(std::string_view(s).substr(kHeaderSize), r));
  EXPECT_EQ(r.version, 2);
  EXPECT_EQ(r.shm_dir, "/dev/shm/x");
  for (std::size_t n = 16; n < s.size() - kHeaderSize; ++n)
    EXPECT_TRUE(parse_hello_reply(std::string_view(s).substr(kHeaderSize, n), r)) << n;
  EXPECT_TRUE(parse_hello_reply(s.substr(kHeaderSize) + "!", r));
  s.clear();
  encode_hello_reply(e, 2, {2, 1, 1, 1, ""});
  ASSERT_FALSE(parse_hello_reply(std::string_view(s).substr(kHeaderSize), r));
  EXPECT_EQ(r.shm_dir, "");
}

// Issue 13: the encoder refuses what it would truncate, and appends nothing then.
TEST(ProtocolEncode, RefusesRingNamesAndKeysItWouldTruncate) {
  std::string s;
  Encoder e(s);
  const std::string long_ring(256, 'r');
  EXPECT_THROW(encode_pick(e, 1, long_ring, "k"), std::length_error);
  EXPECT_THROW(encode_ring_request(e, Opcode::kRingInfo, 1, long_ring), std::length_error);
  const std::string long_key(65536, 'k');
  const std::string_view keys[2] = {"a", long_key};
  EXPECT_THROW(encode_pick_many(e, 1, "main", keys, 2), std::length_error);
  EXPECT_THROW(encode_pick_many(e, 1, long_ring, keys, 1), std::length_error);
  EXPECT_TRUE(s.empty());
  encode_pick(e, 1, std::string(255, 'r'), "k");  // the longest that fits
  PickRequest req;
  ASSERT_FALSE(parse_pick(std::string_view(s).substr(kHeaderSize), req));
  EXPECT_EQ(req.ring.size(), 255u);
}

// Issue 13: one list of opcodes and codes; every consumer agrees with it.
TEST(ProtocolLists, OpcodesAndErrorCodesComeFromOneList) {
  for (int op = 0; op < 256; ++op) {
    const bool request = is_request_opcode(static_cast<std::uint8_t>(op));
    EXPECT_EQ(request, std::string_view(opcode_name(static_cast<std::uint8_t>(op))) != "unknown" && op < 0x80) << op;
    if (request) {
      EXPECT_TRUE(is_reply_opcode(static_cast<std::uint8_t>(op | kReplyBit))) << op;
    }
  }
  EXPECT_STREQ(opcode_name(0xff), "ERROR");
  EXPECT_STREQ(opcode_name(reply_opcode(Opcode::kPickMany)), "PICK_MANY");
  EXPECT_EQ(kErrorCodeCount, 16u);
  std::set<std::string> names;
  for (std::size_t i = 0; i < std::size(kErrorCodes); ++i) {
    EXPECT_EQ(static_cast<std::size_t>(kErrorCodes[i]), i + 1);
    names.insert(error_name(kErrorCodes[i]));
  }
  EXPECT_EQ(names.size(), std::size(kErrorCodes));
  EXPECT_EQ(names.count("unknown_error"), 0u);
}

TEST(ProtocolParse, RingRequest) {
  RingRequest r;
  EXPECT_EQ(parse_ring_request(std::string("\x00", 1), false, r).code, ErrorCode::kBadFrame);
  EXPECT_FALSE(parse_ring_request(std::string("\x00", 1), true, r));
  EXPECT_EQ(parse_ring_request(std::string("\x01rx", 3), true, r).code, ErrorCode::kBadFrame);
}

TEST(ProtocolParse, RepliesRoundTripAndRefuseShortOnes) {
  std::string s;
  Encoder e(s);
  encode_pick_reply(e, 3, 42, 2, "10.0.0.1:11211");
  PickReply p;
  ASSERT_FALSE(parse_pick_reply(std::string_view(s).substr(kHeaderSize), p));
  EXPECT_EQ(p.generation, 42u);
  EXPECT_EQ(p.index, 2);
  EXPECT_EQ(p.address, "10.0.0.1:11211");
  for (std::size_t n = kHeaderSize; n < s.size(); ++n)
    EXPECT_TRUE(parse_pick_reply(std::string_view(s).substr(kHeaderSize, n - kHeaderSize), p));

  s.clear();
  const std::int32_t idx[3] = {0, -1, 7};
  encode_pick_many_reply(e, 4, 9, idx, 3);
  PickManyReply m;
  ASSERT_FALSE(parse_pick_many_reply(std::string_view(s).substr(kHeaderSize), m));
  EXPECT_EQ(m.count, 3u);
  EXPECT_TRUE(parse_pick_many_reply(std::string_view(s).substr(kHeaderSize, s.size() - kHeaderSize - 1), m));

  s.clear();
  encode_error(e, 5, ErrorCode::kFrameTooLarge, "too big");
  ErrorReply er;
  ASSERT_FALSE(parse_error_reply(std::string_view(s).substr(kHeaderSize), er));
  EXPECT_EQ(er.code, ErrorCode::kFrameTooLarge);
  EXPECT_TRUE(er.fatal);
  EXPECT_EQ(er.message, "too big");
}

TEST(ProtocolParse, RingNames) {
  EXPECT_TRUE(valid_ring_name("main"));
  EXPECT_TRUE(valid_ring_name("cmf-ketama-3srv_U.v2"));
  EXPECT_FALSE(valid_ring_name(""));
  EXPECT_FALSE(valid_ring_name(".hidden"));
  EXPECT_FALSE(valid_ring_name("a/b"));
  EXPECT_TRUE(valid_ring_name(std::string(200, 'a')));
  EXPECT_FALSE(valid_ring_name(std::string(201, 'a')));
}

TEST(ProtocolErrors, FatalCodesAreTheDocumentedOnes) {
  for (auto c : {ErrorCode::kFrameTooLarge, ErrorCode::kBadHeader, ErrorCode::kHandshakeRequired,
                 ErrorCode::kVersionUnsupported, ErrorCode::kTooManyConnections, ErrorCode::kIdleTimeout,
                 ErrorCode::kShuttingDown})
    EXPECT_TRUE(is_fatal(c)) << error_name(c);
  for (auto c : {ErrorCode::kBadFrame, ErrorCode::kUnknownOpcode, ErrorCode::kTooManyKeys, ErrorCode::kNoSuchRing,
                 ErrorCode::kPermissionDenied, ErrorCode::kReloadFailed, ErrorCode::kInternal, ErrorCode::kUnavailable})
    EXPECT_FALSE(is_fatal(c)) << error_name(c);
}

}  // namespace
