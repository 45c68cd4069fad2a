#!/usr/bin/env bash
# The demo: a local 3-node memcached cluster; the real Cache::Memcached::Fast stores keys on it,
# and the `samering` CLI, a C program on the C API, 8 forked Perl workers using
# SameRing::Selector and a Go service (gomemcache routed by package samering, pure Go, on the
# image `samering image` wrote) each pick a node for the same keys from the same spec
# (demo/spec.json); a Perl prefork writer (Cache::Memcached::SameRing) stores the keys and a C++
# reader (samering::Client) and the Go service (gomemcache) read them back; then samering-broker
# serves the spec, 8 forked Perl workers pick through its socket and its shared memory and the Go
# service follows its shared memory, and a changed spec is reloaded (SIGHUP): the new generation
# and the keys that moved are shown. Exits non-zero if any two answers disagree.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

./scripts/install-deps.sh
log=$(mktemp)
if ! { cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSAMERING_BUILD_PERL=ON -DSAMERING_BUILD_BROKER=ON \
         -DSAMERING_BUILD_CLIENT=ON &&
       cmake --build build -j "$jobs" --target samering samering-c-pick samering-client-read samering_perl \
         samering-broker; } >"$log" 2>&1; then
  tail -40 "$log"; echo "demo: build failed (full log: $log)" >&2; exit 1
fi
rm -f "$log"
# The Go service, built offline in GOPATH mode (bindings-go/README.md): package samering from this
# checkout, gomemcache from Debian's golang-github-bradfitz-gomemcache-dev; no cgo.
gopath=build/demo-gopath
mkdir -p "$gopath/src"
ln -sfn "$PWD/bindings-go" "$gopath/src/samering"
if ! (cd demo/go && GO111MODULE=off GOPATH="$PWD/../../$gopath:/usr/share/gocode" GOFLAGS= CGO_ENABLED=0 \
        GOCACHE="$PWD/../../build/demo-gocache" go build -o ../../build/demo/samering-go-demo .) >"$log" 2>&1; then
  cat "$log"; echo "demo: go build of demo/go failed" >&2; exit 1
fi
rm -f "$log"
go_demo=build/demo/samering-go-demo
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
build/tools/samering image --spec "$spec" -o "$work/ring.img"
"$go_demo" pick "$work/ring.img" < "$keys" > "$work/go"

echo "spec: $spec ($(build/tools/samering check --spec "$spec" | head -1 | cut -d' ' -f3-))"
printf '%-24s  %-24s  %-16s  %-16s  %-21s  %-16s\n' "key" "Cache::Memcached::Fast" "samering CLI" "C API program" \
  "8 forked Perl workers" "Go (gomemcache)"
agree=0 total=0
while IFS= read -r key <&3 && IFS= read -r cmf <&4 && IFS= read -r cli <&5 && IFS= read -r c <&6 &&
      IFS= read -r pl <&7 && IFS= read -r go <&8; do
  total=$((total + 1))
  mark="differs"
  if [ "$cmf" = "$cli" ] && [ "$cli" = "$c" ] && [ "$c" = "$pl" ] && [ "$pl" = "$go" ]; then
    agree=$((agree + 1)); mark=""
  fi
  printf '%-24s  %-24s  %-16s  %-16s  %-21s  %-16s %s\n' "$key" "$cmf" "$cli" "$c" "$pl" "$go" "$mark"
done 3<"$keys" 4<"$work/cmf" 5<"$work/cli" 6<"$work/c" 7<"$work/perl" 8<"$work/go"
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

# The same keys read by the Go service through gomemcache (memcache.NewFromSelector).
echo
echo "Perl writer -> Go reader (gomemcache, routed by package samering):"
"$go_demo" read "$work/ring.img" < "$keys" > "$work/goread"
gofound=0 refused=0
while IFS= read -r key <&3 && IFS=$'\t' read -r node value <&4 && IFS= read -r cli <&5; do
  ok="MISSING"
  if [ "$node" = "$cli" ] && [ "${value#perl worker }" != "$value" ]; then gofound=$((gofound + 1)); ok=""; fi
  if [ "$node" = "$cli" ] && [ "${value#(this gomemcache refuses}" != "$value" ]; then refused=$((refused + 1)); ok=""; fi
  printf '  %-24s  read from %-16s  %-22s %s\n' "$key" "$node" "$value" "$ok"
done 3<"$keys" 4<"$work/goread" 5<"$work/cli"
echo "$gofound of $total keys written by Perl were read by Go from the node every runtime picks" \
  "($refused UTF-8 keys: Debian's 2014 gomemcache refuses them, its selector names the same node)"
