// The C API over samering::Ring (samering/selector.h). Exceptions stop here: every entry point
// catches and turns them into codes.
#include "samering/selector.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "samering/broker.hpp"
#include "samering/error.hpp"
#include "samering/ring.hpp"

// A selector answers from one of three sources (DESIGN.md "Selector sources"): a local Ring, a
// broker connection, or the broker's shared-memory image. The local path is unchanged and first.
struct selector {
  // The servers and flavor of one generation, copied: pointers handed out by selector_server and
  // selector_flavor stay valid until selector_free even after the ring moved on.
  struct ServerList {
    std::uint64_t generation = 0;
    std::string flavor;
    std::vector<std::string> servers;
    std::uint32_t broker_pid = 0;  // broker: the broker process that named this generation
  };

  explicit selector(samering::Ring r) : ring(std::move(r)), flavor(ring->flavor()) {}
  explicit selector(std::unique_ptr<samering::BrokerSelector> b) : source(SELECTOR_SOURCE_BROKER), broker(std::move(b)) {}
  explicit selector(std::unique_ptr<samering::ShmSelector> s) : source(SELECTOR_SOURCE_SHM), shm(std::move(s)) {}

  int source = SELECTOR_SOURCE_LOCAL;
  std::optional<samering::Ring> ring;  // local
  std::string flavor;                  // local
  // Broker and shm handles keep per-handle state: one thread at a time (selector.h).
  std::unique_ptr<samering::BrokerSelector> broker;
  std::unique_ptr<samering::ShmSelector> shm;
  std::deque<ServerList> lists;        // broker/shm: one per generation seen, newest last
  std::string last_error;
};

namespace {

void write_error(char* errbuf, std::size_t errlen, const std::string& message) {
  if (!errbuf || errlen == 0) return;
  const std::size_t n = std::min(message.size(), errlen - 1);
  std::memcpy(errbuf, message.data(), n);
  errbuf[n] = '\0';
}

int broker_code(const samering::BrokerError& e) {
  switch (e.kind()) {
    case samering::BrokerError::Kind::kConnect:
    case samering::BrokerError::Kind::kIo: return SELECTOR_ECONN;
    case samering::BrokerError::Kind::kTimeout: return SELECTOR_ETIMEDOUT;
    case samering::BrokerError::Kind::kProtocol: return SELECTOR_EPROTO;
    case samering::BrokerError::Kind::kBroker: return SELECTOR_EBROKER;
  }
  return SELECTOR_EINTERNAL;
}

template <typename Make>
int make_selector(selector_t** out, char* errbuf, std::size_t errlen, Make make) {
  if (!out) {
    write_error(errbuf, errlen, "out must not be NULL");
    return SELECTOR_EINVAL;
  }
  *out = nullptr;
  write_error(errbuf, errlen, "");
  try {
    *out = make();
    return SELECTOR_OK;
  } catch (const samering::SpecError& e) {
    write_error(errbuf, errlen, e.what());
    return SELECTOR_ESPEC;
  } catch (const samering::ImageError& e) {
    write_error(errbuf, errlen, e.what());
    return SELECTOR_EIMAGE;
  } catch (const samering::BrokerError& e) {
    write_error(errbuf, errlen, e.what());
    return broker_code(e);
  } catch (const std::bad_alloc&) {
    write_error(errbuf, errlen, "out of memory");
    return SELECTOR_ENOMEM;
  } catch (const std::exception& e) {
    write_error(errbuf, errlen, e.what());
    return SELECTOR_EINTERNAL;
  } catch (...) {
    write_error(errbuf, errlen, "unknown error");
    return SELECTOR_EINTERNAL;
  }
}

bool read_file(const char* path, std::string& text) {
  std::FILE* f = std::fopen(path, "rb");
  if (!f) return false;
  char buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  const bool ok = !std::ferror(f);
  const int saved = errno;
  std::fclose(f);
  errno = saved;
  return ok;
}

}  // namespace

