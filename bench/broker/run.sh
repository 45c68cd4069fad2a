#!/usr/bin/env bash
# bench/broker/run.sh — the broker benchmarks, every figure a ratio to a floor measured in the
# same run, with the vCPU placement (taskset) stated next to it. Writes bench/results/broker.md
# (the table), broker.jsonl (every raw result) and broker-clients.png (latency vs clients).
#
#   bench/broker/run.sh                # build (Release) if needed, then everything (~10 minutes)
#   bench/broker/run.sh --quick        # fewer round trips, 1–100 clients only (~40 s)
#   bench/broker/run.sh --soak [SECS]  # memory soak (default 600 s, broker_soak): writes
#                                      # bench/results/soak.md; exit 1 when the broker's RSS grows
#                                      # more than SOAK_MAX_GROWTH_KIB (4096) after the warm-up
#
# Floors: broker_raw_server (a minimal epoll ping-pong server on the same AF_UNIX stream socket,
# answering each frame with a canned reply of the same size), driven by the same load tool and
# client code (broker_load, BrokerSelector); json_server + connect-per-call JSON is the old way.
# Environment: BUILD_DIR (default <repo>/build-bench), SERVER_CPU (0), OTHER_CPU (1), REPS (3) and
# CLIENT_REPS (2): the repetitions whose medians are reported. Run it on an otherwise idle machine: on 2 vCPUs any other
# load moves every cross-process figure.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="${BUILD_DIR:-$repo/build-bench}"
scpu="${SERVER_CPU:-0}"
ocpu="${OTHER_CPU:-1}"
quick=0
[[ "${1:-}" == "--quick" ]] && quick=1
soak=0
if [[ "${1:-}" == "--soak" ]]; then soak=1; soak_s="${2:-600}"; fi
rtt_n=50000; reps="${REPS:-3}"; client_counts=(1 10 100 1000)
client_reps="${CLIENT_REPS:-2}"
if [[ $quick == 1 ]]; then rtt_n=10000; reps=1; client_reps=1; client_counts=(1 10 100); fi

tools=(gnuplot python3 strace taskset); [[ $soak == 1 ]] && tools=(python3 taskset)
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || { echo "run.sh: needs $tool (scripts/install-deps.sh)" >&2; exit 1; }
done
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSAMERING_BUILD_TESTS=OFF >/dev/null
fi
bin="$build/bench/broker"
broker="$build/broker/samering-broker"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

if [[ $soak == 1 ]]; then
  # The broker on SERVER_CPU, the load on OTHER_CPU; the spec is rewritten by broker_soak.
  cmake --build "$build" -j "$(nproc)" --target samering-broker broker_soak >/dev/null
  echo '{"flavor": "cmf", "servers": [{"host": "10.0.0.1", "port": 11211}]}' >"$work/spec.json"
  {
    echo "Machine: $(nproc) vCPUs, Linux $(uname -r), $(date -u +%Y-%m-%d). Placement: samering-broker on vCPU $scpu"
    echo "(\`taskset -c $scpu\`), broker_soak and its workers on vCPU $ocpu (\`taskset -c $ocpu\`)."
    echo "Load average at the start: $(cut -d' ' -f1-3 /proc/loadavg). Busiest other processes at the start:"
    echo
    echo '```'
    ps -eo pid,ni,pcpu,rss,args --sort=-pcpu | head -4 | cut -c1-150
    echo '```'
  } >"$work/notes.md"
  taskset -c "$scpu" "$broker" --socket "$work/broker.sock" --ring main="$work/spec.json" --shm-dir "$work/shm" \
    --shm-grace 1 --quiet --idle-timeout 0 --max-connections 8192 2>"$work/broker.log" & pids+=($!)
  for _ in $(seq 200); do [[ -S "$work/broker.sock" ]] && break; sleep 0.02; done
  cmd=(taskset -c "$ocpu" "$bin/broker_soak" --socket "$work/broker.sock" --spec "$work/spec.json"
       --broker-pid "${pids[0]}" --seconds "$soak_s" --max-growth-kib "${SOAK_MAX_GROWTH_KIB:-4096}")
  echo "== memory soak, $soak_s s: ${cmd[*]}" >&2
  rc=0
  "${cmd[@]}" >"$work/soak.jsonl" || rc=$?
  results="$repo/bench/results"
  mkdir -p "$results"
  python3 "$here/soak_report.py" "$work/soak.jsonl" "$results/soak.md" \
    "bench/broker/run.sh --soak $soak_s   # runs: ${cmd[*]//$work/\$WORK}" "$work/notes.md"
  echo "run.sh: wrote $results/soak.md (broker_soak exit $rc)" >&2
  exit "$rc"
