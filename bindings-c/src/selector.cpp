// The C API over samering::Ring, BrokerSelector and ShmSelector (samering/selector.h). Exceptions
// stop at the boundary (boundary.hpp) and become status codes.
#include "samering/selector.h"

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "boundary.hpp"
#include "samering/broker.hpp"
#include "samering/convert.hpp"
#include "samering/error.hpp"
#include "samering/ring.hpp"

namespace {

using samering::c_api::construct;
using samering::c_api::guard;
using samering::c_api::write_error;

// A ring built here or loaded from an image: immutable, so every call is const and thread-safe.
struct LocalSource {
  samering::Ring ring;
};

// A broker connection. The handle keeps one server list, the newest it has seen (issue 13: no
// list per generation kept forever), and the generation its last answer came from.
struct BrokerSource {
  struct ServerList {
    std::uint64_t generation = 0;
    std::uint32_t broker_pid = 0;  // a generation names a ring only within one broker process
    std::string flavor;
    std::vector<std::string> servers;
  };
  std::unique_ptr<samering::BrokerSelector> broker;
  ServerList list;
  std::uint64_t seen = 0;       // the generation of the last answer
  std::uint32_t seen_pid = 0;   // the broker process that gave it
  std::string address;          // the last pick's address, NUL-terminated
  std::optional<samering::Ring> image;  // selector_image's mapping
  std::vector<std::string_view> views;  // scratch for pick_many
};

// The broker's shared-memory image: ShmSelector follows reloads; its Ring owns the mapping that
// addresses and the flavor point into.
struct ShmSource {
  std::unique_ptr<samering::ShmSelector> shm;
};

}  // namespace

struct selector {
  template <typename Source>
  explicit selector(Source s) : source(std::move(s)) {}
  std::variant<LocalSource, BrokerSource, ShmSource> source;
  std::string last_error;
};

namespace {

const char* cstr(std::string_view s) { return s.data(); }  // image strings are NUL-terminated

std::uint32_t current_pid(BrokerSource& b) { return b.broker->broker_pid(); }

// The list of the generation the handle last answered from: RING_INFO when it is not the one kept.
// RING_INFO may answer a newer generation than that answer's (a reload in between): the list is
// then the newest, and `seen` moves to it.
const BrokerSource::ServerList& current_list(BrokerSource& b) {
  if (!b.list.servers.empty() && b.list.generation == b.seen && b.list.broker_pid == b.seen_pid) return b.list;
  samering::BrokerRingInfo info = b.broker->info();
  const std::uint32_t pid = current_pid(b);
  b.list = {info.generation, pid, std::move(info.flavor), std::move(info.servers)};
  b.seen = info.generation;
  b.seen_pid = pid;
  return b.list;
}

int local_pick(const LocalSource& l, const char* key, std::size_t len) noexcept {
  const std::int32_t i = l.ring.pick(key ? key : "", len);
  return i < 0 ? SAMERING_EKEY : i;
}

bool bad_key(const char* key, std::size_t len) { return !key && len; }

}  // namespace

