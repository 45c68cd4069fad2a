#!/usr/bin/env bash
# The Go pick benchmarks (bindings-go/bench_test.go, hash_test.go, cgo/cgo_test.go) in one run,
# placed with taskset, and their table (bench/go/report.py) for bench/results/go.md:
#   bench/go/run.sh [BUILD_DIR]          (default build/; needs its bindings-go/env.sh)
# Serial benchmarks run with GOMAXPROCS=1 pinned to CPU 1; the b.RunParallel ones with
# GOMAXPROCS=2 on CPUs 0,1. COUNT (default 5) repetitions each, 1 s per benchmark (BENCHTIME).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
# shellcheck disable=SC1091
. "$build/bindings-go/env.sh"
count=${COUNT:-5} benchtime=${BENCHTIME:-1s}
out=$(mktemp)
cd bindings-go
{
  echo "# serial: taskset -c 1, -cpu 1"
  taskset -c 1 go test -run XXX -cpu 1 -count "$count" -benchtime "$benchtime" \
    -bench 'PickServer/(samering|gomemcache)|PickShm/(image|shm)|PickFlavors|Crc32' .
  taskset -c 1 go test -run XXX -cpu 1 -count "$count" -benchtime "$benchtime" -bench 'FromSpecPick' ./cgo
  echo "# parallel: taskset -c 0,1, -cpu 2"
  taskset -c 0,1 go test -run XXX -cpu 2 -count "$count" -benchtime "$benchtime" \
    -bench 'PickServer/parallel|PickShm/parallel' .
} | tee "$out"
cd ..
python3 bench/go/report.py "$out"
rm -f "$out"
