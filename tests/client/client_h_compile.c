/* A strict ISO C99 translation unit over samering/client.h (built with -std=c99 -pedantic-errors
 * -Werror, see tests/client/CMakeLists.txt): it proves the header is C99 and drives the client
 * from C. c_client_test.cpp calls this and checks what it returns. */
#include <samering/client.h>
#include <stddef.h>
#include <string.h>

struct hits {
  size_t count;
  size_t value_bytes;
  uint32_t flags_sum;
};

static void on_hit(void *ctx, size_t index, const char *value, size_t value_len, uint32_t flags, uint64_t cas) {
  struct hits *h = (struct hits *)ctx;
  (void)index;
  (void)value;
  (void)cas;
  h->count++;
  h->value_bytes += value_len;
  h->flags_sum += flags;
}

/* From C: set three keys with flags 1, 2, 3, get one back, multi-get them plus a miss. Returns
 * 0 when everything agrees, or a negative step number / code. */
int samering_c99_client_roundtrip(const char *json, size_t json_len) {
  client_t *c = NULL;
  char err[256];
  const char *keys[4] = {"c99:a", "c99:bb", "c99:ccc", "c99:missing"};
  size_t lens[4];
  int status[4];
  struct hits h = {0, 0, 0};
  client_value_t v;
  size_t i;
  int rc = client_new_from_json(json, json_len, &c, err, sizeof err);
  if (rc != SAMERING_OK) return rc;
  for (i = 0; i < 4; ++i) lens[i] = strlen(keys[i]);
  for (i = 0; i < 3; ++i) {
    if (client_set(c, keys[i], lens[i], keys[i], lens[i], (uint32_t)(i + 1), 0, 0) != SAMERING_OK) {
      client_free(c);
      return -101;
    }
  }
  rc = client_get(c, keys[1], lens[1], &v);
  if (rc != SAMERING_OK || v.value_len != lens[1] || memcmp(v.value, keys[1], lens[1]) != 0 || v.flags != 2) {
    client_free(c);
    return -102;
  }
  rc = client_get_multi(c, keys, lens, 4, status, on_hit, &h);
  client_free(c);
  if (rc != 3 || h.count != 3 || h.flags_sum != 6 || h.value_bytes != 5 + 6 + 7) return -103;
  if (status[0] != SAMERING_OK || status[3] != SAMERING_NOT_FOUND) return -104;
  return 0;
}
