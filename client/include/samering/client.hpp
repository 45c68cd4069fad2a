// samering/client.hpp — a memcached client whose key routing is always a samering Ring.
//
//   samering::Client mc(samering::ring_from_file("ring.json"));
//   mc.set("user:42", "hello", /*flags=*/7);                  // Status::ok
//   samering::Item item;
//   if (mc.get("user:42", item) == samering::Status::ok) use(item.value, item.flags);
//
// Routing: every key goes to ring().pick(key); libmemcached's own distribution is never consulted
// (each server has its own memcached_st holding that one server). A server that is down gives its
// keys an error and is never replaced by another node (no rehash), so every runtime that shares
// the ring keeps agreeing on where a key lives. After a failed connect or a timeout the server is
// not contacted again before options().retry_timeout has passed (an open connection that breaks
// gives connection_lost, and the next command reconnects at once, as libmemcached does).
//
// Protocol: memcached's text protocol through libmemcached 1.1.4; values are arbitrary bytes,
// flags are 32-bit, cas values 64-bit. The ring's `namespace` option (cmf, cache-memcached) is
// prefixed to every key on the wire, as those peers do.
//
// Errors: operations never throw for what a server or the network does; they return a Status
// (>= 0: an answer, < 0: an error) and keep a message (last_error). Constructors throw.
//
// Allocation: the first command on a server creates its libmemcached handle; after that, get
// allocates only to grow out.value, get_multi reuses the client's scratch arrays, and a failure
// allocates its message. A moved-from Client may only be destroyed or assigned to.
//
// Threads and fork: a Client is used by one thread at a time (one Client per thread). It starts
// no thread. Connections are opened lazily and belong to the process that opened them: a Client
// used in a forked child drops the inherited sockets without sending anything on them and opens
// its own (fork detection is a wipe-on-fork page: no system call per operation).
#pragma once

#include "samering/common.h"  // SAMERING_API

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "samering/error.hpp"
#include "samering/ring.hpp"

namespace samering {

// The outcome of one operation or of one key. The values are those of the C API (CLIENT_*).
enum class Status : int {
  ok = 0,                 // hit, stored, deleted, touched, incremented, flushed
  not_found = 1,          // miss; delete/touch/incr/decr/cas of a key that is not there
  not_stored = 2,         // add of an existing key; replace/append/prepend of a missing one
  exists = 3,             // cas: the item was changed since its gets
  invalid_argument = -1,  // a misuse of the API (e.g. a server index out of range)
  bad_key = -2,           // empty, longer than 250 bytes with the namespace, a byte <= 0x20 or
                          // 0x7f, or refused by the ring's flavor
  server_down = -3,       // cannot connect, or the server is inside its retry timeout
  timeout = -4,           // connect or I/O timeout
  too_large = -5,         // the server refused the value as too large (SERVER_ERROR object too
                          // large for cache; memcached's default item limit is 1 MB)
  server_error = -6,      // another SERVER_ERROR / CLIENT_ERROR / ERROR reply (e.g. incr of a
                          // value that is not a number)
  connection_lost = -7,   // the connection failed while sending or reading
  protocol_error = -8,    // a reply the client cannot parse
  no_memory = -9,         // an allocation failed
  internal = -10,         // a bug: please report it
};

// A static name for a status: to_string(Status::too_large) == "value too large".
SAMERING_API std::string_view to_string(Status s) noexcept;
constexpr bool failed(Status s) noexcept { return static_cast<int>(s) < 0; }

// noreply: the request carries memcached's "noreply"; the call returns once it is written and
// reports only errors found while sending (Status::ok otherwise). sync() waits until such
// requests were processed. CMF's `noreply` server flag and its `nowait` mode both map to this.
enum class Reply { wait, noreply };

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{250};  // per connect(2); CMF's default
  std::chrono::milliseconds io_timeout{1000};      // per wait for the socket; CMF's default
  std::chrono::milliseconds retry_timeout{2000};   // a failed server is left alone this long
  // How many failures (refused or failed connect, timeout) within retry_timeout start the retry
  // timeout: 1 (the default) = the first one does; N > 1 = the Nth failure less than
  // retry_timeout after the first of the run (Cache::Memcached::Fast's max_failures with
  // failure_timeout). 0 is taken as 1.
  std::uint32_t max_failures = 1;
};

