/* samering/client.h — the C API of the samering memcached client (C99).
 *
 *   client_t *mc; char err[256]; client_value_t v;
 *   if (client_new_from_file("ring.json", &mc, err, sizeof err) < 0) { puts(err); return 1; }
 *   client_set(mc, "user:42", 7, "hello", 5, 0, 0, 0);              // SAMERING_OK
 *   if (client_get(mc, "user:42", 7, &v) == SAMERING_OK) fwrite(v.value, 1, v.value_len, stdout);
 *   client_free(mc);
 *
 * Every key is routed by the samering ring built from the spec (the same server every runtime
 * sharing the spec picks); libmemcached carries the bytes, one connection per server. A server that
 * is down gives its keys an error and is never replaced by another (no rehash); after a failed
 * connect or a timeout it is left alone for the retry timeout (CLIENT_OPT_RETRY_TIMEOUT_MS).
 *
 * Results: every call returns a value >= 0 on success or a negative SAMERING_E* code (the one code
 * space of samering/common.h; samering_strerror() names a code). The non-negative answers are
 * SAMERING_OK (hit, stored, deleted, touched), SAMERING_NOT_FOUND (miss), SAMERING_NOT_STORED (add
 * of an existing key, replace / append / prepend of a missing one) and SAMERING_EXISTS (cas of a
 * changed item): Cache::Memcached::Fast's
 * "false", where an error is its "undef". Multi calls give each key its own code in a status slot.
 * There is no global error state: each handle keeps the message of its last failure
 * (client_last_error). A constructor that fails writes a one-line message into errbuf (always
 * NUL-terminated when errlen > 0) and leaves *out NULL.
 *
 * Values are arbitrary bytes; flags are 32-bit; cas values 64-bit. exptime is memcached's: 0
 * never, up to 30 days relative seconds, else a Unix time; negative expires at once.
 * opts: 0, or CLIENT_NOREPLY to send the command with memcached's "noreply" and return once it is
 * written (SAMERING_OK, or an error found while sending); client_sync() waits until such commands
 * were processed. (Cache::Memcached::Fast's noreply and nowait modes.)
 *
 * Threads and fork: a handle is used by one thread at a time; no function starts a thread.
 * Connections open on first use and belong to the process that opened them: a handle used in a
 * forked child drops the inherited connections without sending anything on them and opens its
 * own, so prefork servers may create the handle before forking. */
#ifndef SAMERING_CLIENT_H
#define SAMERING_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "samering/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct client client_t;

/* opts bits */
enum { CLIENT_NOREPLY = 1 };

/* Store commands for client_store_multi. */
enum { CLIENT_SET = 0, CLIENT_ADD = 1, CLIENT_REPLACE = 2, CLIENT_APPEND = 3, CLIENT_PREPEND = 4, CLIENT_CAS = 5 };

/* Options (client_set_option); a timeout of 0 means none. */
enum {
  CLIENT_OPT_CONNECT_TIMEOUT_MS = 1, /* default 250 (Cache::Memcached::Fast's) */
  CLIENT_OPT_IO_TIMEOUT_MS = 2,      /* default 1000 (Cache::Memcached::Fast's) */
  CLIENT_OPT_RETRY_TIMEOUT_MS = 3,   /* default 2000: a failed server is left alone this long */
  CLIENT_OPT_MAX_FAILURES = 4        /* default 1: failures within the retry timeout that start it
                                        (Cache::Memcached::Fast's max_failures); 0 is taken as 1 */
};

/* ---- life cycle ---------------------------------------------------------------------------- */

/* A client for the ring of a spec in JSON (len bytes, no NUL needed), e.g.
 * {"flavor":"cmf","options":{"namespace":"app:"},"servers":[{"host":"10.0.0.1","port":11211}]}.
 * Opens no connection. Returns SAMERING_OK, or SAMERING_ESPEC / SAMERING_ENOMEM / SAMERING_EINVAL with the
 * reason in errbuf. The ring's namespace (cmf, cache-memcached) is sent before every key; it must
 * be printable ASCII, at most 127 bytes. */
SAMERING_API int client_new_from_json(const char *json, size_t len, client_t **out, char *errbuf, size_t errlen);
/* Same, reading the spec from a file (SAMERING_EIO when it cannot be read). */
SAMERING_API int client_new_from_file(const char *path, client_t **out, char *errbuf, size_t errlen);
/* Same, from RingImage bytes (copied and validated; SAMERING_EIMAGE when invalid), e.g. the ring a
 * broker published. */
