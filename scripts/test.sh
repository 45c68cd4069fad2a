#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run): installs dependencies, builds, runs every test,
# regenerates the parity vectors from the live peers and compares them with the committed ones,
# then builds again with ASan+UBSan and runs the tests there too.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

./scripts/install-deps.sh

echo "== build (Release) =="
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSAMERING_BUILD_BENCH=ON -DSAMERING_BUILD_PERL=ON >/dev/null
cmake --build build -j "$jobs"
echo "== tests (Release) =="
(cd build && ctest --output-on-failure -j "$jobs")

echo "== fixtures: regenerate from the live peers and compare =="
fixtures/check

echo "== build (ASan+UBSan) =="
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSAMERING_SANITIZE=address,undefined \
  -DSAMERING_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j "$jobs"
echo "== tests (ASan+UBSan) =="
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j "$jobs")
echo "test.sh: all tests passed"
