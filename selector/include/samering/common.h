/* samering/common.h — what every samering header shares (C99 and C++): the export macro, the
 * version, and the one space of status codes that every C call returns.
 *
 * Status codes: a call returns a value >= 0 on success (an index, a count, SAMERING_OK, or one of
 * the three non-error outcomes of the memcached client) or one negative SAMERING_E* code.
 * samering_strerror() names any of them. Selector and client calls share the space: the same
 * failure has the same code wherever it happens. (This replaced the separate SELECTOR_E* and
 * CLIENT_E* enums of samering 0.1, whose numbers disagreed; nothing outside the repository used
 * them, so no aliases were kept.) */
#ifndef SAMERING_COMMON_H
#define SAMERING_COMMON_H

#include "samering/version.h"

/* The shared libraries export exactly the symbols marked SAMERING_API (everything else is built
 * with hidden visibility). */
#if defined(__GNUC__) || defined(__clang__)
#define SAMERING_API __attribute__((visibility("default")))
#else
#define SAMERING_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

enum {
  SAMERING_OK = 0,
  /* Outcomes of the memcached client that are not errors (samering/client.h). */
  SAMERING_NOT_FOUND = 1,   /* a miss; delete/touch/incr/decr/cas of a key that is not there */
  SAMERING_NOT_STORED = 2,  /* add of an existing key; replace/append/prepend of a missing one */
  SAMERING_EXISTS = 3,      /* cas: the item changed since its gets */
  /* Errors. */
  SAMERING_EINVAL = -1,     /* a NULL handle or pointer, a bad option, an index out of range */
  SAMERING_EKEY = -2,       /* the key is refused (by the flavor, or by memcached's key rules) */
  SAMERING_EDOWN = -3,      /* cannot connect: no broker at the socket, a memcached server that
                               refuses or is inside its retry timeout */
  SAMERING_ETIMEDOUT = -4,  /* no answer (broker or memcached) within the timeout */
  SAMERING_ETOOLARGE = -5,  /* memcached refused the value as too large (default limit 1 MB) */
  SAMERING_ESERVER = -6,    /* another memcached error reply (e.g. incr of a value that is not a number) */
  SAMERING_ECONNLOST = -7,  /* a connection (broker or memcached) failed while sending or reading;
                               the next call reconnects */
  SAMERING_EPROTO = -8,     /* a reply that cannot be parsed or is out of order (connection dropped) */
  SAMERING_ENOMEM = -9,     /* out of memory */
  SAMERING_EINTERNAL = -10, /* a bug: please report it */
  SAMERING_ESPEC = -11,     /* the spec or configuration is invalid (the message names the field) */
  SAMERING_EIO = -12,       /* a file cannot be read */
  SAMERING_EIMAGE = -13,    /* ring image bytes are corrupt, truncated or of another format */
  SAMERING_EBROKER = -14    /* the broker answered with an error (e.g. no such ring); see the message */
};

/* A static name for a status code: samering_strerror(SAMERING_ESPEC) == "invalid spec". Never NULL. */
SAMERING_API const char *samering_strerror(int code);
/* The library's version, "MAJOR.MINOR.PATCH" (static), and as SAMERING_VERSION_NUMBER computes it:
 * a program compiled against one version can check the library it runs with. */
SAMERING_API const char *samering_version(void);
SAMERING_API int samering_version_number(void);

#ifdef __cplusplus
}
#endif

#endif /* SAMERING_COMMON_H */
