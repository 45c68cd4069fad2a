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
 * NUL-terminated when errlen > 0) and leaves *out NULL. There is no global error state; each
 * handle also keeps the message of its last failure (selector_last_error).
 *
 * Threads and fork: a selector is immutable after construction; selector_pick and the readers
 * may be called from many threads at once and in forked children. selector_pick allocates
 * nothing and takes no lock. No function starts a thread. */
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
  SELECTOR_EINTERNAL = -7 /* a bug: please report it */
};

/* Build a selector from spec JSON (len bytes, no NUL needed). Returns SELECTOR_OK or a negative
 * code; on error *out is NULL and errbuf holds the reason. Allocates. */
int selector_new_from_json(const char *json, size_t len, selector_t **out, char *errbuf, size_t errlen);
/* Same, reading the spec from a file. */
int selector_new_from_file(const char *path, selector_t **out, char *errbuf, size_t errlen);
/* Load a selector from RingImage bytes (copied and validated). */
int selector_new_from_image(const void *bytes, size_t len, selector_t **out, char *errbuf, size_t errlen);

/* The index (>= 0) of the server for the key of len bytes (any bytes), or a negative code. */
int selector_pick(const selector_t *sel, const char *key, size_t len);
/* out[i] = selector_pick(sel, keys[i], lens[i]) for i < n. Returns SELECTOR_OK, or SELECTOR_EINVAL
 * for NULL arguments (a refused key gives SELECTOR_EKEY in its slot, not a failed call). */
int selector_pick_many(const selector_t *sel, const char *const *keys, const size_t *lens, size_t n, int *out);

/* Number of servers (>= 1), or SELECTOR_EINVAL. */
int selector_server_count(const selector_t *sel);
/* "host:port" of server i exactly as written in the spec, NUL-terminated, owned by the selector;
 * NULL if i is out of range. */
const char *selector_server(const selector_t *sel, int i);
/* The flavor name, owned by the selector. */
const char *selector_flavor(const selector_t *sel);
/* The message of this handle's last failure ("" if none). */
const char *selector_last_error(const selector_t *sel);
/* A static name for a code: selector_strerror(SELECTOR_ESPEC) == "invalid spec". */
const char *selector_strerror(int code);
/* Frees the selector; NULL is allowed. */
void selector_free(selector_t *sel);

#ifdef __cplusplus
}
#endif

#endif /* SAMERING_SELECTOR_H */
