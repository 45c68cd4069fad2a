// What one connection may cost the broker (issue 20, defects 1, 2 and 8; docs/protocol.md
// "Limits"): a client that never reads its replies gets a bounded queue (RING_IMAGE bytes and
// descriptors are the ring's own, shared, not copied or duplicated per reply) and stops being
// read; the broker never runs out of descriptors because of queued replies, and when it does run
// out, accept refuses the waiting connection instead of spinning; trickled bytes of a frame that
// never completes do not keep a connection from its idle timeout.
//
// Assertions are on what the broker reports (STATS, /proc: RSS and descriptors) with generous
// bounds, never on time; every wait is bounded.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include "broker_support.hpp"

namespace {

using namespace broker_test;
using proto::ErrorCode;
using proto::Opcode;

std::string ring_image_requests(std::size_t n, std::uint8_t flags) {
  std::string s = hello_frame(1);
  proto::Encoder e(s);
  for (std::size_t i = 0; i < n; ++i) proto::encode_ring_request(e, Opcode::kRingImage, 2 + i, "main", flags);
  return s;
}

// The broker's STATS field at `path` ("connections", "writing"), or -1 if it has none.
long long stat_of(Fixture& f, const char* group, const char* field) {
  const auto s = f.stats();
  return s.contains(group) && s[group].contains(field) ? s[group][field].get<long long>() : -1;
}

// Defect 1: HELLO and hundreds of RING_IMAGE requests of a 1,000-server ring in one write, and no
// reads. The broker used to encode every reply (a copy of the ~1.6 MB image each) before writing
// any: its RSS grew by the image size per request queued (1.6 GB for 2,000), and everyone else
// waited while it copied.
TEST(BrokerBounds, AClientThatNeverReadsCostsABoundedQueueNotACopyPerReply) {
  const std::string spec = ketama_spec(1000);
  const samering::Ring local = samering::ring_from_json(spec);
  const std::size_t image = local.image().size();
  ASSERT_GT(image, std::size_t{1} << 20) << "the test wants an image larger than the byte bound";
  Fixture f(spec, {"--no-watch"});
  samering::BrokerSelector other(f.socket, "main");
  other.ping();
  const long rss_before = rss_kib(f.broker->pid());
  ASSERT_GT(rss_before, 0);

  constexpr std::size_t kRequests = 300;  // the broker used to take ~470 MB for these
  std::vector<std::unique_ptr<RawClient>> flooders;
  for (int i = 0; i < 2; ++i) {
    flooders.push_back(std::make_unique<RawClient>(f.socket));
    flooders.back()->send(ring_image_requests(kRequests, 0));
  }
  // Both stop being read once their replies fill the socket (bounded wait; a broker that copies
  // every reply shows it in its RSS first).
  long growth_kib = 0;
  eventually(
      [&] {
        growth_kib = rss_kib(f.broker->pid()) - rss_before;
        return stat_of(f, "connections", "writing") >= 2 || growth_kib > 256 * 1024;
      },
      10000ms);
  EXPECT_EQ(stat_of(f, "connections", "writing"), 2) << "both flooders wait for their replies to be read";
  for (int i = 0; i < 10; ++i) {  // and it stays so while they do not read
    growth_kib = std::max(growth_kib, rss_kib(f.broker->pid()) - rss_before);
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_LT(growth_kib, 64 * 1024) << "broker RSS grew by " << growth_kib << " KiB for " << 2 * kRequests
                                   << " queued replies of a " << image << "-byte image";
  const auto queued = stat_of(f, "connections", "queued_bytes");
  EXPECT_GE(queued, 0);
  EXPECT_LE(queued, static_cast<long long>(2 * (image + (1u << 20)))) << "queued reply bytes";
  // Everyone else is served meanwhile.
  EXPECT_NO_THROW(other.ping());
  EXPECT_EQ(other.pick("k").index, local.pick("k"));

  // A flooder that starts reading gets every reply, in order, with the whole image.
  RawClient& reader = *flooders[0];
  auto hello = reader.read_frame(10000ms);
  ASSERT_TRUE(hello);
  for (std::size_t i = 0; i < kRequests; ++i) {
    auto r = reader.read_frame(10000ms);
    ASSERT_TRUE(r) << "reply " << i;
    ASSERT_EQ(r->header.id, 2 + i);
    proto::RingImageReply img;
    ASSERT_FALSE(proto::parse_ring_image_reply(r->payload, false, img)) << "reply " << i;
    ASSERT_EQ(img.bytes.size(), image);
    ASSERT_EQ(std::memcmp(img.bytes.data(), local.image().data(), image), 0) << "reply " << i;
  }
  EXPECT_TRUE(f.broker->running());
}

// Defect 2: the same flood asking for descriptors. The broker used to dup the ring's memfd for
// every reply queued: under a 64-descriptor limit a few such clients left it unable to accept
// anyone. Now every queued reply shares the ring's one memfd.
TEST(BrokerBounds, DescriptorRepliesShareTheRingsMemfdUnderALowDescriptorLimit) {
  const std::string spec = ketama_spec(20);
  const samering::Ring local = samering::ring_from_json(spec);
  Fixture f(spec, {"--no-watch"}, [] {
    rlimit rl{64, 64};
    ::setrlimit(RLIMIT_NOFILE, &rl);
  });
  std::vector<std::unique_ptr<RawClient>> flooders;
  for (int i = 0; i < 3; ++i) {
    flooders.push_back(std::make_unique<RawClient>(f.socket));
    flooders.back()->send(ring_image_requests(2000, proto::kFlagImageFd));
  }
  eventually([&] { return stat_of(f, "connections", "writing") >= 3; }, 3000ms);
  const long fds = open_descriptors(f.broker->pid());
  EXPECT_GE(fds, 0);
  EXPECT_LT(fds, 40) << "descriptors held by the broker with 3 x 2,000 descriptor replies asked for";
  // A new client connects, is served, and gets a descriptor of its own.
  samering::BrokerOptions opt;
  opt.timeout_ms = 3000;
  samering::BrokerSelector fresh(f.socket, "main", opt);
  EXPECT_NO_THROW(fresh.ping());
  std::uint64_t g = 0;
  const samering::Ring mapped = fresh.ring(true, &g);
  EXPECT_EQ(g, fresh.info().generation);
  ASSERT_EQ(mapped.image().size(), local.image().size());
  EXPECT_EQ(std::memcmp(mapped.image().data(), local.image().data(), local.image().size()), 0);
  const auto s = nlohmann::json::parse(fresh.stats());
  EXPECT_EQ(s["errors"]["unavailable"], 0) << "no reply failed for want of a descriptor";
  EXPECT_EQ(s["connections"]["rejected"], 0);
}

// Defect 2: when the broker is out of descriptors anyway (here its limit is lowered under it), a
// connection waiting in the backlog used to wait there while accept() failed ten times a second
// ("accept: Too many open files"); now the broker gives up its reserve descriptor for a moment,
// accepts it, says why and closes it, and goes on serving the connections it has.
TEST(BrokerBounds, OutOfDescriptorsTheBrokerRefusesNewConnectionsInsteadOfSpinning) {
  Fixture f(ketama_spec(5), {"--no-watch"});
  samering::BrokerSelector held(f.socket, "main");
  held.ping();
  // A limit just above the lowest free number: the next descriptor is the last one it may open.
  const long free = lowest_free_descriptor(f.broker->pid());
  ASSERT_GT(free, 0);
  rlimit low{static_cast<rlim_t>(free + 1), static_cast<rlim_t>(free + 1)}, old{};
  ASSERT_EQ(::prlimit(f.broker->pid(), RLIMIT_NOFILE, nullptr, &old), 0);
  low.rlim_max = old.rlim_max;
  ASSERT_EQ(::prlimit(f.broker->pid(), RLIMIT_NOFILE, &low, nullptr), 0);
  samering::BrokerOptions opt;
  opt.timeout_ms = 1500;
  samering::BrokerSelector one_more(f.socket, "main", opt);  // the last descriptor
  EXPECT_NO_THROW(one_more.ping());
  int refused = 0;
  for (int i = 0; i < 5; ++i) {
    try {
      samering::BrokerSelector c(f.socket, "main", opt);
      ADD_FAILURE() << "connection " << i << " beyond the descriptor limit was served";
    } catch (const samering::BrokerError& e) {
      EXPECT_EQ(e.kind(), samering::BrokerError::Kind::kConnect) << e.what();
      EXPECT_NE(std::string(e.what()).find("too_many_connections"), std::string::npos) << e.what();
      ++refused;
    }
  }
  EXPECT_EQ(refused, 5);
  EXPECT_NO_THROW(held.ping());  // the connections it has are served throughout
  const auto s = nlohmann::json::parse(held.stats());
  EXPECT_EQ(s["connections"]["shed"], 5);
  EXPECT_EQ(s["errors"]["too_many_connections"], 5);
  ASSERT_EQ(::prlimit(f.broker->pid(), RLIMIT_NOFILE, &old, nullptr), 0);
  EXPECT_NO_THROW(samering::BrokerSelector(f.socket, "main", opt).ping());
  const std::string log = f.broker->log();
  EXPECT_EQ(log.find("accept: "), std::string::npos) << log;
  EXPECT_TRUE(eventually([&] { return f.broker->log().find("out of descriptors: ") != std::string::npos; }, 3000ms))
      << f.broker->log();
}

// Defect 8: the idle timeout counts from the last request, not the last byte. A client that sends
// one byte of a frame that never completes every 50 ms was never idle.
TEST(BrokerBounds, TricklingBytesOfAnUnfinishedFrameDoesNotDefeatTheIdleTimeout) {
  Fixture f(ketama_spec(3), {"--idle-timeout", "0.5", "--no-watch"});
  RawClient c(f.socket);
  c.send(hello_frame(1));
  ASSERT_TRUE(c.read_frame());
  std::string frame = raw_frame(static_cast<std::uint8_t>(Opcode::kPing), 2, std::string(100, 'p'));
  c.send(std::string_view(frame).substr(0, proto::kHeaderSize));  // a PING of 100 bytes begins
  bool closed = false;
  std::optional<proto::ErrorReply> error;
  std::string error_message;
  for (std::size_t i = proto::kHeaderSize; i + 1 < frame.size() && !closed; ++i) {  // never the last byte
    pollfd p{c.fd(), POLLIN, 0};
    if (::poll(&p, 1, 50) == 1) {
      try {
        if (auto r = c.read_frame(1000ms)) {
          error = error_of(*r);
          error_message = std::string(error->message);
        }
      } catch (const std::exception&) {
      }
      closed = c.closed_by_peer(1000ms);
      break;
    }
    try {
      c.send(std::string_view(frame).substr(i, 1));
    } catch (const std::exception&) {
      closed = true;  // EPIPE: already closed
    }
  }
  ASSERT_TRUE(error) << "the trickling connection was not closed with an error frame within 4 s (idle timeout 0.5 s)";
  EXPECT_EQ(error->code, ErrorCode::kIdleTimeout) << error_message;
  EXPECT_TRUE(closed);
  EXPECT_GE(f.stats()["connections"]["idle_closed"], 1);
}

// ...while a slow client whose requests do complete, one every 100 ms, is never idle.
TEST(BrokerBounds, SlowButCompleteRequestsKeepAConnectionOpen) {
  Fixture f(ketama_spec(3), {"--idle-timeout", "0.3", "--no-watch"});
  RawClient c(f.socket);
  c.send(hello_frame(1));
  ASSERT_TRUE(c.read_frame());
  for (std::uint32_t i = 0; i < 10; ++i) {  // 1 s of requests, each completing in ~100 ms
    const std::string frame = raw_frame(static_cast<std::uint8_t>(Opcode::kPing), 10 + i, "abcdefgh");
    for (std::size_t b = 0; b < frame.size(); b += 5) {
      c.send(std::string_view(frame).substr(b, 5));
      std::this_thread::sleep_for(20ms);
    }
    auto r = c.read_frame(2000ms);
    ASSERT_TRUE(r) << "closed at request " << i;
    ASSERT_EQ(r->header.id, 10 + i) << "request " << i << ": " << proto::opcode_name(r->header.opcode);
  }
}

}  // namespace
