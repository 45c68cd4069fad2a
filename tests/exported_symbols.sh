#!/bin/sh
# Every dynamic symbol a samering shared library defines is API: a C function of the C API
# (samering_*, selector_*, client_*) or a C++ name in namespace samering (the SAMERING_API classes
# and functions, their typeinfo and vtables). Also checks that the C API's key functions are there.
#   exported_symbols.sh LIB.so [REQUIRED_SYMBOL ...]
set -eu
lib=$1
shift
[ -f "$lib" ] || { echo "no such library: $lib" >&2; exit 1; }
symbols=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TtWwDdBbRrVvuiG]$/ {print $3}')
[ -n "$symbols" ] || { echo "$lib exports nothing" >&2; exit 1; }
bad=$(printf '%s\n' "$symbols" | grep -v -E '^(samering_|selector_|client_)' | c++filt |
      grep -v -E '^((typeinfo|typeinfo name|vtable) for )?samering::' || true)
if [ -n "$bad" ]; then
  echo "$lib exports symbols that are not samering API:" >&2
  printf '%s\n' "$bad" | head -20 >&2
  exit 1
fi
for want in "$@"; do
  printf '%s\n' "$symbols" | grep -qx "$want" || { echo "$lib does not export $want" >&2; exit 1; }
done
echo "$lib: $(printf '%s\n' "$symbols" | wc -l) symbols, all API"