SAMERING_API int client_new_from_image(const void *bytes, size_t len, client_t **out, char *errbuf, size_t errlen);
/* Closes the connections ("quit" in the process that opened them, a silent drop in a forked
 * child) and frees the handle; NULL is allowed. */
SAMERING_API void client_free(client_t *c);

/* SAMERING_OK, or SAMERING_EINVAL for an unknown option or a negative value. New timeouts apply to
 * open connections too. */
SAMERING_API int client_set_option(client_t *c, int option, int64_t value);
/* SAMERING_OK with *value set, or SAMERING_EINVAL. */
SAMERING_API int client_get_option(const client_t *c, int option, int64_t *value);

/* ---- the ring ------------------------------------------------------------------------------ */

/* Number of servers (>= 1), or SAMERING_EINVAL. */
SAMERING_API int client_server_count(const client_t *c);
/* "host:port" of server i exactly as written in the spec, owned by the handle; NULL if out of
 * range. */
SAMERING_API const char *client_server(const client_t *c, int i);
/* The server index (>= 0) a key goes to, or SAMERING_EKEY / SAMERING_EINVAL. No I/O. */
SAMERING_API int client_pick(const client_t *c, const char *key, size_t key_len);
/* The namespace sent before every key ("" if none), owned by the handle. */
SAMERING_API const char *client_namespace(const client_t *c);
/* Replaces the namespace (len bytes; 0 removes it): the ring is rebuilt from its spec with the new
 * options.namespace, so a ring that hashes the namespace (cmf with hash_namespace) routes by the
 * new one; open connections stay open. SAMERING_OK, or SAMERING_ESPEC (printable ASCII without
 * spaces, at most 127 bytes, and a flavor with a namespace option: cmf, cache-memcached) with the
 * reason in client_last_error and the handle unchanged. Allocates. */
SAMERING_API int client_set_namespace(client_t *c, const char *ns, size_t len);

/* ---- retrieval ----------------------------------------------------------------------------- */

/* A value returned by client_get / client_gets: value is owned by the handle and stays valid
 * until the next call on it (it is not NUL-terminated: use value_len). */
typedef struct {
  const char *value;
  size_t value_len;
  uint32_t flags;
  uint64_t cas; /* client_gets only (0 otherwise) */
} client_value_t;

/* SAMERING_OK with *out filled, SAMERING_NOT_FOUND, or an error. */
SAMERING_API int client_get(client_t *c, const char *key, size_t key_len, client_value_t *out);
SAMERING_API int client_gets(client_t *c, const char *key, size_t key_len, client_value_t *out);

/* Called once per hit of a multi-get: index is the key's position in the request; value is valid
 * only during the call. The callback must not call the client. */
typedef void (*client_hit_fn)(void *ctx, size_t index, const char *value, size_t value_len, uint32_t flags,
                              uint64_t cas);

/* Multi-get: the keys are grouped per server and every server's request is sent before any reply
 * is read. on_hit (may be NULL) runs per hit, in reply order. status (NULL, or n slots) receives
 * per key SAMERING_OK, SAMERING_NOT_FOUND or that key's error (a bad key, its server's error).
 * Returns the number of hits, or SAMERING_EINVAL. client_gets_multi also passes each hit's cas. */
SAMERING_API int client_get_multi(client_t *c, const char *const *keys, const size_t *key_lens, size_t n, int *status,
                     client_hit_fn on_hit, void *ctx);
SAMERING_API int client_gets_multi(client_t *c, const char *const *keys, const size_t *key_lens, size_t n, int *status,
                      client_hit_fn on_hit, void *ctx);

/* ---- storage ------------------------------------------------------------------------------- */

/* SAMERING_OK, SAMERING_NOT_STORED (add/replace/append/prepend), or an error (SAMERING_ETOOLARGE for a
 * value the server refuses). append/prepend keep the item's flags and exptime (memcached ignores
 * the ones given). */
SAMERING_API int client_set(client_t *c, const char *key, size_t key_len, const void *value, size_t value_len, uint32_t flags,
               int64_t exptime, int opts);
SAMERING_API int client_add(client_t *c, const char *key, size_t key_len, const void *value, size_t value_len, uint32_t flags,
               int64_t exptime, int opts);
SAMERING_API int client_replace(client_t *c, const char *key, size_t key_len, const void *value, size_t value_len, uint32_t flags,
                   int64_t exptime, int opts);
SAMERING_API int client_append(client_t *c, const char *key, size_t key_len, const void *value, size_t value_len, uint32_t flags,
                  int64_t exptime, int opts);
SAMERING_API int client_prepend(client_t *c, const char *key, size_t key_len, const void *value, size_t value_len, uint32_t flags,
                   int64_t exptime, int opts);
