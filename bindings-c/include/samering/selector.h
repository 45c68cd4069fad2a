/* samering/selector.h — the C API of the samering selector (C99).
 *
 *   selector_t *sel; char err[256];
 *   if (selector_new_from_file("spec.json", &sel, err, sizeof err) < 0) { puts(err); return 1; }
 *   int i = selector_pick(sel, "user:42", 7);        // server index, or a negative code
 *   puts(selector_server(sel, i));                   // "host:port" as written in the spec
 *   selector_free(sel);
 *
 * Every call returns a value >= 0 on success or a negative SELECTOR_E* code; selector_strerror()
 * names a code. A constructor that fails writes a one-line message into errbuf (always
 * NUL-terminated when errlen > 0) and leaves *out NULL. There is no global error state; broker-
 * and shm-backed handles also keep the message of their last failure (selector_last_error).
 *
 * Threads and fork: a selector is immutable after construction; selector_pick and the readers
 * may be called from many threads at once and in forked children. selector_pick allocates
 * nothing and takes no lock. No function starts a thread.
 * Broker- and shm-backed selectors (selector_new_from_broker, selector_new_from_shm) answer through
 * the same calls, so a caller changes one constructor; they keep per-handle state (a connection, the
 * generation followed), so each handle is used by one thread at a time; both are fork-safe. */
#ifndef SAMERING_SELECTOR_H
#define SAMERING_SELECTOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct selector selector_t;

enum {
  SELECTOR_OK = 0,
  SELECTOR_EINVAL = -1,   /* a NULL handle or pointer, or an index out of range */
  SELECTOR_ESPEC = -2,    /* the spec is invalid (the message names the field) */
  SELECTOR_EIO = -3,      /* the spec file cannot be read */
  SELECTOR_EKEY = -4,     /* the flavor refuses this key (e.g. its length) */
  SELECTOR_ENOMEM = -5,   /* out of memory */
  SELECTOR_EIMAGE = -6,   /* ring image bytes are corrupt or truncated */
  SELECTOR_EINTERNAL = -7, /* a bug: please report it */
  /* Broker- and shm-backed selectors (selector_new_from_broker, selector_new_from_shm): */
  SELECTOR_ECONN = -8,    /* cannot reach the broker, or the connection broke (retry later) */
  SELECTOR_ETIMEDOUT = -9, /* the broker did not answer within the timeout */
  SELECTOR_EBROKER = -10, /* the broker answered with an error (e.g. no such ring); see selector_last_error */
  SELECTOR_EPROTO = -11   /* the broker's reply was malformed or out of order (connection dropped) */
};

/* Build a selector from spec JSON (len bytes, no NUL needed). Returns SELECTOR_OK or a negative
 * code; on error *out is NULL and errbuf holds the reason. Allocates. */
int selector_new_from_json(const char *json, size_t len, selector_t **out, char *errbuf, size_t errlen);
/* Same, reading the spec from a file. */
int selector_new_from_file(const char *path, selector_t **out, char *errbuf, size_t errlen);
/* Load a selector from RingImage bytes (copied and validated). */
int selector_new_from_image(const void *bytes, size_t len, selector_t **out, char *errbuf, size_t errlen);

/* A selector that asks a running samering-broker (docs/protocol.md) for ring `ring` over the Unix
 * socket `socket_path`: one round trip per selector_pick, one per batch for selector_pick_many.
 * timeout_ms bounds each request (<= 0: wait forever; 0 < t: also bounds connect). Connects and
 * checks that the ring exists before returning: SELECTOR_ECONN (no broker there), SELECTOR_EBROKER
 * (no such ring), SELECTOR_ETIMEDOUT. Allocates.
 * selector_pick then returns an index or SELECTOR_ECONN / SELECTOR_ETIMEDOUT / SELECTOR_EBROKER /
 * SELECTOR_EPROTO (message in selector_last_error); a broken connection is reopened on the next call.
 * selector_server/selector_server_count/selector_flavor describe the newest generation seen (they
 * are refreshed, with one extra round trip, when a pick reply carries a new generation).
 * Fork: safe to create before fork(); a child closes the inherited connection without sending on
 * it and opens its own on first use. Threads: one thread at a time per handle (it owns a
 * connection); use one handle per thread. */