namespace {

// Broker/shm handles mutate per-handle state behind the const API (one thread at a time).
selector* mut(const selector_t* sel) { return const_cast<selector*>(sel); }

// The server list of the generation the handle follows now (broker: the newest seen).
const selector::ServerList& current_list(selector* s) {
  if (s->shm) {
    s->shm->refresh();
    if (s->lists.empty() || s->lists.back().generation != s->shm->generation()) {
      const samering::Ring& ring = s->shm->ring();
      selector::ServerList list{s->shm->generation(), std::string(ring.flavor()), {}};
      for (std::size_t i = 0; i < ring.size(); ++i) list.servers.emplace_back(ring.server(i).address);
      s->lists.push_back(std::move(list));
    }
  }
  return s->lists.back();
}

// After a broker reply from generation g: refresh the server list when g is new (one RING_INFO).
// A generation names a ring only within one broker process: one restarted without --shm-dir counts
// from 1 again, maybe with another spec. So the list is refreshed when the generation or the
// broker's pid (from the connection's HELLO, known without a round trip) differs from the list's.
void note_generation(selector* s, std::uint64_t g) {
  try {
    const std::uint32_t pid = s->broker->broker_pid();
    if (s->lists.back().generation == g && s->lists.back().broker_pid == pid) return;
    samering::BrokerRingInfo info = s->broker->info();
    s->lists.push_back({info.generation, std::move(info.flavor), std::move(info.servers), s->broker->broker_pid()});
  } catch (const std::exception& e) {
    s->last_error = e.what();  // the pick itself succeeded; the list stays one generation behind
  }
}

int pick_remote(const selector_t* csel, const char* key, size_t len, std::uint64_t* generation) {
  selector* sel = mut(csel);
  if (sel->shm) {
    const std::int32_t i = sel->shm->pick(key ? key : "", len);
    if (generation) *generation = sel->shm->generation();
    return i < 0 ? SELECTOR_EKEY : i;
  }
  try {
    const samering::BrokerPick p = sel->broker->pick(std::string_view(key ? key : "", len));
    note_generation(sel, p.generation);
    if (generation) *generation = p.generation;
    return p.index < 0 ? SELECTOR_EKEY : p.index;
  } catch (const samering::BrokerError& e) {
    sel->last_error = e.what();
    return broker_code(e);
  } catch (const std::bad_alloc&) {
    sel->last_error = "out of memory";
    return SELECTOR_ENOMEM;
  } catch (const std::exception& e) {
    sel->last_error = e.what();
    return SELECTOR_EINTERNAL;
  }
}

}  // namespace

