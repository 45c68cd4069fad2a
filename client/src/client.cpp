// samering::Client: routes every key with the Ring, one libmemcached handle per server.
#include "samering/client.hpp"

#include <libmemcached/memcached.h>

#include <charconv>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "fork_marker.hpp"
#include "key_check.hpp"
#include "samering/error.hpp"
#include "samering/spec.hpp"
#include "server_connection.hpp"

namespace samering {

using client_detail::ForkMarker;
using client_detail::HandleSettings;
using client_detail::key_bytes_ok;
using client_detail::kMaxKeyLength;
using client_detail::kMaxNamespaceLength;
using client_detail::ServerConnection;

namespace {

// The ring's `namespace` option (cmf, cache-memcached): both peers send it before every key.
std::string ring_namespace(const Ring& ring) {
  const RingSpec spec = parse_spec(ring.spec_json());
  const auto it = spec.options.find("namespace");
  if (it == spec.options.end()) return {};
  if (const auto* s = std::get_if<std::string>(&it->second)) return *s;
  throw SpecError("options.namespace", "must be a string");
}

void check_namespace(const std::string& ns) {
  if (ns.size() > kMaxNamespaceLength) {
    throw SpecError("options.namespace", "longer than " + std::to_string(kMaxNamespaceLength) +
                                             " bytes (libmemcached's MEMCACHED_MAX_NAMESPACE)");
  }
  // libmemcached 1.1.4 namespace.cc verifies a namespace with isgraph(): printable ASCII only.
  for (const unsigned char c : ns) {
    if (c <= 0x20 || c >= 0x7f) throw SpecError("options.namespace", "must be printable ASCII without spaces");
  }
}

std::uint16_t port_number(std::string_view text) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0 || value > 65535) {
    throw SpecError("servers", "port \"" + std::string(text) + "\" is not a TCP port");
  }
  return static_cast<std::uint16_t>(value);
}

// A key for a message: printable bytes as they are, others as \xNN, at most 64 bytes shown.
std::string printable(std::string_view key) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out = "\"";
  for (std::size_t i = 0; i < key.size() && i < 64; ++i) {
    const unsigned char c = static_cast<unsigned char>(key[i]);
    if (c > 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(digits[c >> 4]);
      out.push_back(digits[c & 15]);
    }
  }
  if (key.size() > 64) out += "...";
  return out + "\"";
}

}  // namespace

struct Client::State {
  State(Ring r, ClientOptions options) : ring(std::move(r)) {
    settings.options = options;
    settings.key_prefix = ring_namespace(ring);
    check_namespace(settings.key_prefix);
    servers.reserve(ring.size());
    for (std::size_t i = 0; i < ring.size(); ++i) {
      const ServerInfo info = ring.server(i);
      servers.push_back(std::make_unique<ServerConnection>(std::string(info.host), port_number(info.port),
                                                           std::string(info.address)));
    }
  }

  // In a forked child, the parent's connections are dropped unused before anything else.
  void check_fork() noexcept {
    if (fork.forked()) drop_inherited();
  }

  void drop_inherited() noexcept {
    try {
      std::vector<client_detail::InheritedHandle> handles;
      for (auto& s : servers) {
        const client_detail::InheritedHandle h = s->take_inherited();
        if (h.mc) handles.push_back(h);
      }
      client_detail::release_inherited(handles);
    } catch (...) {
      // Out of memory: the handles not yet collected are abandoned (leaked, never written to).
      for (auto& s : servers) s->take_inherited();
    }
    fork.rearm();
  }

  // The server for a valid key (>= 0), or -1.
  std::int32_t route(std::string_view key) const noexcept {
    if (key.empty() || key.size() + settings.key_prefix.size() > kMaxKeyLength || !key_bytes_ok(key)) return -1;
    return ring.pick(key);
  }

  // route(), writing why a key is refused into last_error.
  std::int32_t route_or_explain(std::string_view key) {
    const std::int32_t i = route(key);
    if (i < 0) explain_bad_key(key);
    return i;
  }

