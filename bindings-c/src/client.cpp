// The C API over samering::Client (samering/client.h). Exceptions stop here: every entry point
// catches and turns them into codes. The per-key codes are samering::Status's values.
#include "samering/client.h"

#include "boundary.hpp"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "samering/client.hpp"
#include "samering/error.hpp"
#include "samering/ring.hpp"

struct client {
  explicit client(samering::Ring ring) : mc(std::move(ring)), ns(mc.key_prefix()) {}
  samering::Client mc;
  std::string ns;                      // NUL-terminated copy of the namespace
  std::string last_error;              // the C layer's copy: NUL-terminated
  samering::Item item;                 // client_get's value
  std::string version;                 // client_version's answer
  std::vector<std::string_view> keys;  // scratch for the multi calls
  std::vector<samering::Status> status;
  std::vector<samering::StoreItem> store;
  std::vector<samering::ArithItem> arith;
  std::vector<samering::TouchItem> touch;
};

namespace {

using samering::Status;

static_assert(static_cast<int>(Status::ok) == SAMERING_OK && static_cast<int>(Status::not_found) == SAMERING_NOT_FOUND &&
                  static_cast<int>(Status::not_stored) == SAMERING_NOT_STORED &&
                  static_cast<int>(Status::exists) == SAMERING_EXISTS &&
                  static_cast<int>(Status::invalid_argument) == SAMERING_EINVAL &&
                  static_cast<int>(Status::bad_key) == SAMERING_EKEY &&
                  static_cast<int>(Status::server_down) == SAMERING_EDOWN &&
                  static_cast<int>(Status::timeout) == SAMERING_ETIMEDOUT &&
                  static_cast<int>(Status::too_large) == SAMERING_ETOOLARGE &&
                  static_cast<int>(Status::server_error) == SAMERING_ESERVER &&
                  static_cast<int>(Status::connection_lost) == SAMERING_ECONNLOST &&
                  static_cast<int>(Status::protocol_error) == SAMERING_EPROTO &&
                  static_cast<int>(Status::no_memory) == SAMERING_ENOMEM &&
                  static_cast<int>(Status::internal) == SAMERING_EINTERNAL,
              "samering::Status and the status codes of samering/common.h must agree");

using samering::c_api::write_error;

template <typename Make>
int make_client(client_t** out, char* errbuf, std::size_t errlen, Make make) {
  return samering::c_api::construct(out, errbuf, errlen, [&] { return new client(make()); });
}

// A C++ call's Status as a C code; a failure copies the client's message.
int code(client_t* c, Status s) {
  if (samering::failed(s)) c->last_error.assign(c->mc.last_error());
  return static_cast<int>(s);
}

int fail(client_t* c, int code, const char* message) {
  if (c) c->last_error = message;
  return code;
}

// Runs f, turning an escaped exception into a code (bad_alloc: SAMERING_ENOMEM) with its message.
template <typename F>
int guarded(client_t* c, F f) {
  return samering::c_api::guard(c->last_error, f);
}

bool bad_key_args(const char* key, std::size_t len) { return !key && len; }

std::string_view view(const char* p, std::size_t n) { return n ? std::string_view(p, n) : std::string_view(); }

samering::Reply reply_of(int opts) {
  return (opts & CLIENT_NOREPLY) ? samering::Reply::noreply : samering::Reply::wait;
}

int store_one(client_t* c, samering::StoreCommand command, const char* key, std::size_t key_len, std::uint64_t cas,
              const void* value, std::size_t value_len, std::uint32_t flags, std::int64_t exptime, int opts) {
  if (!c) return SAMERING_EINVAL;
  if (bad_key_args(key, key_len) || (!value && value_len)) return fail(c, SAMERING_EINVAL, "NULL key or value");
  return guarded(c, [&]() -> int {
    return code(c, c->mc.store(command, view(key, key_len), view(static_cast<const char*>(value), value_len), flags,
                               exptime, cas, reply_of(opts)));
  });
}

int retrieve_one(client_t* c, const char* key, std::size_t key_len, client_value_t* out, bool with_cas) {
  if (!c) return SAMERING_EINVAL;
  if (bad_key_args(key, key_len) || !out) return fail(c, SAMERING_EINVAL, "NULL key or out");
  return guarded(c, [&]() -> int {
    const Status s = with_cas ? c->mc.gets(view(key, key_len), c->item) : c->mc.get(view(key, key_len), c->item);
    if (s == Status::ok) {
      out->value = c->item.value.data();
      out->value_len = c->item.value.size();
      out->flags = c->item.flags;
      out->cas = c->item.cas;
    } else {
      *out = client_value_t{nullptr, 0, 0, 0};
    }
    return code(c, s);
  });
}

// Fills c->keys from C arrays; false (with the message) for NULL pointers.
bool load_keys(client_t* c, const char* const* keys, const std::size_t* key_lens, std::size_t n) {
  if (n && (!keys || !key_lens)) return false;
  c->keys.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (bad_key_args(keys[i], key_lens[i])) return false;
    c->keys[i] = view(keys[i], key_lens[i]);
  }
  return true;
}