extern "C" {

int selector_new_from_json(const char* json, size_t len, selector_t** out, char* errbuf, size_t errlen) {
  if (bad_key(json, len)) {
    if (out) *out = nullptr;
    write_error(errbuf, errlen, "json must not be NULL");
    return SAMERING_EINVAL;
  }
  return construct(out, errbuf, errlen, [&] {
    return new selector(LocalSource{samering::ring_from_json(std::string_view(json ? json : "", len))});
  });
}

int selector_new_from_file(const char* path, selector_t** out, char* errbuf, size_t errlen) {
  if (out) *out = nullptr;
  if (!path) {
    write_error(errbuf, errlen, "path must not be NULL");
    return SAMERING_EINVAL;
  }
  std::string text, error;
  if (!samering::c_api::read_file(path, "spec file", text, error)) {
    write_error(errbuf, errlen, error);
    return SAMERING_EIO;
  }
  return construct(out, errbuf, errlen, [&] {
    try {
      return new selector(LocalSource{samering::ring_from_json(text)});
    } catch (const samering::SpecError& e) {
      throw samering::SpecError(path, e.what());
    }
  });
}

int selector_new_from_image(const void* bytes, size_t len, selector_t** out, char* errbuf, size_t errlen) {
  if (!bytes && len) {
    if (out) *out = nullptr;
    write_error(errbuf, errlen, "bytes must not be NULL");
    return SAMERING_EINVAL;
  }
  return construct(out, errbuf, errlen, [&] {
    const std::span<const std::byte> view(static_cast<const std::byte*>(bytes), len);
    return new selector(LocalSource{samering::Ring(samering::RingImage::from_bytes(view))});
  });
}

int selector_new_from_cmf(const char* args_json, size_t len, selector_t** out, char* errbuf, size_t errlen) {
  if (bad_key(args_json, len)) {
    if (out) *out = nullptr;
    write_error(errbuf, errlen, "args_json must not be NULL");
    return SAMERING_EINVAL;
  }
  return construct(out, errbuf, errlen, [&] {
    const samering::RingSpec spec = samering::convert_cmf(std::string_view(args_json ? args_json : "", len));
    return new selector(LocalSource{samering::ring_from_spec(spec)});
  });
}

int selector_new_from_broker(const char* socket_path, const char* ring, int timeout_ms, selector_t** out,
                             char* errbuf, size_t errlen) {
  if (out) *out = nullptr;
  if (!socket_path || !ring) {
    write_error(errbuf, errlen, "socket_path and ring must not be NULL");
    return SAMERING_EINVAL;
  }
  return construct(out, errbuf, errlen, [&] {
    samering::BrokerOptions options;
    options.timeout_ms = timeout_ms;
    options.connect_now = false;
    BrokerSource b;
    b.broker = std::make_unique<samering::BrokerSelector>(socket_path, ring, options);
    current_list(b);  // connects; fails on a missing ring
    return new selector(std::move(b));
  });
}

int selector_new_from_shm_owned_by(const char* shm_dir, const char* ring, int64_t owner_uid, selector_t** out,
                                   char* errbuf, size_t errlen) {
  if (out) *out = nullptr;
  if (!shm_dir || !ring) {
    write_error(errbuf, errlen, "shm_dir and ring must not be NULL");
    return SAMERING_EINVAL;
  }
  return construct(out, errbuf, errlen, [&] {
    samering::ShmOptions options;
    options.trusted_uid = owner_uid < 0 ? -1 : static_cast<long long>(owner_uid);
    return new selector(ShmSource{std::make_unique<samering::ShmSelector>(shm_dir, ring, options)});
  });
}

int selector_new_from_shm(const char* shm_dir, const char* ring, selector_t** out, char* errbuf, size_t errlen) {
  return selector_new_from_shm_owned_by(shm_dir, ring, -1, out, errbuf, errlen);
}

int selector_new_from_broker_shm(const char* socket_path, const char* ring, int timeout_ms, selector_t** out,
                                 char* errbuf, size_t errlen) {
  if (out) *out = nullptr;
  if (!socket_path || !ring) {
    write_error(errbuf, errlen, "socket_path and ring must not be NULL");
    return SAMERING_EINVAL;
  }
  return construct(out, errbuf, errlen, [&] {
    samering::BrokerOptions options;
    options.timeout_ms = timeout_ms;
    samering::BrokerSelector broker(socket_path, ring, options);  // fails on a missing ring
    const std::string dir = broker.shm_dir();                     // told by HELLO (protocol version 2)
    if (dir.empty())
      throw samering::BrokerError(
          samering::BrokerError::Kind::kBroker,
          fmt::format("the broker at {} publishes no shared memory (start it with --shm-dir)", socket_path));
    // Its files are trusted when the broker's own uid owns them (it may run as a service user).
    samering::ShmOptions shm;
    shm.trusted_uid = static_cast<long long>(broker.broker_uid());
    return new selector(ShmSource{std::make_unique<samering::ShmSelector>(dir, ring, shm)});
  });
}

int selector_pick(selector_t* sel, const char* key, size_t len) {
  if (!sel || bad_key(key, len)) return SAMERING_EINVAL;
  if (const auto* l = std::get_if<LocalSource>(&sel->source)) [[likely]]
    return local_pick(*l, key, len);
  return selector_pick_server(sel, key, len, nullptr, nullptr);
}

int selector_pick_server(selector_t* sel, const char* key, size_t len, uint64_t* generation, const char** address) {
  if (address) *address = nullptr;
  if (!sel || bad_key(key, len)) return SAMERING_EINVAL;
  const std::string_view k(key ? key : "", len);
  return std::visit(
      [&](auto& src) -> int {
        using T = std::decay_t<decltype(src)>;
        if constexpr (std::is_same_v<T, LocalSource>) {
          const int i = local_pick(src, key, len);
          if (generation) *generation = 0;
          if (i >= 0 && address) *address = cstr(src.ring.server(static_cast<std::size_t>(i)).address);
          return i;
        } else if constexpr (std::is_same_v<T, ShmSource>) {
          const std::int32_t i = src.shm->pick(k);  // follows a new generation first
          if (generation) *generation = src.shm->generation();
          if (i < 0) return SAMERING_EKEY;
          if (address) *address = cstr(src.shm->ring().server(static_cast<std::size_t>(i)).address);
          return i;
        } else {
          return guard(sel->last_error, [&] {
            const samering::BrokerPick p = src.broker->pick(k);
            src.seen = p.generation;
            src.seen_pid = current_pid(src);
            if (generation) *generation = p.generation;
            if (p.index < 0) return static_cast<int>(SAMERING_EKEY);
            src.address.assign(p.address);
            if (address) *address = src.address.c_str();
            return static_cast<int>(p.index);
          });
        }
      },
      sel->source);
}

int selector_pick_many(selector_t* sel, const char* const* keys, const size_t* lens, size_t n, int* out,
                       const char** addresses, uint64_t* generation) {
  if (!sel || (n && (!keys || !lens || !out))) return SAMERING_EINVAL;
  static_assert(sizeof(int) == sizeof(std::int32_t));
  // A NULL key with a length is SAMERING_EINVAL in its own slot, not a failed call: it is picked
  // as an empty key and its slot overwritten at the end.
  const auto key_at = [&](size_t i) { return bad_key(keys[i], lens[i]) ? std::string_view() : std::string_view(keys[i] ? keys[i] : "", lens[i]); };
  const auto mark_bad_keys = [&] {
    for (size_t i = 0; i < n; ++i)
      if (bad_key(keys[i], lens[i])) {
        out[i] = SAMERING_EINVAL;
        if (addresses) addresses[i] = nullptr;
      }
  };
  // Fills addresses from the ring that answered (a local or shm Ring: one generation by construction).
  const auto from_ring = [&](const samering::Ring& ring) {
    for (size_t i = 0; i < n; ++i) {
      if (out[i] < 0) out[i] = SAMERING_EKEY;
      if (addresses) addresses[i] = out[i] < 0 ? nullptr : cstr(ring.server(static_cast<std::size_t>(out[i])).address);
    }
  };
  if (auto* l = std::get_if<LocalSource>(&sel->source)) {
    for (size_t i = 0; i < n; ++i) out[i] = l->ring.pick(key_at(i));
    from_ring(l->ring);
    mark_bad_keys();
    if (generation) *generation = 0;
    return SAMERING_OK;
  }
  if (auto* s = std::get_if<ShmSource>(&sel->source)) {
    return guard(sel->last_error, [&] {
      std::vector<std::string_view> views(n);
      for (size_t i = 0; i < n; ++i) views[i] = key_at(i);
      s->shm->pick_many(views.data(), n, reinterpret_cast<std::int32_t*>(out));  // one ring for all
      from_ring(s->shm->ring());
      mark_bad_keys();
      if (generation) *generation = s->shm->generation();
      return static_cast<int>(SAMERING_OK);
    });
  }
  auto& b = std::get<BrokerSource>(sel->source);
  return guard(sel->last_error, [&]() -> int {
    b.views.resize(n);
    for (size_t i = 0; i < n; ++i) b.views[i] = key_at(i);
    // A batch split over several PICK_MANY frames may straddle a reload, and the list of a
    // generation is asked after its answers: ask again until one generation answered everything
    // and the list is that generation's (a few tries: reloads are rare next to a batch).
    for (int attempt = 0; attempt < 4; ++attempt) {
      bool one_generation = true;
      const std::uint64_t g =
          n ? b.broker->pick_many(b.views.data(), n, reinterpret_cast<std::int32_t*>(out), &one_generation) : b.seen;
      b.seen = g;
      b.seen_pid = current_pid(b);
      if (!one_generation) continue;
      if (addresses && n) {
        const auto& list = current_list(b);
        if (list.generation != g) continue;
        for (size_t i = 0; i < n; ++i)
          addresses[i] = out[i] < 0 || static_cast<std::size_t>(out[i]) >= list.servers.size()
                             ? nullptr
                             : list.servers[static_cast<std::size_t>(out[i])].c_str();
      }
      for (size_t i = 0; i < n; ++i)
        if (out[i] < 0) out[i] = SAMERING_EKEY;
      mark_bad_keys();
      if (generation) *generation = g;
      return SAMERING_OK;
    }
    sel->last_error = "the broker's ring changed during every attempt at this batch";
    return SAMERING_EBROKER;
  });
}

int selector_source(const selector_t* sel) {
  if (!sel) return SAMERING_EINVAL;
  switch (sel->source.index()) {
    case 0: return SELECTOR_SOURCE_LOCAL;
    case 1: return SELECTOR_SOURCE_BROKER;
    default: return SELECTOR_SOURCE_SHM;
  }
}

uint64_t selector_generation(selector_t* sel) {
  if (!sel) return 0;
  if (auto* s = std::get_if<ShmSource>(&sel->source)) {
    s->shm->refresh();
    return s->shm->generation();
  }
  if (auto* b = std::get_if<BrokerSource>(&sel->source)) return b->seen;
  return 0;
}

namespace {
// The ring of a local or shm handle (a shm handle follows a newer generation first), or nullptr
// for a broker handle.
const samering::Ring* ring_of(selector_t* sel) {
  if (auto* l = std::get_if<LocalSource>(&sel->source)) return &l->ring;
  if (auto* s = std::get_if<ShmSource>(&sel->source)) {
    s->shm->refresh();
    return &s->shm->ring();
  }
  return nullptr;
}

// The broker handle's list, or nullptr with the reason in last_error.
const BrokerSource::ServerList* broker_list(selector_t* sel) {
  auto& b = std::get<BrokerSource>(sel->source);
  const BrokerSource::ServerList* list = nullptr;
  guard(sel->last_error, [&] {
    list = &current_list(b);
    return 0;
  });
  return list;
}
}  // namespace

int selector_server_count(selector_t* sel) {
  if (!sel) return SAMERING_EINVAL;
  if (const auto* ring = ring_of(sel)) return static_cast<int>(ring->size());
  auto& b = std::get<BrokerSource>(sel->source);
  return guard(sel->last_error, [&] { return static_cast<int>(current_list(b).servers.size()); });
}

const char* selector_server(selector_t* sel, int i) {
  if (!sel || i < 0) return nullptr;
  const auto index = static_cast<std::size_t>(i);
  if (const auto* ring = ring_of(sel)) return index < ring->size() ? cstr(ring->server(index).address) : nullptr;
  const auto* list = broker_list(sel);
  return list && index < list->servers.size() ? list->servers[index].c_str() : nullptr;
}

const char* selector_flavor(selector_t* sel) {
  if (!sel) return nullptr;
  if (const auto* ring = ring_of(sel)) return cstr(ring->flavor());
  const auto* list = broker_list(sel);
  return list ? list->flavor.c_str() : nullptr;
}

int selector_image(selector_t* sel, const void** bytes, size_t* len) {
  if (!sel || !bytes || !len) return SAMERING_EINVAL;
  *bytes = nullptr;
  *len = 0;
  if (const auto* ring = ring_of(sel)) {
    *bytes = ring->image().data();
    *len = ring->image().size();
    return SAMERING_OK;
  }
  auto& b = std::get<BrokerSource>(sel->source);
  return guard(sel->last_error, [&] {
    std::uint64_t g = 0;
    b.image = b.broker->ring(true, &g);
    *bytes = b.image->image().data();
    *len = b.image->image().size();
    return static_cast<int>(SAMERING_OK);
  });
}

const char* selector_last_error(const selector_t* sel) {
  if (!sel) return "";
  if (const auto* s = std::get_if<ShmSource>(&sel->source); s && sel->last_error.empty())
    return s->shm->last_error().c_str();  // a refused new image
  return sel->last_error.c_str();
}

void selector_free(selector_t* sel) { delete sel; }

int samering_convert(const char* from, const char* text, size_t len, char** json, size_t* json_len, char* errbuf,
                     size_t errlen) {
  if (json) *json = nullptr;
  if (json_len) *json_len = 0;
  if (!from || !json || bad_key(text, len)) {
    write_error(errbuf, errlen, "from and json must not be NULL, nor text when len > 0");
    return SAMERING_EINVAL;
  }
  using Convert = samering::RingSpec (*)(std::string_view);
  struct Format {
    const char* name;
    Convert convert;
  };
  static constexpr Format kFormats[] = {
      {"cmf", samering::convert_cmf},
      {"libmemcached", samering::convert_libmemcached},
      {"gomemcache", samering::convert_gomemcache},
      {"php-memcache", samering::convert_php_memcache},
      {"spymemcached", samering::convert_spymemcached},
      {"dalli", samering::convert_dalli},
  };
  Convert convert = nullptr;
  for (const auto& f : kFormats)
    if (std::strcmp(f.name, from) == 0) convert = f.convert;
  if (!convert) {
    std::string known;
    for (const auto& f : kFormats) known += fmt::format("{}{}", known.empty() ? "" : ", ", f.name);
    write_error(errbuf, errlen, fmt::format("unknown format \"{}\" (libsamering_c converts: {})", from, known));
    return SAMERING_EINVAL;
  }
  write_error(errbuf, errlen, "");
  std::string message;
  const int rc = guard(message, [&] {
    const std::string out = samering::to_json(convert(std::string_view(text ? text : "", len)));
    char* copy = static_cast<char*>(std::malloc(out.size() + 1));
    if (!copy) throw std::bad_alloc();
    std::memcpy(copy, out.c_str(), out.size() + 1);
    *json = copy;
    if (json_len) *json_len = out.size();
    return static_cast<int>(SAMERING_OK);
  });
  if (rc < 0) write_error(errbuf, errlen, message);
  return rc;
}

void samering_free(void* p) { std::free(p); }

}  // extern "C"