  void explain_bad_key(std::string_view key) {
    std::string why;
    if (key.empty()) {
      why = "empty";
    } else if (key.size() + settings.key_prefix.size() > kMaxKeyLength) {
      why = std::to_string(key.size() + settings.key_prefix.size()) + " bytes with the namespace (at most " +
            std::to_string(kMaxKeyLength) + ")";
    } else if (!key_bytes_ok(key)) {
      for (std::size_t i = 0; i < key.size(); ++i) {
        const unsigned char c = static_cast<unsigned char>(key[i]);
        if (c <= 0x20 || c == 0x7f) {
          why = "byte " + std::to_string(i) + " is a space or control character (0x" + "0123456789abcdef"[c >> 4] +
                "0123456789abcdef"[c & 15] + ")";
          break;
        }
      }
    } else {
      why = "refused by the ring's flavor (" + std::string(ring.flavor()) + ": length outside " +
            std::to_string(ring.min_key_length()) + ".." + std::to_string(ring.max_key_length()) + ")";
    }
    last_error = "key " + printable(key) + ": bad key: " + why;
  }

  memcached_st* open(std::size_t server, Status& status) {
    return servers[server]->handle(settings, status, last_error);
  }

  Status result(std::size_t server, memcached_return_t rc) { return servers[server]->result(rc, settings, last_error); }

  Ring ring;
  HandleSettings settings;
  std::vector<std::unique_ptr<ServerConnection>> servers;
  ForkMarker fork;
  std::string last_error;
  // Multi-get scratch, kept to avoid allocating per call.
  std::vector<std::int32_t> routes;       // per key: its server, or -1
  std::vector<std::uint32_t> offsets;     // per server: first slot of its keys in `order`
  std::vector<std::uint32_t> order;       // key indices grouped by server, in key order
  std::vector<const char*> key_pointers;  // in `order` order, for memcached_mget
  std::vector<std::size_t> key_lengths;
  std::vector<unsigned char> sent;  // per server: its request went out
};

Client::Client(Ring ring, ClientOptions options) : state_(std::make_unique<State>(std::move(ring), options)) {}
Client::~Client() {
  if (state_) state_->check_fork();  // a child must not "quit" on its parent's sockets
}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&& other) noexcept {
  if (this != &other) {
    if (state_) state_->check_fork();
    state_ = std::move(other.state_);
  }
  return *this;
}

const Ring& Client::ring() const noexcept { return state_->ring; }
const ClientOptions& Client::options() const noexcept { return state_->settings.options; }
std::string_view Client::key_prefix() const noexcept { return state_->settings.key_prefix; }
std::string_view Client::last_error() const noexcept { return state_->last_error; }

void Client::set_options(const ClientOptions& options) {
  State& s = *state_;
  s.check_fork();
  s.settings.options = options;
  for (auto& server : s.servers) server->apply(options);
}

void Client::set_namespace(std::string_view ns) {
  State& s = *state_;
  s.check_fork();
  std::string prefix(ns);
  check_namespace(prefix);
  RingSpec spec = parse_spec(s.ring.spec_json());
  if (prefix.empty()) {
    spec.options.erase("namespace");
  } else {
    spec.options["namespace"] = prefix;
  }
  Ring ring = ring_from_spec(spec);  // the same servers in the same order: the connections stay
  // Nothing below throws: the client changes completely or not at all.
  s.ring = std::move(ring);
  s.settings.key_prefix = std::move(prefix);
  for (auto& server : s.servers) server->apply_key_prefix(s.settings.key_prefix);
}

std::int32_t Client::server_for(std::string_view key) const noexcept {
  const std::int32_t i = state_->route(key);
  return i < 0 ? static_cast<std::int32_t>(Status::bad_key) : i;
}

// ---- retrieval ----------------------------------------------------------------------------------

Status Client::get(std::string_view key, Item& out) { return retrieve(key, out, false); }
Status Client::gets(std::string_view key, Item& out) { return retrieve(key, out, true); }

Status Client::retrieve(std::string_view key, Item& out, bool with_cas) {
  State& s = *state_;
  s.check_fork();
  const std::int32_t server = s.route_or_explain(key);
  if (server < 0) return Status::bad_key;
  Status status = Status::ok;
  memcached_st* mc = s.open(static_cast<std::size_t>(server), status);
  if (!mc) return status;
  ServerConnection& conn = *s.servers[static_cast<std::size_t>(server)];
  conn.use_cas(with_cas);
  const char* key_pointer = key.data();
  const std::size_t key_length = key.size();
  memcached_return_t rc = memcached_mget(mc, &key_pointer, &key_length, 1);
  if (memcached_failed(rc)) return s.result(static_cast<std::size_t>(server), rc);
  const memcached_result_st* r = memcached_fetch_result(mc, conn.result_buffer(), &rc);
  if (!r) {
    if (rc == MEMCACHED_END || rc == MEMCACHED_NOTFOUND) {
      conn.succeeded();
      return Status::not_found;
    }
    return s.result(static_cast<std::size_t>(server), rc);
  }
  out.value.assign(memcached_result_value(r), memcached_result_length(r));
  out.flags = memcached_result_flags(r);
  out.cas = with_cas ? memcached_result_cas(r) : 0;
  // The "END" that closes the reply stays unread, as memcached_get leaves it (get.cc): the next
  // command on this handle reads and drops it first (memcached_mget's and memcached_response's
  // purge of pending replies), which costs less than a second fetch here.
  conn.succeeded();
  return Status::ok;
}