struct HitForward {
  client_hit_fn fn;
  void* ctx;
  void operator()(const samering::Hit& h) const {
    if (fn) fn(ctx, h.index, h.value.data(), h.value.size(), h.flags, h.cas);
  }
};

int retrieve_multi(client_t* c, const char* const* keys, const std::size_t* key_lens, std::size_t n, int* status,
                   client_hit_fn on_hit, void* ctx, bool with_cas) {
  if (!c) return SAMERING_EINVAL;
  return guarded(c, [&]() -> int {
    if (!load_keys(c, keys, key_lens, n)) return fail(c, SAMERING_EINVAL, "NULL keys, lengths or key");
    c->status.assign(n, Status::not_found);
    const HitForward forward{on_hit, ctx};
    const std::size_t hits =
        with_cas ? c->mc.gets_multi(c->keys, c->status, forward) : c->mc.get_multi(c->keys, c->status, forward);
    bool any_error = false;
    for (std::size_t i = 0; i < n; ++i) {
      if (status) status[i] = static_cast<int>(c->status[i]);
      any_error |= samering::failed(c->status[i]);
    }
    if (any_error) c->last_error.assign(c->mc.last_error());
    return static_cast<int>(hits);
  });
}

int arith_one(client_t* c, bool incr, const char* key, std::size_t key_len, std::uint64_t delta, std::uint64_t* value,
              int opts) {
  if (!c) return SAMERING_EINVAL;
  if (bad_key_args(key, key_len)) return fail(c, SAMERING_EINVAL, "NULL key");
  return guarded(c, [&]() -> int {
    const auto k = view(key, key_len);
    return code(c, incr ? c->mc.incr(k, delta, value, reply_of(opts)) : c->mc.decr(k, delta, value, reply_of(opts)));
  });
}

int arith_multi(client_t* c, bool incr, client_arith_t* items, std::size_t n, int opts) {
  if (!c) return SAMERING_EINVAL;
  if (n && !items) return fail(c, SAMERING_EINVAL, "NULL items");
  return guarded(c, [&]() -> int {
    c->arith.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      if (bad_key_args(items[i].key, items[i].key_len)) return fail(c, SAMERING_EINVAL, "NULL key");
      c->arith[i] = samering::ArithItem{view(items[i].key, items[i].key_len), items[i].delta, 0, Status::ok};
    }
    const std::size_t ok =
        incr ? c->mc.incr_multi(c->arith, reply_of(opts)) : c->mc.decr_multi(c->arith, reply_of(opts));
    for (std::size_t i = 0; i < n; ++i) {
      items[i].value = c->arith[i].value;
      items[i].status = static_cast<int>(c->arith[i].status);
    }
    if (ok != n) c->last_error.assign(c->mc.last_error());
    return static_cast<int>(ok);
  });
}

bool valid_server(const client_t* c, int server) {
  return server >= 0 && static_cast<std::size_t>(server) < c->mc.ring().size();
}

}  // namespace

