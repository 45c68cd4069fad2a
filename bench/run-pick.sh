#!/usr/bin/env bash
# run-pick.sh — build (if needed) and run the pick benchmarks pinned to one vCPU, 5 repetitions,
# medians only; optionally count instructions per pick under callgrind. See bench/README.md.
#
#   bench/run-pick.sh                          # bench_pick, taskset -c 1, 5 reps, aggregates only
#   bench/run-pick.sh --callgrind              # ... then instructions per pick under callgrind
#   bench/run-pick.sh --callgrind-only         # only the callgrind counts (exactly repeatable)
#   bench/run-pick.sh --iterations 500000      # picks per kind under callgrind (default 200000)
#   bench/run-pick.sh -- --benchmark_filter=BM_Pick   # anything after -- goes to bench_pick
#
# Environment: BUILD_DIR (default <repo>/build-bench), CPU (default 1: the vCPU to pin to).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
build="${BUILD_DIR:-$repo/build-bench}"
cpu="${CPU:-1}"
run_bench=1
run_callgrind=0
iterations=200000
bench_args=()

while [[ $# -gt 0 ]]; do
  case "$1" in
    --callgrind) run_callgrind=1 ;;
    --callgrind-only) run_callgrind=1; run_bench=0 ;;
    --iterations) iterations="${2:?--iterations needs a number}"; shift ;;
    --iterations=*) iterations="${1#*=}" ;;
    --) shift; bench_args+=("$@"); break ;;
    -h|--help) sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) bench_args+=("$1") ;;
  esac
  shift
done
[[ "$iterations" =~ ^[1-9][0-9]*$ ]] || { echo "run-pick.sh: --iterations wants a positive integer" >&2; exit 2; }

# ---- build (incremental) ----
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSAMERING_BUILD_TESTS=OFF >/dev/null
fi
make -C "$build" -j2 bench_pick pick_count >/dev/null

pin=(taskset -c "$cpu")
if ! "${pin[@]}" true 2>/dev/null; then
  echo "run-pick.sh: taskset -c $cpu failed; running unpinned" >&2
  pin=()
fi

load() { cut -d' ' -f1 /proc/loadavg; }
if [[ $run_bench -eq 1 ]]; then
  echo "# bench_pick: ${pin[*]:-unpinned} ($(nproc) vCPUs), 5 repetitions, medians; load average $(load)"
  if awk -v l="$(load)" 'BEGIN{exit !(l > 1.0)}'; then
    echo "# WARNING: the machine is busy (1-min load $(load)): real-time figures will be noisy; compare" \
         "the cpu column, or rerun when it is idle" >&2
  fi
  "${pin[@]}" "$build/bench/bench_pick" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
    "${bench_args[@]}"
  echo "# load average at the end: $(load)"
fi

if [[ $run_callgrind -eq 1 ]]; then
  command -v valgrind >/dev/null || { echo "run-pick.sh: valgrind not installed (apt-get install valgrind)" >&2; exit 1; }
  out="$build/callgrind"
  rm -rf "$out" && mkdir -p "$out"
  echo
  echo "# callgrind: $iterations picks of each kind, instructions (Ir) per pick; setup excluded"
  "${pin[@]}" valgrind --tool=callgrind --callgrind-out-file="$out/cg.out" \
    "$build/bench/pick_count" "$iterations" 2>"$out/valgrind.log" ||
    { cat "$out/valgrind.log" >&2; exit 1; }
  # Each kind's loop is one dump: "desc: Trigger: Client Request: KIND" and "summary: IR".
  for f in "$out"/cg.out.*; do
    awk '/^part: /{p=$2} /^desc: Trigger: Client Request: /{k=$5} /^summary: /{s=$2} END{if (k!="") print p, k, s}' "$f"
  done | sort -n | awk -v n="$iterations" '
    { kind[NR]=$2; ir[NR]=$3/n; if ($2=="loop") loop=$3/n; if ($2=="crc32_samering") crc=$3/n }
    END {
      printf "%-5s %-36s %12s %12s %14s\n", "dump", "kind", "Ir/pick", "net of loop", "net / crc32";
      for (i=1; i<=NR; i++) {
        net = ir[i]-loop
        printf "%-5d %-36s %12.1f %12.1f %14s\n", i, kind[i], ir[i], net,
               (kind[i]=="loop" ? "" : sprintf("%.2f", net/(crc-loop)))
      }
    }'
  echo "# per-function breakdown of one kind: callgrind_annotate $out/cg.out.N (N = dump)"
fi