std::size_t Client::fetch_multi(std::span<const std::string_view> keys, std::span<Status> status, bool with_cas,
                                HitFn fn, void* ctx) {
  if (!status.empty() && status.size() != keys.size()) {
    throw std::invalid_argument("get_multi: status has " + std::to_string(status.size()) + " slots for " +
                                std::to_string(keys.size()) + " keys");
  }
  State& s = *state_;
  s.check_fork();
  const std::size_t n = keys.size();
  const std::size_t server_count = s.servers.size();
  auto set_status = [&](std::size_t i, Status st) {
    if (!status.empty()) status[i] = st;
  };

  // 1. Route every key; count the keys of each server.
  s.routes.resize(n);
  s.offsets.assign(server_count + 1, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const std::int32_t server = s.route(keys[i]);
    s.routes[i] = server;
    if (server < 0) {
      s.explain_bad_key(keys[i]);
      set_status(i, Status::bad_key);
    } else {
      ++s.offsets[static_cast<std::size_t>(server) + 1];
    }
  }
  for (std::size_t j = 0; j < server_count; ++j) s.offsets[j + 1] += s.offsets[j];

  // 2. Group the keys per server (a counting sort: key order is kept within a server, which is
  //    the order memcached answers a "get k1 k2 ..." in).
  const std::size_t routed = s.offsets[server_count];
  s.order.resize(routed);
  s.key_pointers.resize(routed);
  s.key_lengths.resize(routed);
  {
    std::vector<std::uint32_t>& fill = s.offsets;  // advanced while filling, then shifted back
    for (std::size_t i = 0; i < n; ++i) {
      if (s.routes[i] < 0) continue;
      const std::uint32_t slot = fill[static_cast<std::size_t>(s.routes[i])]++;
      s.order[slot] = static_cast<std::uint32_t>(i);
      s.key_pointers[slot] = keys[i].data();
      s.key_lengths[slot] = keys[i].size();
    }
    for (std::size_t j = server_count; j > 0; --j) fill[j] = fill[j - 1];
    fill[0] = 0;
  }

  // 3. Send every server's request before reading any reply: memcached_mget writes and flushes
  //    "get k1 k2 ...\r\n" on that server's handle and returns without reading.
  s.sent.assign(server_count, 0);
  for (std::size_t j = 0; j < server_count; ++j) {
    const std::uint32_t begin = s.offsets[j], end = s.offsets[j + 1];
    if (begin == end) continue;
    Status st = Status::ok;
    memcached_st* mc = s.open(j, st);
    if (mc) {
      s.servers[j]->use_cas(with_cas);
      const memcached_return_t rc = memcached_mget(mc, &s.key_pointers[begin], &s.key_lengths[begin], end - begin);
      if (memcached_success(rc)) {
        s.sent[j] = 1;
        continue;
      }
      st = s.result(j, rc);
    }
    for (std::uint32_t k = begin; k < end; ++k) set_status(s.order[k], st);
  }

  // 4. Read the replies, server by server. Replies come in request order without the misses, so
  //    the keys passed over before a hit are misses; duplicates are answered once per request.
  std::size_t hits = 0;
  for (std::size_t j = 0; j < server_count; ++j) {
    if (!s.sent[j]) continue;
    ServerConnection& conn = *s.servers[j];
    memcached_st* mc = conn.open_handle();
    std::uint32_t next = s.offsets[j];
    const std::uint32_t end = s.offsets[j + 1];
    memcached_return_t rc = MEMCACHED_SUCCESS;
    while (const memcached_result_st* r = memcached_fetch_result(mc, conn.result_buffer(), &rc)) {
      // The fields of the public struct (libmemcached-1.0/struct/result.h), read directly: the
      // accessor functions are five calls per hit through the PLT.
      const std::string_view key(r->item_key, r->key_length);
      std::uint32_t k = next;
      while (k < end && keys[s.order[k]] != key) ++k;
      if (k == end) continue;  // not a key asked for here: memcached never does this
      for (; next < k; ++next) set_status(s.order[next], Status::not_found);
      const std::size_t index = s.order[k];
      next = k + 1;
      set_status(index, Status::ok);
      ++hits;
      fn(ctx, Hit{index, keys[index],
                  std::string_view(r->value.string, static_cast<std::size_t>(r->value.end - r->value.string)),
                  r->item_flags, with_cas ? r->item_cas : 0});
    }
    Status tail = Status::not_found;
    if (rc == MEMCACHED_END || rc == MEMCACHED_NOTFOUND) {
      conn.succeeded();
    } else {
      tail = s.result(j, rc);  // the keys not answered yet share the server's error
    }
    for (; next < end; ++next) set_status(s.order[next], tail);
  }
  return hits;
}