extern "C" {

int client_new_from_json(const char* json, size_t len, client_t** out, char* errbuf, size_t errlen) {
  if (!json && len) {
    write_error(errbuf, errlen, "json must not be NULL");
    if (out) *out = nullptr;
    return SAMERING_EINVAL;
  }
  return make_client(out, errbuf, errlen,
                     [&] { return samering::ring_from_json(std::string_view(json ? json : "", len)); });
}

int client_new_from_file(const char* path, client_t** out, char* errbuf, size_t errlen) {
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
  return make_client(out, errbuf, errlen, [&] {
    try {
      return samering::ring_from_json(text);
    } catch (const samering::SpecError& e) {
      throw samering::SpecError(path, e.what());
    }
  });
}

int client_new_from_image(const void* bytes, size_t len, client_t** out, char* errbuf, size_t errlen) {
  if (!bytes && len) {
    write_error(errbuf, errlen, "bytes must not be NULL");
    if (out) *out = nullptr;
    return SAMERING_EINVAL;
  }
  return make_client(out, errbuf, errlen, [&] {
    return samering::Ring(samering::RingImage::from_bytes({static_cast<const std::byte*>(bytes), len}));
  });
}

void client_free(client_t* c) { delete c; }

int client_set_option(client_t* c, int option, int64_t value) {
  if (!c) return SAMERING_EINVAL;
  if (value < 0) return fail(c, SAMERING_EINVAL, "an option's value must not be negative");
  return guarded(c, [&]() -> int {
    samering::ClientOptions o = c->mc.options();
    const std::chrono::milliseconds ms(value);
    switch (option) {
      case CLIENT_OPT_CONNECT_TIMEOUT_MS:
        o.connect_timeout = ms;
        break;
      case CLIENT_OPT_IO_TIMEOUT_MS:
        o.io_timeout = ms;
        break;
      case CLIENT_OPT_RETRY_TIMEOUT_MS:
        o.retry_timeout = ms;
        break;
      case CLIENT_OPT_MAX_FAILURES:
        o.max_failures = value > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(value);
        break;
      default:
        return fail(c, SAMERING_EINVAL, "unknown option");
    }
    c->mc.set_options(o);
    return SAMERING_OK;
  });
}

int client_get_option(const client_t* c, int option, int64_t* value) {
  if (!c || !value) return SAMERING_EINVAL;
  const samering::ClientOptions& o = c->mc.options();
  switch (option) {
    case CLIENT_OPT_CONNECT_TIMEOUT_MS:
      *value = o.connect_timeout.count();
      return SAMERING_OK;
    case CLIENT_OPT_IO_TIMEOUT_MS:
      *value = o.io_timeout.count();
      return SAMERING_OK;
    case CLIENT_OPT_RETRY_TIMEOUT_MS:
      *value = o.retry_timeout.count();
      return SAMERING_OK;
    case CLIENT_OPT_MAX_FAILURES:
      *value = o.max_failures;
      return SAMERING_OK;
    default:
      return SAMERING_EINVAL;
  }
}

int client_server_count(const client_t* c) { return c ? static_cast<int>(c->mc.ring().size()) : SAMERING_EINVAL; }

const char* client_server(const client_t* c, int i) {
  if (!c || !valid_server(c, i)) return nullptr;
  return c->mc.ring().server(static_cast<std::size_t>(i)).address.data();  // NUL-terminated in the image
}

int client_pick(const client_t* c, const char* key, size_t key_len) {
  if (!c || bad_key_args(key, key_len)) return SAMERING_EINVAL;
  return c->mc.server_for(view(key, key_len));
}

const char* client_namespace(const client_t* c) { return c ? c->ns.c_str() : ""; }

int client_set_namespace(client_t* c, const char* ns, size_t len) {
  if (!c) return SAMERING_EINVAL;
  if (!ns && len) return fail(c, SAMERING_EINVAL, "NULL namespace");
  return guarded(c, [&] {
    std::string copy(view(ns, len));  // allocated first: the handle changes completely or not at all
    c->mc.set_namespace(copy);
    c->ns = std::move(copy);
    return static_cast<int>(SAMERING_OK);
  });
}

int client_get(client_t* c, const char* key, size_t key_len, client_value_t* out) {
  return retrieve_one(c, key, key_len, out, false);
}

int client_gets(client_t* c, const char* key, size_t key_len, client_value_t* out) {
  return retrieve_one(c, key, key_len, out, true);
}

int client_get_multi(client_t* c, const char* const* keys, const size_t* key_lens, size_t n, int* status,
                     client_hit_fn on_hit, void* ctx) {
  return retrieve_multi(c, keys, key_lens, n, status, on_hit, ctx, false);
}

int client_gets_multi(client_t* c, const char* const* keys, const size_t* key_lens, size_t n, int* status,
                      client_hit_fn on_hit, void* ctx) {
  return retrieve_multi(c, keys, key_lens, n, status, on_hit, ctx, true);
}

int client_set(client_t* c, const char* key, size_t key_len, const void* value, size_t value_len, uint32_t flags,
               int64_t exptime, int opts) {
  return store_one(c, samering::StoreCommand::set, key, key_len, 0, value, value_len, flags, exptime, opts);
}

int client_add(client_t* c, const char* key, size_t key_len, const void* value, size_t value_len, uint32_t flags,
               int64_t exptime, int opts) {
  return store_one(c, samering::StoreCommand::add, key, key_len, 0, value, value_len, flags, exptime, opts);
}

int client_replace(client_t* c, const char* key, size_t key_len, const void* value, size_t value_len, uint32_t flags,
                   int64_t exptime, int opts) {
  return store_one(c, samering::StoreCommand::replace, key, key_len, 0, value, value_len, flags, exptime, opts);
}

int client_append(client_t* c, const char* key, size_t key_len, const void* value, size_t value_len, uint32_t flags,
                  int64_t exptime, int opts) {
  return store_one(c, samering::StoreCommand::append, key, key_len, 0, value, value_len, flags, exptime, opts);
}

int client_prepend(client_t* c, const char* key, size_t key_len, const void* value, size_t value_len, uint32_t flags,
                   int64_t exptime, int opts) {
  return store_one(c, samering::StoreCommand::prepend, key, key_len, 0, value, value_len, flags, exptime, opts);
}

int client_cas(client_t* c, const char* key, size_t key_len, uint64_t cas, const void* value, size_t value_len,
               uint32_t flags, int64_t exptime, int opts) {
  return store_one(c, samering::StoreCommand::cas, key, key_len, cas, value, value_len, flags, exptime, opts);
}

int client_store_multi(client_t* c, int command, client_store_t* items, size_t n, int opts) {
  if (!c) return SAMERING_EINVAL;
  if (command < CLIENT_SET || command > CLIENT_CAS) return fail(c, SAMERING_EINVAL, "unknown store command");
  if (n && !items) return fail(c, SAMERING_EINVAL, "NULL items");
  return guarded(c, [&]() -> int {
    c->store.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      const client_store_t& in = items[i];
      if (bad_key_args(in.key, in.key_len) || (!in.value && in.value_len)) {
        return fail(c, SAMERING_EINVAL, "NULL key or value");
      }
      c->store[i] = samering::StoreItem{view(in.key, in.key_len),
                                        view(static_cast<const char*>(in.value), in.value_len),
                                        in.flags,
                                        in.exptime,
                                        in.cas,
                                        Status::ok};
    }
    const std::size_t ok = c->mc.store_multi(static_cast<samering::StoreCommand>(command), c->store, reply_of(opts));
    for (std::size_t i = 0; i < n; ++i) items[i].status = static_cast<int>(c->store[i].status);
    if (ok != n) c->last_error.assign(c->mc.last_error());
    return static_cast<int>(ok);
  });
}

