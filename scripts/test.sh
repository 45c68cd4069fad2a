#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run): installs dependencies, builds, runs every test,
# regenerates the parity vectors from the live peers and compares them with the committed ones,
# then builds again with ASan+UBSan and runs the tests there too, runs the broker and client
# integration tests under ThreadSanitizer, and gives each libFuzzer target (tests/fuzz/) a short
# bounded run with ASan+UBSan and each Go fuzz target (bindings-go) a run of the same length
# (SAMERING_FUZZ_SECONDS, default 45 s per target). The Go tests (go vet, go test, go test -race)
# are part of the Release and ASan ctest runs (label go).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

./scripts/install-deps.sh

echo "== build (Release) =="
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSAMERING_BUILD_BENCH=ON -DSAMERING_BUILD_PERL=ON \
  -DSAMERING_BUILD_BROKER=ON -DSAMERING_BUILD_CLIENT=ON -DSAMERING_BUILD_TESTS=ON >/dev/null
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

echo "== build (TSan: broker and client) =="
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSAMERING_SANITIZE=thread \
  -DSAMERING_BUILD_BENCH=OFF -DSAMERING_BUILD_PERL=OFF -DSAMERING_BUILD_GO=OFF >/dev/null
# The suites labelled broker or client, as tests/CMakeLists.txt lists them at configure time.
tsan_targets=$(cat build-tsan/test-targets-broker.txt build-tsan/test-targets-client.txt)
# shellcheck disable=SC2086
cmake --build build-tsan -j "$jobs" --target samering-broker $tsan_targets
echo "== tests (TSan: broker and client) =="
(cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
  ctest -L 'broker|client' --output-on-failure -j "$jobs")

echo "== fuzz: every target for ${SAMERING_FUZZ_SECONDS:-45} s (ASan+UBSan) =="
tools/fuzz.sh --seconds "${SAMERING_FUZZ_SECONDS:-45}"
echo "== fuzz: the Go image parser and broker reply parsers for ${SAMERING_FUZZ_SECONDS:-45} s each =="
# shellcheck disable=SC1091
(. build/bindings-go/env.sh && cd bindings-go &&
  for target in FuzzFromImage FuzzBrokerReplies; do
    go test -run XXX -fuzz "^$target\$" -fuzztime "${SAMERING_FUZZ_SECONDS:-45}s" . || exit 1
  done)
echo "test.sh: all tests passed"