fi

cmake --build "$build" -j "$(nproc)" --target samering-broker broker_load broker_raw_server broker_json_server >/dev/null
[[ -x "$bin/broker_load" ]] || { echo "run.sh: $bin/broker_load missing: is bench/broker added in bench/CMakeLists.txt?" >&2; exit 1; }

# A 10-server CMF ketama ring (crc32 key hash, 160 points per server).
python3 - "$work/spec.json" <<'PY'
import json, sys
servers = [{"host": "10.0.0.%d" % (i + 1), "port": 11211} for i in range(10)]
json.dump({"flavor": "cmf", "options": {"ketama_points": 160}, "servers": servers}, open(sys.argv[1], "w"))
PY

taskset -c "$scpu" "$broker" --socket "$work/broker.sock" --ring main="$work/spec.json" --shm-dir "$work/shm" \
  --quiet --max-connections 8192 --idle-timeout 0 & pids+=($!)
taskset -c "$scpu" "$bin/broker_raw_server" "$work/raw.sock" & pids+=($!)
taskset -c "$scpu" "$bin/broker_json_server" "$work/json.sock" "$work/spec.json" & pids+=($!)
broker_pid=${pids[0]}
for s in broker raw json; do
  for _ in $(seq 200); do [[ -S "$work/$s.sock" ]] && break; sleep 0.02; done
done
sleep 0.2

out="$work/results.jsonl"
tag() { python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); d.update(json.loads(sys.argv[1])); print(json.dumps(d))' "$1"; }

echo "== 1 client, persistent, PICK and PICK_MANY(100): server cpu $scpu, client cpu $scpu (same) / $ocpu (cross)" >&2
for place in same cross; do
  ccpu=$scpu; [[ $place == cross ]] && ccpu=$ocpu
  for rep in $(seq "$reps"); do
    for server in broker raw; do
      taskset -c "$ccpu" "$bin/broker_load" rtt --socket "$work/$server.sock" --n "$rtt_n" |
        tag "{\"server\": \"$server\", \"place\": \"$place\", \"rep\": $rep}" >>"$out"
    done
    taskset -c "$ccpu" "$bin/broker_load" rtt --socket "$work/broker.sock" --n $((rtt_n / 5)) --batch 100 |
      tag "{\"server\": \"broker\", \"place\": \"$place\", \"rep\": $rep}" >>"$out"
  done
done

echo "== syscalls per request in the broker (strace -c -p while one client does 20,000 PICKs)" >&2
strace -c -f -o "$work/strace-broker.txt" -p "$broker_pid" & spid=$!
sleep 0.5
taskset -c "$scpu" "$bin/broker_load" rtt --socket "$work/broker.sock" --n 20000 >/dev/null
kill -INT "$spid"; wait "$spid" 2>/dev/null || true

echo "== forked clients x 1000 picks: server cpu $scpu; clients cpus $scpu,$ocpu (shared) and cpu $ocpu (cross)" >&2
# shared: 1–1,000 clients; cross (every request pays a cross-vCPU wake-up, ~40 µs here): 1 and 10.
for place in shared cross; do
  ccpus=$ocpu; counts=(1 10)
  [[ $place == shared ]] && { ccpus="$scpu,$ocpu"; counts=("${client_counts[@]}"); }
  for c in "${counts[@]}"; do
    for rep in $(seq "$client_reps"); do  # alternate the servers, so that a busy moment hits all of them
      for server in broker raw json; do
        flag=(); [[ $server == json ]] && flag=(--json)
        taskset -c "$ccpus" "$bin/broker_load" clients --socket "$work/$server.sock" --clients "$c" --picks 1000 "${flag[@]}" |
          tag "{\"server\": \"$server\", \"place\": \"$place\", \"rep\": $rep}" >>"$out"
      done
    done
  done
done

echo "== shm vs local pick (in process, client cpu $ocpu) and syscalls of shm picks" >&2
for rep in $(seq "$reps"); do
  taskset -c "$ocpu" "$bin/broker_load" inproc --shm "$work/shm" --spec "$work/spec.json" | tag "{\"rep\": $rep}" >>"$out"
done
for n in 100000 10000000; do
  strace -c -f -o "$work/strace-shm-$n.txt" taskset -c "$ocpu" "$bin/broker_load" shm-loop --shm "$work/shm" --n "$n" >/dev/null
done

results="$repo/bench/results"
mkdir -p "$results"
cp "$out" "$results/broker.jsonl"
python3 "$here/report.py" "$out" "$work" "$results" "$scpu" "$ocpu" "$(nproc)" "$(uname -r)"
echo "run.sh: wrote $results/broker.md and $results/broker-clients.png" >&2