std::vector<GetResult> Client::get_multi(std::span<const std::string_view> keys) {
  std::vector<GetResult> out(keys.size());
  std::vector<Status> status(keys.size());
  get_multi(keys, std::span<Status>(status), [&](const Hit& h) {
    Item& item = out[h.index].item;
    item.value.assign(h.value);
    item.flags = h.flags;
  });
  for (std::size_t i = 0; i < keys.size(); ++i) out[i].status = status[i];
  return out;
}

std::vector<GetResult> Client::gets_multi(std::span<const std::string_view> keys) {
  std::vector<GetResult> out(keys.size());
  std::vector<Status> status(keys.size());
  gets_multi(keys, std::span<Status>(status), [&](const Hit& h) {
    Item& item = out[h.index].item;
    item.value.assign(h.value);
    item.flags = h.flags;
    item.cas = h.cas;
  });
  for (std::size_t i = 0; i < keys.size(); ++i) out[i].status = status[i];
  return out;
}

// ---- storage ------------------------------------------------------------------------------------

Status Client::store(StoreCommand command, std::string_view key, std::string_view value, std::uint32_t flags,
                     std::int64_t exptime, std::uint64_t cas, Reply reply) {
  State& s = *state_;
  s.check_fork();
  const std::int32_t server = s.route_or_explain(key);
  if (server < 0) return Status::bad_key;
  if (command == StoreCommand::cas && cas == 0) {
    // libmemcached 1.1.4 storage.cc omits a zero cas from the command line; memcached would then
    // read "cas key flags exptime bytes" as an error and the value as a second command.
    s.last_error = "key " + printable(key) + ": cas 0 is never a valid cas value";
    return Status::invalid_argument;
  }
  Status status = Status::ok;
  memcached_st* mc = s.open(static_cast<std::size_t>(server), status);
  if (!mc) return status;
  s.servers[static_cast<std::size_t>(server)]->use_noreply(reply == Reply::noreply);
  const time_t expiration = static_cast<time_t>(exptime);
  memcached_return_t rc = MEMCACHED_SUCCESS;
  switch (command) {
    case StoreCommand::set:
      rc = memcached_set(mc, key.data(), key.size(), value.data(), value.size(), expiration, flags);
      break;
    case StoreCommand::add:
      rc = memcached_add(mc, key.data(), key.size(), value.data(), value.size(), expiration, flags);
      break;
    case StoreCommand::replace:
      rc = memcached_replace(mc, key.data(), key.size(), value.data(), value.size(), expiration, flags);
      break;
    case StoreCommand::append:
      rc = memcached_append(mc, key.data(), key.size(), value.data(), value.size(), expiration, flags);
      break;
    case StoreCommand::prepend:
      rc = memcached_prepend(mc, key.data(), key.size(), value.data(), value.size(), expiration, flags);
      break;
    case StoreCommand::cas:
      rc = memcached_cas(mc, key.data(), key.size(), value.data(), value.size(), expiration, flags, cas);
      break;
  }
  return s.result(static_cast<std::size_t>(server), rc);
}

Status Client::set(std::string_view key, std::string_view value, std::uint32_t flags, std::int64_t exptime,
                   Reply reply) {
  return store(StoreCommand::set, key, value, flags, exptime, 0, reply);
}
Status Client::add(std::string_view key, std::string_view value, std::uint32_t flags, std::int64_t exptime,
                   Reply reply) {
  return store(StoreCommand::add, key, value, flags, exptime, 0, reply);
}
Status Client::replace(std::string_view key, std::string_view value, std::uint32_t flags, std::int64_t exptime,
                       Reply reply) {
  return store(StoreCommand::replace, key, value, flags, exptime, 0, reply);
}
Status Client::append(std::string_view key, std::string_view value, Reply reply) {
  return store(StoreCommand::append, key, value, 0, 0, 0, reply);
}
Status Client::prepend(std::string_view key, std::string_view value, Reply reply) {
  return store(StoreCommand::prepend, key, value, 0, 0, 0, reply);
}
Status Client::cas(std::string_view key, std::uint64_t cas, std::string_view value, std::uint32_t flags,
                   std::int64_t exptime, Reply reply) {
  return store(StoreCommand::cas, key, value, flags, exptime, cas, reply);
}