/* SAMERING_OK, SAMERING_EXISTS (changed since its gets), SAMERING_NOT_FOUND, or an error; a cas of 0 is
 * SAMERING_EINVAL (memcached never hands one out). */
SAMERING_API int client_cas(client_t *c, const char *key, size_t key_len, uint64_t cas, const void *value, size_t value_len,
               uint32_t flags, int64_t exptime, int opts);

/* One item of client_store_multi: in key..cas (cas for CLIENT_CAS only), out status. */
typedef struct {
  const char *key;
  size_t key_len;
  const void *value;
  size_t value_len;
  uint32_t flags;
  int64_t exptime;
  uint64_t cas;
  int status;
} client_store_t;

/* Stores every item with command (CLIENT_SET ... CLIENT_CAS); each item gets its status. Returns
 * how many are SAMERING_OK, or SAMERING_EINVAL. Without CLIENT_NOREPLY each item is a round trip. */
SAMERING_API int client_store_multi(client_t *c, int command, client_store_t *items, size_t n, int opts);

/* ---- arithmetic, delete, touch ------------------------------------------------------------- */

/* SAMERING_OK with *value (may be NULL) = the new value (decr stops at 0), SAMERING_NOT_FOUND, or an
 * error (SAMERING_ESERVER when the stored value is not a number). */
SAMERING_API int client_incr(client_t *c, const char *key, size_t key_len, uint64_t delta, uint64_t *value, int opts);
SAMERING_API int client_decr(client_t *c, const char *key, size_t key_len, uint64_t delta, uint64_t *value, int opts);

/* One item of client_incr_multi / client_decr_multi: in key, delta; out value, status. */
typedef struct {
  const char *key;
  size_t key_len;
  uint64_t delta;
  uint64_t value;
  int status;
} client_arith_t;

/* Returns how many are SAMERING_OK, or SAMERING_EINVAL. */
SAMERING_API int client_incr_multi(client_t *c, client_arith_t *items, size_t n, int opts);
SAMERING_API int client_decr_multi(client_t *c, client_arith_t *items, size_t n, int opts);

/* SAMERING_OK, SAMERING_NOT_FOUND, or an error. */
SAMERING_API int client_delete(client_t *c, const char *key, size_t key_len, int opts);
/* status: NULL or n slots. Returns how many are SAMERING_OK, or SAMERING_EINVAL. */
SAMERING_API int client_delete_multi(client_t *c, const char *const *keys, const size_t *key_lens, size_t n, int *status, int opts);

/* SAMERING_OK, SAMERING_NOT_FOUND, or an error. Always waits for the reply. */
SAMERING_API int client_touch(client_t *c, const char *key, size_t key_len, int64_t exptime);

/* One item of client_touch_multi: in key, exptime; out status. */
typedef struct {
  const char *key;
  size_t key_len;
  int64_t exptime;
  int status;
} client_touch_t;

/* Returns how many are SAMERING_OK, or SAMERING_EINVAL. */
SAMERING_API int client_touch_multi(client_t *c, client_touch_t *items, size_t n);

/* ---- per server ---------------------------------------------------------------------------- */

/* flush_all on server i after delay seconds: SAMERING_OK or an error. */
SAMERING_API int client_flush(client_t *c, int server, int64_t delay, int opts);
/* flush_all on every server; status: NULL or client_server_count() slots. Returns how many are
 * SAMERING_OK, or SAMERING_EINVAL. (Cache::Memcached::Fast spreads its delay over the servers: call
 * client_flush per server for that.) */
SAMERING_API int client_flush_all(client_t *c, int64_t delay, int *status, int opts);
/* SAMERING_OK with *version = "1.6.18" (NUL-terminated, owned by the handle, valid until the next
 * call on it), or an error. */
SAMERING_API int client_version(client_t *c, int server, const char **version);
/* Waits until every CLIENT_NOREPLY command sent since the last sync was processed (one round trip
 * per server that had one). SAMERING_OK or the first error. */
SAMERING_API int client_sync(client_t *c);
/* Closes every connection now; they reopen on next use. SAMERING_OK or SAMERING_EINVAL. */
SAMERING_API int client_disconnect_all(client_t *c);

/* ---- errors -------------------------------------------------------------------------------- */

/* The message of this handle's last failure ("" if none): the key or server, and why. */
SAMERING_API const char *client_last_error(const client_t *c);
/* Codes are named by samering_strerror (samering/common.h): samering_strerror(SAMERING_ETOOLARGE) ==
 * "value too large". */

#ifdef __cplusplus
}
#endif

#endif /* SAMERING_CLIENT_H */
