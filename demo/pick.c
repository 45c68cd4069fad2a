/* demo/pick.c — a C program on samering's C API: `samering-c-pick SPEC < keys` prints the
 * chosen server (host:port) for each key line, as `samering pick` does. */
#include <samering/selector.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s SPEC_FILE < keys\n", argv[0]);
    return 2;
  }
  char err[512];
  selector_t *sel;
  if (selector_new_from_file(argv[1], &sel, err, sizeof err) < 0) {
    fprintf(stderr, "samering-c-pick: %s\n", err);
    return 2;
  }
  char line[4096];
  while (fgets(line, sizeof line, stdin)) {
    size_t len = strcspn(line, "\n");
    const char *where;
    int i = selector_pick_server(sel, line, len, NULL, &where);
    if (i < 0) {
      fprintf(stderr, "samering-c-pick: %s\n", samering_strerror(i));
      selector_free(sel);
      return 2;
    }
    puts(where);
  }
  selector_free(sel);
  return 0;
}