[ $((gofound + refused)) -eq "$total" ] && [ "$gofound" -gt 0 ]

# The broker: samering-broker owns the host's ring (a copy of the spec it watches), answers over a
# Unix socket and publishes the ring image in shared memory; Perl workers forked from one parent
# pick through both and must agree with an in-process selector on the same spec.
echo
echo "samering-broker: 8 forked Perl workers pick through its socket (4) and its shared memory (4):"
ring=$work/ring.json sock=$work/broker.sock
cp "$spec" "$ring"
build/broker/samering-broker --socket "$sock" --ring demo="$ring" --shm-dir "$work/shm" 2>"$work/broker.log" &
broker=$!
pids+=("$broker")
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { cat "$work/broker.log"; echo "demo: the broker did not start" >&2; exit 1; }
PERL5LIB="$perl_lib" perl demo/perl_broker.pl "$sock" demo "$ring" "$keys" > "$work/before"
gen_before=$(sed -n 's/^generation //p' "$work/before")
# The Go service maps the same shared memory; it is started now and follows the reload below.
"$go_demo" shm "$work/shm" demo "$keys" > "$work/go-shm" &
go_shm=$!
pids+=("$go_shm")
for _ in $(seq 50); do grep -q '^started' "$work/go-shm" 2>/dev/null && break; sleep 0.1; done
go_start=$(sed -n 's/^started //p' "$work/go-shm")
[ "$go_start" = "$gen_before" ] || { echo "demo: the Go service did not map generation $gen_before" >&2; exit 1; }

# Reload: a fourth node joins (a fourth memcached, and the spec rewritten the way a config
# manager does it: a temporary file renamed over the old one), then SIGHUP.
new_port=21204
memcached -u nobody -l 127.0.0.1 -p "$new_port" -U 0 -m 16 &
pids+=($!)
perl -MJSON::PP -e 'local $/; my $s = JSON::PP->new->decode(<STDIN>);
  push @{$s->{servers}}, {host => "127.0.0.1", port => 0 + $ARGV[0]};
  print JSON::PP->new->canonical->encode($s)' "$new_port" < "$spec" > "$ring.tmp"
mv "$ring.tmp" "$ring"
kill -HUP "$broker"
for _ in $(seq 50); do  # bounded wait until the broker serves the new generation
  gen=$(PERL5LIB="$perl_lib" perl -MSameRing::Selector -e '
    my $s = SameRing::Selector->new(broker => $ARGV[0], ring => "demo"); $s->pick("x"); print $s->generation' "$sock")
  [ "$gen" != "$gen_before" ] && break
  sleep 0.1
done
PERL5LIB="$perl_lib" perl demo/perl_broker.pl "$sock" demo "$ring" "$keys" > "$work/after"
gen_after=$(sed -n 's/^generation //p' "$work/after")
kill -USR1 "$go_shm"  # the Go service picks every key now, from the generation it follows
wait "$go_shm"
go_gen=$(sed -n 's/^generation //p' "$work/go-shm")
if ! diff <(grep -v '^generation' "$work/after") <(grep -v '^started\|^generation' "$work/go-shm") >/dev/null; then
  echo "demo: the Go service (shm, generation $go_gen) disagrees with the broker's generation $gen_after" >&2; exit 1
fi
printf '%-24s  %-26s  %-26s\n' "key" "generation $gen_before (3 nodes)" "generation $gen_after (+127.0.0.1:$new_port)"
moved=0 wrong=0
while IFS= read -r key <&3 && IFS= read -r before <&4 && IFS= read -r after <&5; do
  mark=""
  if [ "$before" != "$after" ]; then
    moved=$((moved + 1)); mark="moved"
    # a ketama ring moves keys only to the node that joined
    [ "$after" = "127.0.0.1:$new_port" ] || { wrong=$((wrong + 1)); mark="moved to an old node"; }
  fi
  printf '%-24s  %-26s  %-26s %s\n' "$key" "$before" "$after" "$mark"
done 3<"$keys" 4<"$work/before" 5<"$work/after"
echo "reload: generation $gen_before -> $gen_after; $moved of $total keys moved, all to the new node;" \
  "broker, shared memory and in-process answers agree in both generations; the Go service, started" \
  "on generation $gen_before, followed the shared memory to generation $go_gen and agrees"
[ "$gen_after" != "$gen_before" ] && [ "$wrong" -eq 0 ] && [ "$go_gen" = "$gen_after" ]