struct Item {
  std::string value;
  std::uint32_t flags = 0;
  std::uint64_t cas = 0;  // set by gets/gets_multi, 0 otherwise
};

// One hit of a multi-get, handed to the caller's callback. The views are valid only during the
// callback. `index` is the key's position in the request.
struct Hit {
  std::size_t index;
  std::string_view key;
  std::string_view value;
  std::uint32_t flags;
  std::uint64_t cas;  // 0 unless gets_multi
};

// One key of a multi-get, for the convenience overloads that return a vector.
struct GetResult {
  Status status = Status::not_found;
  Item item;
};

enum class StoreCommand { set, add, replace, append, prepend, cas };

// One key of store_multi: in key..cas, out status.
struct StoreItem {
  std::string_view key;
  std::string_view value;
  std::uint32_t flags = 0;
  std::int64_t exptime = 0;
  std::uint64_t cas = 0;  // StoreCommand::cas only
  Status status = Status::ok;
};

// One key of incr_multi / decr_multi: in key, delta; out value (the new value), status.
struct ArithItem {
  std::string_view key;
  std::uint64_t delta = 1;
  std::uint64_t value = 0;
  Status status = Status::ok;
};

// One key of touch_multi: in key, exptime; out status.
struct TouchItem {
  std::string_view key;
  std::int64_t exptime = 0;
  Status status = Status::ok;
};

class SAMERING_API Client {
 public:
  // Takes the ring that routes every key. Throws SpecError when the ring's namespace option
  // cannot prefix a key (longer than 249 bytes, or a space or control byte). Allocates; opens no
  // connection.
  explicit Client(Ring ring, ClientOptions options = {});
  // Closes the connections: "quit" in the process that opened them, a silent drop in a forked
  // child (the parent's sockets are never written to).
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const Ring& ring() const noexcept;
  const ClientOptions& options() const noexcept;
  // New timeouts apply to open connections and to later ones.
  void set_options(const ClientOptions& options);
  // The namespace sent before every key ("" when the ring has none).
  std::string_view key_prefix() const noexcept;
  // Replaces the namespace: the ring is rebuilt from its spec with options.namespace = ns (removed
  // when ns is empty), so a flavor that hashes the namespace (cmf with hash_namespace) routes by
  // the new one, and every later key is sent after it. Open connections stay open. Throws
  // SpecError when ns cannot be sent (the constructor's rules) or the flavor has no namespace
  // option; the client is then unchanged. (Cache::Memcached::Fast's namespace($new).) Allocates.
  void set_namespace(std::string_view ns);
  // The server index for key (>= 0), or Status::bad_key as a negative number. No I/O.
  std::int32_t server_for(std::string_view key) const noexcept;
  // The message of this client's last failure ("" if none): which key or server, and why.
  std::string_view last_error() const noexcept;

  // ---- retrieval -----------------------------------------------------------------------------
  // ok (out filled), not_found, or an error. out.value keeps its capacity between calls.
  Status get(std::string_view key, Item& out);
  Status gets(std::string_view key, Item& out);  // also fills out.cas

  // Multi-get: keys are grouped per server; every server's request is sent before any reply is
  // read. on_hit(const Hit&) runs once per hit, in reply order (per server, key order within a
  // server). status, when not empty, must have keys.size() slots: ok, not_found, or the error of
  // that key (a bad key, or its server's error). Returns the number of hits. Throws
  // std::invalid_argument when status has the wrong size.
  template <typename OnHit>
  std::size_t get_multi(std::span<const std::string_view> keys, std::span<Status> status, OnHit&& on_hit) {
    return fetch_multi(keys, status, false, thunk<OnHit>, const_cast<void*>(static_cast<const void*>(&on_hit)));
  }
  template <typename OnHit>
  std::size_t gets_multi(std::span<const std::string_view> keys, std::span<Status> status, OnHit&& on_hit) {
    return fetch_multi(keys, status, true, thunk<OnHit>, const_cast<void*>(static_cast<const void*>(&on_hit)));
  }
  // Convenience: one GetResult per key, in key order (copies every value).
  std::vector<GetResult> get_multi(std::span<const std::string_view> keys);
  std::vector<GetResult> gets_multi(std::span<const std::string_view> keys);