int selector_new_from_broker(const char *socket_path, const char *ring, int timeout_ms, selector_t **out,
                             char *errbuf, size_t errlen);
/* A selector that maps the ring image a samering-broker publishes in its --shm-dir (files
 * <dir>/<ring>.ctl and <dir>/<ring>.<generation>.img) and follows reloads: each selector_pick
 * checks the published generation with one memory load (no syscall) and maps + validates a new
 * image when it moved; if the new image is missing or corrupt the previous one stays in use and
 * selector_last_error says why. The constructor fails with SELECTOR_ECONN (no control file) or
 * SELECTOR_EIMAGE (a truncated or corrupt image; the message names the file). Allocates.
 * Fork: mappings are read-only and valid in children; no descriptor is kept. Threads: one thread
 * at a time per handle (following a reload replaces the mapping); use one handle per thread. */
int selector_new_from_shm(const char *shm_dir, const char *ring, selector_t **out, char *errbuf, size_t errlen);
/* selector_new_from_shm on the --shm-dir of the broker at socket_path (asked once with STATS; no
 * connection is kept). SELECTOR_EBROKER when that broker publishes no shared memory. */
int selector_new_from_broker_shm(const char *socket_path, const char *ring, int timeout_ms, selector_t **out,
                                 char *errbuf, size_t errlen);

/* The index (>= 0) of the server for the key of len bytes (any bytes), or a negative code. */
int selector_pick(const selector_t *sel, const char *key, size_t len);
/* Same, and *generation (when not NULL) = the ring generation that answered: 0 for a local
 * selector, the broker's generation otherwise (it grows by one with every reload that changed the
 * ring, so callers can tell which answers came from which ring). */
int selector_pick_gen(const selector_t *sel, const char *key, size_t len, uint64_t *generation);
/* out[i] = selector_pick(sel, keys[i], lens[i]) for i < n. Returns SELECTOR_OK, or SELECTOR_EINVAL
 * for NULL arguments (a refused key gives SELECTOR_EKEY in its slot, not a failed call). */
int selector_pick_many(const selector_t *sel, const char *const *keys, const size_t *lens, size_t n, int *out);

/* Where the selector's ring comes from: SELECTOR_SOURCE_LOCAL, _BROKER or _SHM; or SELECTOR_EINVAL. */
enum { SELECTOR_SOURCE_LOCAL = 0, SELECTOR_SOURCE_BROKER = 1, SELECTOR_SOURCE_SHM = 2 };
int selector_source(const selector_t *sel);
/* The ring generation last seen (0 for a local selector). A shm selector first follows a newer
 * published generation, if any. Returns 0 for NULL. */
uint64_t selector_generation(const selector_t *sel);

/* Number of servers (>= 1), or SELECTOR_EINVAL. */
int selector_server_count(const selector_t *sel);
/* "host:port" of server i exactly as written in the spec, NUL-terminated, owned by the selector;
 * NULL if i is out of range. */
const char *selector_server(const selector_t *sel, int i);
/* The flavor name, owned by the selector. */
const char *selector_flavor(const selector_t *sel);
/* The message of this handle's last failure ("" if none): for broker- and shm-backed selectors,
 * why the last call failed (or why a new image was refused). A local selector has no failure to
 * describe: its picks fail only with SELECTOR_EKEY, which is not recorded (pick stays read-only). */
const char *selector_last_error(const selector_t *sel);
/* A static name for a code: selector_strerror(SELECTOR_ESPEC) == "invalid spec". */
const char *selector_strerror(int code);
/* Frees the selector; NULL is allowed. */
void selector_free(selector_t *sel);

#ifdef __cplusplus
}
#endif

#endif /* SAMERING_SELECTOR_H */
