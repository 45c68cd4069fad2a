/* samering/selector.h — the C API of the samering selector (C99).
 *
 *   selector_t *sel; char err[256];
 *   if (selector_new_from_file("spec.json", &sel, err, sizeof err) < 0) { puts(err); return 1; }
 *   const char *where;
 *   int i = selector_pick_server(sel, "user:42", 7, NULL, &where);  // index, or a negative code
 *   if (i >= 0) puts(where);                                        // "host:port" as written in the spec
 *   selector_free(sel);
 *
 * Every call returns a value >= 0 on success or a negative SAMERING_E* code (samering/common.h);
 * samering_strerror() names a code. A constructor that fails writes a one-line message into errbuf
 * (always NUL-terminated when errlen > 0) and leaves *out NULL. There is no global error state;
 * broker- and shm-backed handles also keep the message of their last failure (selector_last_error).
 *
 * Sources. A selector answers from one of three sources, through the same calls (a caller changes
 * one constructor): a local ring (built from a spec or loaded from an image), a running
 * samering-broker over its Unix socket, or the image the broker publishes in shared memory.
 *
 * Threads and fork. A local selector never changes after construction: every call may be made
 * from many threads at once and in forked children; picks allocate nothing and take no lock.
 * Broker- and shm-backed selectors keep per-handle state (a connection, the generation followed),
 * so each handle is used by one thread at a time (one handle per thread); both are fork-safe: a
 * forked child closes an inherited broker connection without sending on it and opens its own on
 * first use; shared-memory mappings are read-only and valid in children. No call starts a thread.
 *
 * Strings handed out (addresses, the flavor, image bytes). From a local selector they stay valid
 * until selector_free. From a broker- or shm-backed selector they stay valid until the next call on
 * the same handle (other than selector_source and selector_last_error) or selector_free: the handle
 * keeps only the generation it answered from last. Copy what you keep. */
#ifndef SAMERING_SELECTOR_H
#define SAMERING_SELECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "samering/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct selector selector_t;

/* ---- constructors (all allocate; free with selector_free) ---- */

/* From spec JSON (len bytes, no NUL needed; docs/spec-format.md): SAMERING_ESPEC with the field. */
SAMERING_API int selector_new_from_json(const char *json, size_t len, selector_t **out, char *errbuf, size_t errlen);
/* Same, reading the spec from a file (SAMERING_EIO when it cannot be read). */
SAMERING_API int selector_new_from_file(const char *path, selector_t **out, char *errbuf, size_t errlen);
/* From RingImage bytes (docs/ring-image.md; copied and validated): SAMERING_EIMAGE when invalid. */
SAMERING_API int selector_new_from_image(const void *bytes, size_t len, selector_t **out, char *errbuf,
                                         size_t errlen);
/* From Cache::Memcached::Fast 0.28 constructor arguments written as JSON ({"servers": [...],
 * "ketama_points": 150, "namespace": "app:", ...}; docs/convert.md): the "cmf" flavor exactly as the
 * core's convert reads CMF's arguments. SAMERING_ESPEC with the position and field. */
SAMERING_API int selector_new_from_cmf(const char *args_json, size_t len, selector_t **out, char *errbuf,
                                       size_t errlen);

/* A selector that asks a running samering-broker (docs/protocol.md) for ring `ring` over the Unix
 * socket `socket_path`: one round trip per pick, one per batch for selector_pick_many. timeout_ms
 * bounds each request (<= 0: wait forever; > 0 also bounds connect). Connects and checks that the
 * ring exists before returning: SAMERING_EDOWN (no broker there), SAMERING_EBROKER (no such ring),
 * SAMERING_ETIMEDOUT. Picks then return an index or SAMERING_EDOWN / SAMERING_ECONNLOST /
 * SAMERING_ETIMEDOUT / SAMERING_EBROKER / SAMERING_EPROTO (message in selector_last_error); a
 * broken connection is reopened on the next call. */
SAMERING_API int selector_new_from_broker(const char *socket_path, const char *ring, int timeout_ms,
                                          selector_t **out, char *errbuf, size_t errlen);
/* A selector that maps the ring image a samering-broker publishes in its --shm-dir (files
 * <dir>/<ring>.ctl and the image it names) and follows reloads: each pick checks the published
 * generation with one memory load (no syscall) and maps + validates a new image when it moved; if
 * the new image is missing or corrupt the previous one stays in use and selector_last_error says
 * why. Fails with SAMERING_EDOWN (no control file) or SAMERING_EIMAGE (a truncated or corrupt image;
 * the message names the file). No descriptor is kept open. The reader trusts only a directory and
 * files owned by root or by the calling process's uid, writable by nobody else (docs/protocol.md
 * "Shared memory", reader rules): SAMERING_EDOWN / SAMERING_EIMAGE otherwise. */
SAMERING_API int selector_new_from_shm(const char *shm_dir, const char *ring, selector_t **out, char *errbuf,
                                       size_t errlen);
/* selector_new_from_shm that also trusts files owned by owner_uid (the uid a broker service runs
 * as; -1: none besides root and the caller). */
SAMERING_API int selector_new_from_shm_owned_by(const char *shm_dir, const char *ring, int64_t owner_uid,
                                                selector_t **out, char *errbuf, size_t errlen);
