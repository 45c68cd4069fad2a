#!/usr/bin/env bash
# Installs what samering needs to build, test and regenerate its fixtures on Debian 12.
# Idempotent: does nothing when everything is present. Needs root (or sudo).
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libcli11-dev libxxhash-dev libyaml-dev libboost-dev zlib1g-dev libssl-dev libfmt-dev
  libmemcached-dev libhashkit-dev memcached
  # the peers the fixtures are made from (fixtures/README.md)
  libcache-memcached-fast-perl libcache-memcached-perl
  # Cache::Memcached::Fast's own test suite run against the drop-in (bindings-perl/xt/run-cmf-suite)
  libtest2-suite-perl libtest-pod-perl libtest-pod-coverage-perl libreadonly-perl libcpan-changes-perl perltidy
  golang-go golang-github-bradfitz-gomemcache-dev
  gcc libc6-dev python3 python3-pylibmc nutcracker nginx-light
  util-linux iproute2
  # the PHP and Java peers (pecl memcache, pecl memcached, spymemcached; fixtures/lib/PhpJava.pm)
  php-cli php-memcache php-memcached libspymemcached-java default-jdk-headless
  # wave 2 peers, Ruby and Python: Dalli (observed through real memcached), python-memcached, pymemcache;
  # libmurmurhash-dev: the MurmurHash3 reference the rendezvous hash is tested against (C++ and Go)
  ruby ruby-dalli python3-memcache python3-pymemcache libmurmurhash-dev
  # benchmarks and fuzzing (bench/*/run.sh, tools/fuzz.sh)
  valgrind strace gnuplot-nox clang-14 libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
