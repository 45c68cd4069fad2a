#!/usr/bin/env bash
# The demo: a local 3-node memcached cluster; the real Cache::Memcached::Fast stores keys on it,
# and the `samering` CLI, a C program on the C API and 8 forked Perl workers using
# SameRing::Selector each pick a node for the same keys from the same spec (demo/spec.json). Prints one table; exits non-zero if any column disagrees.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

./scripts/install-deps.sh
log=$(mktemp)
if ! { cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSAMERING_BUILD_PERL=ON &&
       cmake --build build -j "$jobs" --target samering samering-c-pick samering-client-read samering_perl; } >"$log" 2>&1; then
  tail -40 "$log"; echo "demo: build failed (full log: $log)" >&2; exit 1
fi
rm -f "$log"
perl_lib="build/bindings-perl/dist/blib/lib:build/bindings-perl/dist/blib/arch"

spec=demo/spec.json
keys=demo/keys.txt
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Start one memcached per server of the spec, on loopback, by PID.
mapfile -t addrs < <(perl -MJSON::PP -e 'local $/; my $s = decode_json(<STDIN>);
  print "$_->{host}:", ($_->{port} // 11211), "\n" for @{$s->{servers}}' < "$spec")
for a in "${addrs[@]}"; do
  memcached -u nobody -l "${a%:*}" -p "${a##*:}" -U 0 -m 16 &
  pids+=($!)
done
for a in "${addrs[@]}"; do  # bounded wait until each one accepts
  for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/${a%:*}/${a##*:}") 2>/dev/null && break
    sleep 0.1
  done
done

perl demo/cmf_placement.pl "$spec" "$keys" > "$work/cmf"
build/tools/samering pick --spec "$spec" < "$keys" > "$work/cli"
build/demo/samering-c-pick "$spec" < "$keys" > "$work/c"
PERL5LIB="$perl_lib" perl demo/perl_workers.pl "$spec" "$keys" > "$work/perl"

echo "spec: $spec ($(build/tools/samering check --spec "$spec" | head -1 | cut -d' ' -f3-))"
printf '%-24s  %-24s  %-16s  %-16s  %-20s\n' "key" "Cache::Memcached::Fast" "samering CLI" "C API program" "8 forked Perl workers"
agree=0 total=0
while IFS= read -r key <&3 && IFS= read -r cmf <&4 && IFS= read -r cli <&5 && IFS= read -r c <&6 &&
      IFS= read -r pl <&7; do
  total=$((total + 1))
  mark="differs"
  if [ "$cmf" = "$cli" ] && [ "$cli" = "$c" ] && [ "$c" = "$pl" ]; then agree=$((agree + 1)); mark=""; fi
  printf '%-24s  %-24s  %-16s  %-16s  %-20s %s\n' "$key" "$cmf" "$cli" "$c" "$pl" "$mark"
done 3<"$keys" 4<"$work/cmf" 5<"$work/cli" 6<"$work/c" 7<"$work/perl"
echo "$agree of $total keys: every column names the same node"
[ "$agree" -eq "$total" ]

# Migration: a Perl prefork writer on Cache::Memcached::SameRing (the Cache::Memcached::Fast
# drop-in) stores every key; a C++ reader on samering::Client reads each one back from its node.
echo
echo "Perl writer (Cache::Memcached::SameRing, 4 forked workers) -> C++ reader (samering::Client):"
PERL5LIB="$perl_lib" perl demo/cms_writer.pl "$spec" "$keys"
build/demo/samering-client-read "$spec" < "$keys" > "$work/read"
found=0
while IFS= read -r key <&3 && IFS=$'\t' read -r node value <&4 && IFS= read -r cli <&5; do
  ok="MISSING"
  if [ "$node" = "$cli" ] && [ "${value#perl worker }" != "$value" ]; then found=$((found + 1)); ok=""; fi
  printf '  %-24s  read from %-16s  %-22s %s\n' "$key" "$node" "$value" "$ok"
done 3<"$keys" 4<"$work/read" 5<"$work/cli"
echo "$found of $total keys written by Perl were read by C++ from the node every runtime picks"
[ "$found" -eq "$total" ]