int client_incr(client_t* c, const char* key, size_t key_len, uint64_t delta, uint64_t* value, int opts) {
  return arith_one(c, true, key, key_len, delta, value, opts);
}

int client_decr(client_t* c, const char* key, size_t key_len, uint64_t delta, uint64_t* value, int opts) {
  return arith_one(c, false, key, key_len, delta, value, opts);
}

int client_incr_multi(client_t* c, client_arith_t* items, size_t n, int opts) {
  return arith_multi(c, true, items, n, opts);
}

int client_decr_multi(client_t* c, client_arith_t* items, size_t n, int opts) {
  return arith_multi(c, false, items, n, opts);
}

int client_delete(client_t* c, const char* key, size_t key_len, int opts) {
  if (!c) return SAMERING_EINVAL;
  if (bad_key_args(key, key_len)) return fail(c, SAMERING_EINVAL, "NULL key");
  return guarded(c, [&]() -> int { return code(c, c->mc.remove(view(key, key_len), reply_of(opts))); });
}

int client_delete_multi(client_t* c, const char* const* keys, const size_t* key_lens, size_t n, int* status, int opts) {
  if (!c) return SAMERING_EINVAL;
  return guarded(c, [&]() -> int {
    if (!load_keys(c, keys, key_lens, n)) return fail(c, SAMERING_EINVAL, "NULL keys, lengths or key");
    c->status.assign(n, Status::ok);
    const std::size_t ok = c->mc.remove_multi(c->keys, c->status, reply_of(opts));
    if (status) {
      for (std::size_t i = 0; i < n; ++i) status[i] = static_cast<int>(c->status[i]);
    }
    if (ok != n) c->last_error.assign(c->mc.last_error());
    return static_cast<int>(ok);
  });
}