std::size_t Client::store_multi(StoreCommand command, std::span<StoreItem> items, Reply reply) {
  std::size_t ok = 0;
  for (StoreItem& item : items) {
    item.status = store(command, item.key, item.value, item.flags, item.exptime, item.cas, reply);
    ok += item.status == Status::ok;
  }
  return ok;
}

// ---- arithmetic, delete, touch ------------------------------------------------------------------

Status Client::arith(bool incr, std::string_view key, std::uint64_t delta, std::uint64_t* value, Reply reply) {
  State& s = *state_;
  s.check_fork();
  const std::int32_t server = s.route_or_explain(key);
  if (server < 0) return Status::bad_key;
  Status status = Status::ok;
  memcached_st* mc = s.open(static_cast<std::size_t>(server), status);
  if (!mc) return status;
  s.servers[static_cast<std::size_t>(server)]->use_noreply(reply == Reply::noreply);
  std::uint64_t result = 0;
  // The _by_key forms take a 64-bit delta (memcached_increment takes 32 bits); the group key is
  // ignored by a handle with one server (hash.cc _generate_hash_wrapper).
  const memcached_return_t rc =
      incr ? memcached_increment_by_key(mc, key.data(), key.size(), key.data(), key.size(), delta, &result)
           : memcached_decrement_by_key(mc, key.data(), key.size(), key.data(), key.size(), delta, &result);
  status = s.result(static_cast<std::size_t>(server), rc);
  if (value) *value = (status == Status::ok && reply == Reply::wait) ? result : 0;
  return status;
}

Status Client::incr(std::string_view key, std::uint64_t delta, std::uint64_t* value, Reply reply) {
  return arith(true, key, delta, value, reply);
}
Status Client::decr(std::string_view key, std::uint64_t delta, std::uint64_t* value, Reply reply) {
  return arith(false, key, delta, value, reply);
}

std::size_t Client::incr_multi(std::span<ArithItem> items, Reply reply) {
  std::size_t ok = 0;
  for (ArithItem& item : items) {
    item.status = arith(true, item.key, item.delta, &item.value, reply);
    ok += item.status == Status::ok;
  }
  return ok;
}

std::size_t Client::decr_multi(std::span<ArithItem> items, Reply reply) {
  std::size_t ok = 0;
  for (ArithItem& item : items) {
    item.status = arith(false, item.key, item.delta, &item.value, reply);
    ok += item.status == Status::ok;
  }
  return ok;
}

Status Client::remove(std::string_view key, Reply reply) {
  State& s = *state_;
  s.check_fork();
  const std::int32_t server = s.route_or_explain(key);
  if (server < 0) return Status::bad_key;
  Status status = Status::ok;
  memcached_st* mc = s.open(static_cast<std::size_t>(server), status);
  if (!mc) return status;
  s.servers[static_cast<std::size_t>(server)]->use_noreply(reply == Reply::noreply);
  return s.result(static_cast<std::size_t>(server), memcached_delete(mc, key.data(), key.size(), 0));
}

std::size_t Client::remove_multi(std::span<const std::string_view> keys, std::span<Status> status, Reply reply) {
  if (!status.empty() && status.size() != keys.size()) {
    throw std::invalid_argument("remove_multi: status has " + std::to_string(status.size()) + " slots for " +
                                std::to_string(keys.size()) + " keys");
  }
  std::size_t ok = 0;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const Status st = remove(keys[i], reply);
    if (!status.empty()) status[i] = st;
    ok += st == Status::ok;
  }
  return ok;
}

Status Client::touch(std::string_view key, std::int64_t exptime) {
  State& s = *state_;
  s.check_fork();
  const std::int32_t server = s.route_or_explain(key);
  if (server < 0) return Status::bad_key;
  Status status = Status::ok;
  memcached_st* mc = s.open(static_cast<std::size_t>(server), status);
  if (!mc) return status;
  // libmemcached 1.1.4 touch.cc never sends "noreply" and always reads the reply.
  s.servers[static_cast<std::size_t>(server)]->use_noreply(false);
  return s.result(static_cast<std::size_t>(server),
                  memcached_touch(mc, key.data(), key.size(), static_cast<time_t>(exptime)));
}