extern "C" {

int selector_new_from_json(const char* json, size_t len, selector_t** out, char* errbuf, size_t errlen) {
  if (!json && len) {
    write_error(errbuf, errlen, "json must not be NULL");
    if (out) *out = nullptr;
    return SELECTOR_EINVAL;
  }
  return make_selector(out, errbuf, errlen,
                       [&] { return new selector(samering::ring_from_json(std::string_view(json ? json : "", len))); });
}

int selector_new_from_file(const char* path, selector_t** out, char* errbuf, size_t errlen) {
  if (out) *out = nullptr;
  if (!path) {
    write_error(errbuf, errlen, "path must not be NULL");
    return SELECTOR_EINVAL;
  }
  std::string text;
  if (!read_file(path, text)) {
    write_error(errbuf, errlen, std::string(path) + ": cannot read spec file: " + std::strerror(errno));
    return SELECTOR_EIO;
  }
  return make_selector(out, errbuf, errlen, [&] {
    try {
      return new selector(samering::ring_from_json(text));
    } catch (const samering::SpecError& e) {
      throw samering::SpecError(path, e.what());
    }
  });
}

int selector_new_from_image(const void* bytes, size_t len, selector_t** out, char* errbuf, size_t errlen) {
  if (!bytes && len) {
    write_error(errbuf, errlen, "bytes must not be NULL");
    if (out) *out = nullptr;
    return SELECTOR_EINVAL;
  }
  return make_selector(out, errbuf, errlen, [&] {
    return new selector(samering::Ring(samering::RingImage::from_bytes({static_cast<const std::byte*>(bytes), len})));
  });
}

int selector_new_from_broker(const char* socket_path, const char* ring, int timeout_ms, selector_t** out, char* errbuf,
                             size_t errlen) {
  if (out) *out = nullptr;
  if (!socket_path || !ring) {
    write_error(errbuf, errlen, "socket_path and ring must not be NULL");
    return SELECTOR_EINVAL;
  }
  return make_selector(out, errbuf, errlen, [&] {
    samering::BrokerOptions options;
    options.timeout_ms = timeout_ms;
    options.connect_now = false;
    auto broker = std::make_unique<samering::BrokerSelector>(socket_path, ring, options);
    samering::BrokerRingInfo info = broker->info();  // connects; fails on a missing ring
    const std::uint32_t pid = broker->broker_pid();
    auto sel = std::make_unique<selector>(std::move(broker));
    sel->lists.push_back({info.generation, std::move(info.flavor), std::move(info.servers), pid});
    return sel.release();
  });
}

int selector_new_from_shm(const char* shm_dir, const char* ring, selector_t** out, char* errbuf, size_t errlen) {
  if (out) *out = nullptr;
  if (!shm_dir || !ring) {
    write_error(errbuf, errlen, "shm_dir and ring must not be NULL");
    return SELECTOR_EINVAL;
  }
  return make_selector(out, errbuf, errlen,
                       [&] { return new selector(std::make_unique<samering::ShmSelector>(shm_dir, ring)); });
}

int selector_new_from_broker_shm(const char* socket_path, const char* ring, int timeout_ms, selector_t** out,
                                 char* errbuf, size_t errlen) {
  if (out) *out = nullptr;
  if (!socket_path || !ring) {
    write_error(errbuf, errlen, "socket_path and ring must not be NULL");
    return SELECTOR_EINVAL;
  }
  return make_selector(out, errbuf, errlen, [&] {
    samering::BrokerOptions options;
    options.timeout_ms = timeout_ms;
    samering::BrokerSelector broker(socket_path, ring, options);
    (void)broker.info();  // fails on a missing ring, as selector_new_from_broker does
    const auto stats = nlohmann::json::parse(broker.stats(), nullptr, false);
    const auto dir = stats.is_object() && stats.contains("shm_dir") && stats["shm_dir"].is_string()
                         ? stats["shm_dir"].get<std::string>()
                         : std::string();
    if (dir.empty())
      throw samering::BrokerError(samering::BrokerError::Kind::kBroker,
                                  std::string("the broker at ") + socket_path + " publishes no shared memory (start it with --shm-dir)");
    return new selector(std::make_unique<samering::ShmSelector>(dir, ring));
  });
}

int selector_pick(const selector_t* sel, const char* key, size_t len) {
  if (!sel || (!key && len)) return SELECTOR_EINVAL;
  if (sel->source == SELECTOR_SOURCE_LOCAL) [[likely]] {
    const std::int32_t i = sel->ring->pick(key ? key : "", len);
    return i < 0 ? SELECTOR_EKEY : i;
  }
  return pick_remote(sel, key, len, nullptr);
}

int selector_pick_gen(const selector_t* sel, const char* key, size_t len, uint64_t* generation) {
  if (!sel || (!key && len)) return SELECTOR_EINVAL;
  if (sel->source == SELECTOR_SOURCE_LOCAL) {
    if (generation) *generation = 0;
    return selector_pick(sel, key, len);
  }
  return pick_remote(sel, key, len, generation);
}

int selector_pick_many(const selector_t* sel, const char* const* keys, const size_t* lens, size_t n, int* out) {
  if (!sel || (n && (!keys || !lens || !out))) return SELECTOR_EINVAL;
  if (sel->source != SELECTOR_SOURCE_BROKER) {
    for (size_t i = 0; i < n; ++i) out[i] = selector_pick(sel, keys[i], lens[i]);
    return SELECTOR_OK;
  }
  // Broker: PICK_MANY frames (one round trip per batch of up to the broker's max_keys).
  selector* s = mut(sel);
  try {
    std::vector<std::string_view> views(n);
    for (size_t i = 0; i < n; ++i) {
      if (!keys[i] && lens[i]) return SELECTOR_EINVAL;
      views[i] = std::string_view(keys[i] ? keys[i] : "", lens[i]);
    }
    static_assert(sizeof(int) == sizeof(std::int32_t));
    const std::uint64_t g = s->broker->pick_many(views.data(), n, reinterpret_cast<std::int32_t*>(out));
    for (size_t i = 0; i < n; ++i)
      if (out[i] < 0) out[i] = SELECTOR_EKEY;
    if (n) note_generation(s, g);
    return SELECTOR_OK;
  } catch (const samering::BrokerError& e) {
    s->last_error = e.what();
    return broker_code(e);
  } catch (const std::bad_alloc&) {
    s->last_error = "out of memory";
    return SELECTOR_ENOMEM;
  } catch (const std::exception& e) {
    s->last_error = e.what();
    return SELECTOR_EINTERNAL;
  }
}

int selector_source(const selector_t* sel) { return sel ? sel->source : SELECTOR_EINVAL; }

uint64_t selector_generation(const selector_t* sel) {
  if (!sel || sel->source == SELECTOR_SOURCE_LOCAL) return 0;
  return current_list(mut(sel)).generation;
}

int selector_server_count(const selector_t* sel) {
  if (!sel) return SELECTOR_EINVAL;
  if (sel->source == SELECTOR_SOURCE_LOCAL) return static_cast<int>(sel->ring->size());
  return static_cast<int>(current_list(mut(sel)).servers.size());
}

const char* selector_server(const selector_t* sel, int i) {
  if (!sel || i < 0) return nullptr;
  if (sel->source == SELECTOR_SOURCE_LOCAL) {
    if (static_cast<std::size_t>(i) >= sel->ring->size()) return nullptr;
    return sel->ring->server(static_cast<std::size_t>(i)).address.data();  // NUL-terminated in the image
  }
  const auto& list = current_list(mut(sel));
  if (static_cast<std::size_t>(i) >= list.servers.size()) return nullptr;
  return list.servers[static_cast<std::size_t>(i)].c_str();
}

const char* selector_flavor(const selector_t* sel) {
  if (!sel) return nullptr;
  if (sel->source == SELECTOR_SOURCE_LOCAL) return sel->flavor.c_str();
  return current_list(mut(sel)).flavor.c_str();
}

const char* selector_last_error(const selector_t* sel) {
  if (!sel) return "";
  if (sel->shm && sel->last_error.empty()) return sel->shm->last_error().c_str();  // a refused new image
  return sel->last_error.c_str();
}

const char* selector_strerror(int code) {
  switch (code) {
    case SELECTOR_OK: return "success";
    case SELECTOR_EINVAL: return "invalid argument";
    case SELECTOR_ESPEC: return "invalid spec";
    case SELECTOR_EIO: return "cannot read the spec file";
    case SELECTOR_EKEY: return "key refused by the flavor";
    case SELECTOR_ENOMEM: return "out of memory";
    case SELECTOR_EIMAGE: return "invalid ring image";
    case SELECTOR_EINTERNAL: return "internal error";
    case SELECTOR_ECONN: return "cannot reach the broker";
    case SELECTOR_ETIMEDOUT: return "the broker did not answer in time";
    case SELECTOR_EBROKER: return "the broker answered with an error";
    case SELECTOR_EPROTO: return "malformed reply from the broker";
    default: return code >= 0 ? "success" : "unknown error code";
  }
}

void selector_free(selector_t* sel) { delete sel; }

}  // extern "C"