int client_touch(client_t* c, const char* key, size_t key_len, int64_t exptime) {
  if (!c) return SAMERING_EINVAL;
  if (bad_key_args(key, key_len)) return fail(c, SAMERING_EINVAL, "NULL key");
  return guarded(c, [&]() -> int { return code(c, c->mc.touch(view(key, key_len), exptime)); });
}

int client_touch_multi(client_t* c, client_touch_t* items, size_t n) {
  if (!c) return SAMERING_EINVAL;
  if (n && !items) return fail(c, SAMERING_EINVAL, "NULL items");
  return guarded(c, [&]() -> int {
    c->touch.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      if (bad_key_args(items[i].key, items[i].key_len)) return fail(c, SAMERING_EINVAL, "NULL key");
      c->touch[i] = samering::TouchItem{view(items[i].key, items[i].key_len), items[i].exptime, Status::ok};
    }
    const std::size_t ok = c->mc.touch_multi(c->touch);
    for (std::size_t i = 0; i < n; ++i) items[i].status = static_cast<int>(c->touch[i].status);
    if (ok != n) c->last_error.assign(c->mc.last_error());
    return static_cast<int>(ok);
  });
}

int client_flush(client_t* c, int server, int64_t delay, int opts) {
  if (!c) return SAMERING_EINVAL;
  if (!valid_server(c, server)) return fail(c, SAMERING_EINVAL, "server index out of range");
  return guarded(
      c, [&]() -> int { return code(c, c->mc.flush(static_cast<std::size_t>(server), delay, reply_of(opts))); });
}

int client_flush_all(client_t* c, int64_t delay, int* status, int opts) {
  if (!c) return SAMERING_EINVAL;
  return guarded(c, [&]() -> int {
    const std::size_t n = c->mc.ring().size();
    c->status.assign(n, Status::ok);
    const std::size_t ok = c->mc.flush_all(delay, c->status, reply_of(opts));
    if (status) {
      for (std::size_t i = 0; i < n; ++i) status[i] = static_cast<int>(c->status[i]);
    }
    if (ok != n) c->last_error.assign(c->mc.last_error());
    return static_cast<int>(ok);
  });
}

int client_version(client_t* c, int server, const char** version) {
  if (!c) return SAMERING_EINVAL;
  if (!version) return fail(c, SAMERING_EINVAL, "NULL version");
  *version = nullptr;
  if (!valid_server(c, server)) return fail(c, SAMERING_EINVAL, "server index out of range");
  return guarded(c, [&]() -> int {
    const Status s = c->mc.version(static_cast<std::size_t>(server), c->version);
    if (s == Status::ok) *version = c->version.c_str();
    return code(c, s);
  });
}

int client_sync(client_t* c) {
  if (!c) return SAMERING_EINVAL;
  return guarded(c, [&]() -> int { return code(c, c->mc.sync()); });
}

int client_disconnect_all(client_t* c) {
  if (!c) return SAMERING_EINVAL;
  return guarded(c, [&]() -> int {
    c->mc.disconnect_all();
    return SAMERING_OK;
  });
}

const char* client_last_error(const client_t* c) { return c ? c->last_error.c_str() : ""; }

}  // extern "C"
