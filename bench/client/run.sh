#!/usr/bin/env bash
# run.sh — bench_client in both placements, 5 interleaved repetitions each, medians and ratios
# samering / libmemcached computed from the same run. See bench/client/README.md.
#
#   bench/client/run.sh                 # same vCPU, then cross vCPU
#   bench/client/run.sh same            # only one placement: same | cross
#   bench/client/run.sh both -- --benchmark_min_time=1   # anything after -- goes to bench_client
#   bench/client/run.sh callgrind       # instructions per operation (user space), exactly repeatable
#
# Placement: "same" pins the bench and memcached (-t 1) to vCPU $CPU (default 1); "cross" pins the
# bench to $CPU and memcached to the other vCPU ($OTHER_CPU, default 0).
# Environment: BUILD_DIR (default <repo>/build-bench; configured if missing), BENCH (path of an
# already built bench_client, skips the build).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="${BUILD_DIR:-$repo/build-bench}"
cpu="${CPU:-1}"
other="${OTHER_CPU:-0}"
placement="both"
bench_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    same|cross|both|callgrind) placement="$1" ;;
    --) shift; bench_args+=("$@"); break ;;
    -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

bench="${BENCH:-}"
if [[ -z "$bench" ]]; then
  if [[ ! -f "$build/CMakeCache.txt" ]]; then
    cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSAMERING_BUILD_TESTS=OFF >/dev/null
  fi
  make -C "$build" -j2 bench_client client_count >/dev/null
  bench="$(find "$build" -name bench_client -type f -perm -u+x | head -1)"
fi
[[ -x "$bench" ]] || { echo "run.sh: bench_client not found" >&2; exit 1; }
count="${COUNT:-$(dirname "$bench")/client_count}"

load() { cut -d' ' -f1 /proc/loadavg; }

run() {  # $1: placement name, $2: memcached vCPU
  local json
  json="$(mktemp)"
  echo "# $1 vCPU: bench on vCPU $cpu, memcached (-t 1) on vCPU $2; $(nproc) vCPUs; load average $(load)"
  SAMERING_BENCH_MEMCACHED_CPU="$2" taskset -c "$cpu" "$bench" --benchmark_repetitions=5 \
    --benchmark_enable_random_interleaving=true --benchmark_format=json "${bench_args[@]}" >"$json"
  python3 - "$json" <<'PY'
import json, statistics, sys
by = {}
for r in json.load(open(sys.argv[1]))["benchmarks"]:
    if r.get("run_type") == "iteration":
        by.setdefault(r["run_name"].replace("/real_time", ""), []).append(r)
print(f"unpaired: each benchmark on its own, medians of {len(next(iter(by.values())))} repetitions")
print(f"{'benchmark':30} {'ops/s':>10} {'keys/s':>11} {'cpu us/op':>10}")
for op in ("BM_Get", "BM_Set", "BM_GetMulti100"):
    ops = {}
    for who in ("samering", "libmemcached"):
        rows = by.get(f"{op}/{who}")
        if not rows:
            continue
        ops[who] = statistics.median(r["ops/s"] for r in rows)
        keys = statistics.median(r["items_per_second"] for r in rows)
        cpu_us = statistics.median(r["cpu_time"] for r in rows) / 1000.0  # time_unit is ns
        print(f"{op + '/' + who:30} {ops[who]:10,.0f} {keys:11,.0f} {cpu_us:10.2f}")
    if len(ops) == 2:
        print(f"{'  ratio samering/libmemcached':30} {ops['samering'] / ops['libmemcached']:10.3f}")
print()
print(f"{'paired (same iterations)':30} {'samering us':>12} {'libmemc. us':>12} {'ratio(med)':>11} {'ratio(mean)':>12}")
for op in ("get", "set", "get_multi100"):
    rows = by.get(f"BM_Paired/{op}")
    if not rows:
        continue
    med = lambda k: statistics.median(r[k] for r in rows)
    print(f"{'BM_Paired/' + op:30} {med('samering_us'):12.2f} {med('libmemcached_us'):12.2f} "
          f"{med('ratio_median'):11.3f} {med('ratio_mean'):12.3f}")
print("(us: median time per op; ratio = libmemcached time / samering time, i.e. samering's relative rate)")
PY
  echo "# load average at the end: $(load)"
  rm -f "$json"
}

callgrind() {
  command -v valgrind >/dev/null || { echo "run.sh: valgrind not installed" >&2; exit 1; }
  [[ -x "$count" ]] || { echo "run.sh: client_count not found" >&2; exit 1; }
  local port pid out n=200
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  if [[ $(id -u) -eq 0 ]]; then memcached -u nobody -l 127.0.0.1 -p "$port" -U 0 -t 1 & else memcached -l 127.0.0.1 -p "$port" -U 0 -t 1 & fi
  pid=$!
  trap 'kill $pid 2>/dev/null' RETURN
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.05; done
  out="$(mktemp -d)"
  echo "# callgrind: user-space instructions per operation ((6n - n operations) / 5n, n = $n)"
  printf '%-10s %14s %16s %8s\n' kind samering libmemcached ratio
  for kind in get set multi; do
    local ir=()
    for who in samering libmemcached; do
      local a b
      for k in 1 6; do
        valgrind --tool=callgrind --callgrind-out-file="$out/cg.$who.$k" "$count" "$port" "${kind}_$who" $((n * k)) \
          >/dev/null 2>"$out/log" || { cat "$out/log" >&2; exit 1; }
      done
      a=$(awk '/^summary:/{print $2}' "$out/cg.$who.1")
      b=$(awk '/^summary:/{print $2}' "$out/cg.$who.6")
      ir+=($(( (b - a) / (5 * n) )))
    done
    printf '%-10s %14s %16s %8s\n' "$kind" "${ir[0]}" "${ir[1]}" "$(awk -v a="${ir[0]}" -v b="${ir[1]}" 'BEGIN{printf "%.3f", a/b}')"
  done
  echo "(multi: 100 keys per operation)"
  rm -rf "$out"
}

[[ "$placement" == callgrind ]] && { callgrind; exit 0; }
[[ "$placement" == same || "$placement" == both ]] && run same "$cpu"
[[ "$placement" == cross || "$placement" == both ]] && run cross "$other"
exit 0