  // ---- storage -------------------------------------------------------------------------------
  // ok, not_stored (add/replace/append/prepend), exists / not_found (cas), or an error.
  // exptime as memcached takes it: 0 never, <= 30 days relative seconds, else a Unix time;
  // negative expires at once. append/prepend keep the item's flags and exptime.
  Status set(std::string_view key, std::string_view value, std::uint32_t flags = 0, std::int64_t exptime = 0,
             Reply reply = Reply::wait);
  Status add(std::string_view key, std::string_view value, std::uint32_t flags = 0, std::int64_t exptime = 0,
             Reply reply = Reply::wait);
  Status replace(std::string_view key, std::string_view value, std::uint32_t flags = 0, std::int64_t exptime = 0,
                 Reply reply = Reply::wait);
  Status append(std::string_view key, std::string_view value, Reply reply = Reply::wait);
  Status prepend(std::string_view key, std::string_view value, Reply reply = Reply::wait);
  Status cas(std::string_view key, std::uint64_t cas, std::string_view value, std::uint32_t flags = 0,
             std::int64_t exptime = 0, Reply reply = Reply::wait);
  Status store(StoreCommand command, std::string_view key, std::string_view value, std::uint32_t flags,
               std::int64_t exptime, std::uint64_t cas, Reply reply = Reply::wait);
  // Every item stored with `command` (items[i].status set); returns how many are ok. With
  // Reply::wait each item is one round trip; with Reply::noreply all are written without waiting.
  std::size_t store_multi(StoreCommand command, std::span<StoreItem> items, Reply reply = Reply::wait);

  // ---- arithmetic, delete, touch -------------------------------------------------------------
  // ok with *value = the new value (decr stops at 0), not_found, or an error (server_error when
  // the stored value is not a number). value may be null.
  Status incr(std::string_view key, std::uint64_t delta = 1, std::uint64_t* value = nullptr, Reply reply = Reply::wait);
  Status decr(std::string_view key, std::uint64_t delta = 1, std::uint64_t* value = nullptr, Reply reply = Reply::wait);
  std::size_t incr_multi(std::span<ArithItem> items, Reply reply = Reply::wait);
  std::size_t decr_multi(std::span<ArithItem> items, Reply reply = Reply::wait);
  // ok, not_found, or an error. (`delete` is a C++ keyword.)
  Status remove(std::string_view key, Reply reply = Reply::wait);
  // status, when not empty, must have keys.size() slots (else std::invalid_argument).
  std::size_t remove_multi(std::span<const std::string_view> keys, std::span<Status> status, Reply reply = Reply::wait);
  // ok, not_found, or an error. Always waits for the reply (libmemcached sends touch without
  // noreply).
  Status touch(std::string_view key, std::int64_t exptime);
  std::size_t touch_multi(std::span<TouchItem> items);

  // ---- per server ----------------------------------------------------------------------------
  // flush_all on one server (index into ring()), after `delay` seconds.
  Status flush(std::size_t server, std::int64_t delay = 0, Reply reply = Reply::wait);
  // flush on every server; status, when not empty, has ring().size() slots. Returns how many ok.
  std::size_t flush_all(std::int64_t delay = 0, std::span<Status> status = {}, Reply reply = Reply::wait);
  // The server's version ("1.6.18"): ok, or an error.
  Status version(std::size_t server, std::string& out);
  // Waits until every noreply request sent since the last sync was processed: one round trip per
  // server that had one. ok, or the first error (the other servers are still synced).
  Status sync();
  // Closes every connection now (they reopen on next use); same rules as the destructor.
  void disconnect_all();

 private:
  struct State;
  using HitFn = void (*)(void* ctx, const Hit& hit);
  template <typename OnHit>
  static void thunk(void* ctx, const Hit& hit) {
    (*static_cast<std::remove_reference_t<OnHit>*>(ctx))(hit);
  }
  std::size_t fetch_multi(std::span<const std::string_view> keys, std::span<Status> status, bool with_cas, HitFn fn,
                          void* ctx);
  Status retrieve(std::string_view key, Item& out, bool with_cas);
  Status arith(bool incr, std::string_view key, std::uint64_t delta, std::uint64_t* value, Reply reply);

  std::unique_ptr<State> state_;
};

}  // namespace samering