std::size_t Client::touch_multi(std::span<TouchItem> items) {
  std::size_t ok = 0;
  for (TouchItem& item : items) {
    item.status = touch(item.key, item.exptime);
    ok += item.status == Status::ok;
  }
  return ok;
}

// ---- per server ---------------------------------------------------------------------------------

Status Client::flush(std::size_t server, std::int64_t delay, Reply reply) {
  State& s = *state_;
  s.check_fork();
  if (server >= s.servers.size()) {
    s.last_error =
        "flush: no server " + std::to_string(server) + " (the ring has " + std::to_string(s.servers.size()) + ")";
    return Status::invalid_argument;
  }
  Status status = Status::ok;
  memcached_st* mc = s.open(server, status);
  if (!mc) return status;
  s.servers[server]->use_noreply(reply == Reply::noreply);
  return s.result(server, memcached_flush(mc, static_cast<time_t>(delay)));
}

std::size_t Client::flush_all(std::int64_t delay, std::span<Status> status, Reply reply) {
  State& s = *state_;
  if (!status.empty() && status.size() != s.servers.size()) {
    throw std::invalid_argument("flush_all: status has " + std::to_string(status.size()) + " slots for " +
                                std::to_string(s.servers.size()) + " servers");
  }
  std::size_t ok = 0;
  for (std::size_t j = 0; j < s.servers.size(); ++j) {
    const Status st = flush(j, delay, reply);
    if (!status.empty()) status[j] = st;
    ok += st == Status::ok;
  }
  return ok;
}

Status Client::version(std::size_t server, std::string& out) {
  State& s = *state_;
  s.check_fork();
  if (server >= s.servers.size()) {
    s.last_error =
        "version: no server " + std::to_string(server) + " (the ring has " + std::to_string(s.servers.size()) + ")";
    return Status::invalid_argument;
  }
  Status status = Status::ok;
  memcached_st* mc = s.open(server, status);
  if (!mc) return status;
  s.servers[server]->use_noreply(false);
  status = s.result(server, memcached_version(mc));
  if (status != Status::ok) return status;
  // libmemcached 1.1.4 version.cc keeps the three numbers of "VERSION x.y.z" (UINT8_MAX if none).
  const memcached_instance_st* instance = memcached_server_instance_by_position(mc, 0);
  const unsigned major = memcached_server_major_version(instance);
  if (major == UINT8_MAX) {
    s.last_error = s.servers[server]->address() + ": version reply without a version number";
    return Status::protocol_error;
  }
  out = std::to_string(major) + "." + std::to_string(memcached_server_minor_version(instance)) + "." +
        std::to_string(memcached_server_micro_version(instance));
  return Status::ok;
}

Status Client::sync() {
  State& s = *state_;
  s.check_fork();
  Status first = Status::ok;
  for (std::size_t j = 0; j < s.servers.size(); ++j) {
    ServerConnection& conn = *s.servers[j];
    if (!conn.unsynced()) continue;
    conn.synced();
    Status st = Status::ok;
    memcached_st* mc = s.open(j, st);
    if (mc) {
      // memcached answers a connection's commands in order: once a request after them is
      // answered, every noreply command before it was processed. The request is a get of a key
      // nobody uses (its value, if any, is dropped): "version" would do, but libmemcached 1.1.4
      // version.cc asks each server once per handle and then answers from its cache, so a
      // second sync would not wait at all.
      static constexpr std::string_view sync_key = "samering:sync";
      const char* key = sync_key.data();
      const std::size_t key_length = sync_key.size();
      conn.use_noreply(false);
      conn.use_cas(false);
      memcached_return_t rc = memcached_mget(mc, &key, &key_length, 1);
      if (memcached_success(rc)) {
        while (memcached_fetch_result(mc, conn.result_buffer(), &rc)) {
        }
        if (rc == MEMCACHED_END || rc == MEMCACHED_NOTFOUND) rc = MEMCACHED_SUCCESS;
      }
      st = s.result(j, rc);
    }
    if (st != Status::ok && first == Status::ok) first = st;
  }
  return first;
}

void Client::disconnect_all() {
  State& s = *state_;
  s.check_fork();
  for (auto& server : s.servers) server->close();
}

}  // namespace samering