/* selector_new_from_shm on the --shm-dir of the broker at socket_path (the broker names it in its
 * handshake; no connection is kept), trusting the broker's uid as the owner of its files.
 * SAMERING_EBROKER when that broker publishes no shared memory. */
SAMERING_API int selector_new_from_broker_shm(const char *socket_path, const char *ring, int timeout_ms,
                                              selector_t **out, char *errbuf, size_t errlen);

/* ---- picks ---- */

/* The index (>= 0) of the server for the key of len bytes (any bytes), or a negative code
 * (SAMERING_EKEY: the flavor refuses this key, e.g. its length). */
SAMERING_API int selector_pick(selector_t *sel, const char *key, size_t len);
/* The same pick, with what a caller needs from it in one call: *generation (when not NULL) = the
 * ring generation that answered (0 for a local selector; the broker's otherwise, which changes
 * with every reload that changed the ring), and *address (when not NULL) = that generation's
 * "host:port" of the server, NUL-terminated (lifetime: see "Strings handed out"). On an error
 * *address is NULL. */
SAMERING_API int selector_pick_server(selector_t *sel, const char *key, size_t len, uint64_t *generation,
                                      const char **address);
/* out[i] = the index for keys[i] (lens[i] bytes), or SAMERING_EKEY in its slot for a refused key,
 * (SAMERING_EINVAL in the slot of a NULL key with a length) for i < n, all from one ring generation; addresses[i] (when addresses is not NULL) = its
 * "host:port" (NULL for a refused key) and *generation (when not NULL) = that generation. A broker
 * handle sends one PICK_MANY per batch of the broker's max_keys. Returns SAMERING_OK, or a code for
 * the whole call (SAMERING_EINVAL for NULL arguments, or a broker failure). */
SAMERING_API int selector_pick_many(selector_t *sel, const char *const *keys, const size_t *lens, size_t n,
                                    int *out, const char **addresses, uint64_t *generation);

/* ---- the ring ---- */

/* Where the selector's ring comes from: SELECTOR_SOURCE_LOCAL, _BROKER or _SHM; or SAMERING_EINVAL. */
enum { SELECTOR_SOURCE_LOCAL = 0, SELECTOR_SOURCE_BROKER = 1, SELECTOR_SOURCE_SHM = 2 };
SAMERING_API int selector_source(const selector_t *sel);
/* The ring generation the handle follows now (0 for a local selector). A shm selector first follows
 * a newer published generation, if any; a broker selector reports the generation of its last
 * answer. Returns 0 for NULL. */
SAMERING_API uint64_t selector_generation(selector_t *sel);
/* Number of servers (>= 1), or a negative code. For a broker or shm selector: of the newest
 * generation the handle has seen (an index picked earlier may belong to an older one: use
 * selector_pick_server or selector_pick_many's addresses to get both from one generation). */
SAMERING_API int selector_server_count(selector_t *sel);
/* "host:port" of server i exactly as written in the spec, NUL-terminated; NULL if i is out of range
 * (or the broker cannot be asked). Same generation rule as selector_server_count. */
SAMERING_API const char *selector_server(selector_t *sel, int i);
/* The flavor name; NULL when the broker cannot be asked. */
SAMERING_API const char *selector_flavor(selector_t *sel);
/* The RingImage bytes the selector picks with (docs/ring-image.md): *bytes and *len are set
 * (lifetime: see "Strings handed out"). A broker selector fetches the broker's current image
 * (RING_IMAGE by descriptor). Returns SAMERING_OK or a negative code. A pure-Go or other reader
 * can validate and pick with these bytes itself. */
SAMERING_API int selector_image(selector_t *sel, const void **bytes, size_t *len);
/* The message of this handle's last failure ("" if none): for broker- and shm-backed selectors, why
 * the last call failed (or why a new image was refused). A local selector has no failure to
 * describe: its picks fail only with SAMERING_EKEY, which is not recorded (a pick stays read-only). */
SAMERING_API const char *selector_last_error(const selector_t *sel);
/* Frees the selector; NULL is allowed. */
SAMERING_API void selector_free(selector_t *sel);

/* ---- configurations of the peers ---- */

/* A peer's own configuration → the spec JSON that picks exactly as it does (docs/convert.md), as the
 * core's convert reads it. from: "cmf" (Cache::Memcached::Fast constructor arguments as JSON),
 * "libmemcached" (a configuration string or server list), "gomemcache" (an address list), and the
 * other text formats docs/convert.md lists; twemproxy's YAML is converted by the C++ library
 * samering::convert and the CLI only (libsamering_c does not link libyaml). On success *json is a
 * NUL-terminated malloc'ed string (*json_len bytes without the NUL) to free with samering_free.
 * SAMERING_ESPEC with "line L, column C: ..." in errbuf; SAMERING_EINVAL for an unknown format. */
SAMERING_API int samering_convert(const char *from, const char *text, size_t len, char **json, size_t *json_len,
                                  char *errbuf, size_t errlen);
/* Frees what samering_convert returned; NULL is allowed. */
SAMERING_API void samering_free(void *p);

#ifdef __cplusplus
}
#endif

#endif /* SAMERING_SELECTOR_H */
