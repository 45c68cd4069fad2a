/* A strict ISO C99 translation unit over samering/selector.h (built with -std=c99 -pedantic-errors
 * -Werror, see tests/CMakeLists.txt): it proves the header is C99 and drives the API from C.
 * c_api_test.cpp calls these functions and checks what they return. */
#include <samering/selector.h>
#include <stddef.h>
#include <string.h>

/* Builds a selector from json, picks each of n keys from C (one by one and with pick_many) and
 * writes the indices to out; returns SAMERING_OK, a negative code, or -100 if the two disagree.
 * The server address of out[0] is copied into first_address (NUL-terminated). */
int samering_c99_pick(const char *json, size_t json_len, const char *const *keys, const size_t *lens, size_t n,
                      int *out, char *first_address, size_t first_address_len) {
  selector_t *sel = NULL;
  char err[256];
  int many[16];
  size_t i;
  int rc = selector_new_from_json(json, json_len, &sel, err, sizeof err);
  if (rc != SAMERING_OK) return rc;
  if (n > sizeof many / sizeof many[0]) {
    selector_free(sel);
    return SAMERING_EINVAL;
  }
  for (i = 0; i < n; ++i) out[i] = selector_pick(sel, keys[i], lens[i]);
  rc = selector_pick_many(sel, keys, lens, n, many, NULL, NULL);
  if (rc == SAMERING_OK) {
    for (i = 0; i < n; ++i)
      if (many[i] != out[i]) rc = -100;
  }
  if (rc == SAMERING_OK && n > 0 && first_address && first_address_len > 0) {
    const char *addr = selector_server(sel, out[0]);
    if (!addr) {
      rc = -101;
    } else {
      strncpy(first_address, addr, first_address_len - 1);
      first_address[first_address_len - 1] = '\0';
    }
  }
  selector_free(sel);
  return rc;
}

/* The error path from C: returns the code and leaves the message in errbuf; *out_was_null is 1
 * when the constructor left its out pointer NULL. */
int samering_c99_bad_spec(const char *json, char *errbuf, size_t errlen, int *out_was_null) {
  selector_t *const sentinel = (selector_t *)&errlen; /* not NULL: the constructor must reset it */
  selector_t *sel = sentinel;
  const int rc = selector_new_from_json(json, strlen(json), &sel, errbuf, errlen);
  *out_was_null = sel == NULL;
  if (sel && sel != sentinel) selector_free(sel);
  return rc;
}

/* Every code has a name. Returns the number of codes with a NULL or empty name. */
int samering_c99_strerror_gaps(void) {
  static const int codes[] = {SAMERING_OK,     SAMERING_EINVAL,  SAMERING_ESPEC,  SAMERING_EIO,
                              SAMERING_EKEY,   SAMERING_ENOMEM,  SAMERING_EIMAGE, SAMERING_EINTERNAL};
  int gaps = 0;
  size_t i;
  for (i = 0; i < sizeof codes / sizeof codes[0]; ++i) {
    const char *s = samering_strerror(codes[i]);
    if (!s || !*s) ++gaps;
  }
  return gaps;
}
