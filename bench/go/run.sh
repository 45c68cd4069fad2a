#!/usr/bin/env bash
# The Go pick benchmarks (bindings-go/bench_test.go, hash_test.go, cgo/cgo_test.go) in one run,
# placed with taskset, and their table (bench/go/report.py) for bench/results/go.md:
#   bench/go/run.sh [BUILD_DIR]          (default build/; needs its bindings-go/env.sh)
# Serial benchmarks run with GOMAXPROCS=1 pinned to CPU 1; the b.RunParallel ones with
# GOMAXPROCS=2 on CPUs 0,1. COUNT (default 5) rounds of every benchmark, 1 s each (BENCHTIME):
# rounds rather than -count N, so that the two sides of every ratio are measured close together
# in time on a shared machine whose load changes. The load (uptime) is printed before and after.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
# shellcheck disable=SC1091
. "$build/bindings-go/env.sh"
count=${COUNT:-5} benchtime=${BENCHTIME:-1s}
out=$(mktemp)
bin=$(mktemp -d)
cd bindings-go
go test -c -o "$bin/samering.test" .
go test -c -o "$bin/cgo.test" ./cgo
{
  echo "# load before: $(uptime)"
  for round in $(seq "$count"); do
    echo "# round $round: serial (taskset -c 1, -cpu 1)"
    taskset -c 1 "$bin/samering.test" -test.run XXX -test.cpu 1 -test.benchtime "$benchtime" \
      -test.bench 'PickServer/(samering|gomemcache)|PickServerManyKeys|PickShm/(image|shm)|PickFlavors|Crc32'
    (cd cgo && taskset -c 1 "$bin/cgo.test" -test.run XXX -test.cpu 1 -test.benchtime "$benchtime" \
      -test.bench 'FromSpecPick')
    echo "# round $round: parallel (taskset -c 0,1, -cpu 2)"
    taskset -c 0,1 "$bin/samering.test" -test.run XXX -test.cpu 2 -test.benchtime "$benchtime" \
      -test.bench 'PickServer/parallel|PickShm/parallel'
  done
  echo "# load after: $(uptime)"
} | tee "$out"
cd ..
python3 bench/go/report.py "$out"
rm -rf "$out" "$bin"
