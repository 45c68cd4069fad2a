#!/usr/bin/env python3
"""report.py RESULTS.jsonl WORKDIR OUTDIR SERVER_CPU OTHER_CPU NPROC KERNEL — called by run.sh:
turns broker_load's JSON lines and the strace -c summaries into bench/results/broker.md and
broker-clients.png (gnuplot)."""
import json, os, re, statistics, subprocess, sys, datetime

path, work, outdir, scpu, ocpu, nproc, kernel = sys.argv[1:8]
rows = [json.loads(l) for l in open(path) if l.strip()]

def med(xs):
    return statistics.median(xs) if xs else float("nan")

def pick(**kw):
    return [r for r in rows if all(r.get(k) == v for k, v in kw.items())]

def ok(flag):
    return "yes" if flag else "**NO**"

lines = []
w = lines.append
w("# samering-broker benchmark")
w("")
w("Made by `bench/broker/run.sh` on %s (%s vCPUs, Linux %s). Every ratio compares two figures of the same run. "
  "Placement: the servers (samering-broker, raw floor, JSON server) run on vCPU %s (`taskset -c %s`); "
  "**same** = the client on that vCPU too, **cross** = the client on vCPU %s, **shared** = clients on both vCPUs. "
  "Ring: CMF ketama, 10 servers, 160 points each (crc32 key hash)." % (datetime.date.today(), nproc, kernel, scpu, scpu, ocpu))
w("")
w("Floor (**raw**): `broker_raw_server`, a minimal single-threaded epoll (level-triggered) server on the same AF_UNIX "
  "stream socket that answers each frame with a canned reply of the same size, driven by the same load tool and the same "
  "client code (`BrokerSelector`). **json**: a new connection and a JSON line per pick (`broker_json_server`), the old way.")
w("")

# 1. one client
w("## One client, persistent connection (median of the repetitions' p50 / p99, µs)")
w("")
w("| placement | broker PICK p50 | raw p50 | ratio (target ≤ 1.3) | broker p99 | raw p99 | PICK_MANY(100) p50 | ÷ PICK p50 (target ≤ 2) |")
w("|---|---|---|---|---|---|---|---|")
for place in ("same", "cross"):
    b = pick(mode="rtt", server="broker", place=place, batch=1)
    r = pick(mode="rtt", server="raw", place=place, batch=1)
    m = pick(mode="rtt", server="broker", place=place, batch=100)
    if not b or not r:
        continue
    bp50, rp50 = med([x["p50_us"] for x in b]), med([x["p50_us"] for x in r])
    bp99, rp99 = med([x["p99_us"] for x in b]), med([x["p99_us"] for x in r])
    mp50 = med([x["p50_us"] for x in m])
    label = "same (client cpu %s)" % scpu if place == "same" else "cross (client cpu %s)" % ocpu
    w("| %s | %.1f | %.1f | %.2f %s | %.1f | %.1f | %.1f | %.2f %s |" % (
        label, bp50, rp50, bp50 / rp50, ok(bp50 / rp50 <= 1.3), bp99, rp99, mp50, mp50 / bp50, ok(mp50 / bp50 <= 2)))
w("")

# 2. forked clients
w("## Forked clients × 1,000 picks each (all started together)")
w("")
w("p50 / p99 in µs over every pick; throughput in picks/s (total picks ÷ wall time); each cell the median of the "
  "repetitions (servers alternated). Ratios: broker ÷ raw at the same concurrency and placement (targets: "
  "throughput ≥ 0.8, p99 ≤ 1.5).")
w("")
w("| placement | clients | broker p50 | p99 | picks/s | raw p50 | p99 | picks/s | thr. ratio | p99 ratio | json p50 | p99 | picks/s | errors |")
w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
plot = {}
for place in ("shared", "cross"):
    for c in sorted({r["clients"] for r in rows if r.get("mode") in ("clients", "clients-json")}):
        def agg(server, mode):
            rs = pick(mode=mode, server=server, place=place, clients=c)
            if not rs:
                return None
            return {"p50_us": med([x["p50_us"] for x in rs]), "p99_us": med([x["p99_us"] for x in rs]),
                    "throughput": med([x["throughput"] for x in rs]), "errors": sum(x["errors"] for x in rs)}
        b, r, j = agg("broker", "clients"), agg("raw", "clients"), agg("json", "clients-json")
        if not b or not r:
            continue
        j = j or {"p50_us": float("nan"), "p99_us": float("nan"), "throughput": float("nan"), "errors": 0}
        tr, pr = b["throughput"] / r["throughput"], b["p99_us"] / r["p99_us"]
        label = "cross (clients cpu %s)" % ocpu if place == "cross" else "shared (clients cpus %s,%s)" % (scpu, ocpu)
        w("| %s | %d | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.2f %s | %.2f %s | %.0f | %.0f | %.0f | %d/%d/%d |" % (
            label, c, b["p50_us"], b["p99_us"], b["throughput"], r["p50_us"], r["p99_us"], r["throughput"],
            tr, ok(tr >= 0.8), pr, ok(pr <= 1.5), j["p50_us"], j["p99_us"], j["throughput"],
            b["errors"], r["errors"], j["errors"]))
        plot.setdefault(place, []).append((c, b["p50_us"], r["p50_us"], j["p50_us"], b["p99_us"], r["p99_us"], j["p99_us"]))
w("")
w("(errors: broker / raw / json)")
w("")
fair = [r for r in rows if r.get("mode") == "clients" and r.get("place") == "shared" and r["clients"] >= 10
        and "client_mean_min_us" in r]
if fair:
    w("Fairness, shared placement: each client's mean latency over its picks (µs), fastest / median / slowest "
      "client, median of the repetitions. A server that serves its ready connections in turn gives every "
      "client about the same mean (slowest ÷ fastest near 1).")
    w("")
    w("| clients | broker fastest | median | slowest | slowest ÷ fastest | raw fastest | median | slowest | slowest ÷ fastest |")
    w("|---|---|---|---|---|---|---|---|---|")
    for c in sorted({r["clients"] for r in fair}):
        cells = []
        for server in ("broker", "raw"):
            rs = [r for r in fair if r["server"] == server and r["clients"] == c]
            lo, mid, hi = (med([x[k] for x in rs]) for k in ("client_mean_min_us", "client_mean_p50_us", "client_mean_max_us"))
            cells.append("%.0f | %.0f | %.0f | %.2f" % (lo, mid, hi, hi / lo))
        w("| %d | %s | %s |" % (c, cells[0], cells[1]))
    w("")

# 3. shm vs local
inproc = pick(mode="inproc")
if inproc:
    a = min(x["local_ring_ns"] for x in inproc)
    s = min(x["shm_selector_ns"] for x in inproc)
    cl = min(x["c_local_ns"] for x in inproc)
    cs = min(x["c_shm_ns"] for x in inproc)
    w("## Shared-memory pick vs local pick (in process, vCPU %s, best of the repetitions, ns per pick)" % ocpu)
    w("")
    w("| API | local | shm | ratio (target ≤ 1.2) |")
    w("|---|---|---|---|")
    w("| C++ (`Ring::pick` / `ShmSelector::pick`) | %.1f | %.1f | %.2f %s |" % (a, s, s / a, ok(s / a <= 1.2)))
    w("| C (`selector_pick` on a local / a shm selector) | %.1f | %.1f | %.2f %s |" % (cl, cs, cs / cl, ok(cs / cl <= 1.2)))
    w("")

def strace_total(f):
    try:
        text = open(f).read()
    except OSError:
        return None, ""
    m = re.search(r"^\s*100\.00\s+\S+\s+\S+\s+(\d+)\s+(?:\d+\s+)?total", text, re.M)
    return (int(m.group(1)) if m else None), text

n1, _ = strace_total(os.path.join(work, "strace-shm-100000.txt"))
n2, t2 = strace_total(os.path.join(work, "strace-shm-10000000.txt"))
w("## System calls")
w("")
if n1 is not None and n2 is not None:
    w("`strace -c -f` of `broker_load shm-loop` (C shm selector): %d syscalls for 100,000 picks, %d for 10,000,000 "
      "picks: the picks themselves make **%s** system calls (the rest is process start-up and mapping). "
      "`tests/broker` also runs 200,000 shm picks under seccomp strict mode (any syscall kills the process)." % (
          n1, n2, "no" if n1 == n2 else "%d extra" % (n2 - n1)))
    w("")
nb, tb = strace_total(os.path.join(work, "strace-broker.txt"))
if nb is not None:
    w("Broker side, `strace -c -f -p` while one client makes 20,000 PICK round trips: %d syscalls, %.2f per request:" % (nb, nb / 20000.0))
    w("")
    w("```")
    w(tb.strip())
    w("```")
    w("")

open(os.path.join(outdir, "broker.md"), "w").write("\n".join(lines) + "\n")

# plot: latency vs clients
for place, pts in plot.items():
    with open(os.path.join(work, "plot-%s.dat" % place), "w") as f:
        for p in pts:
            f.write(" ".join(str(x) for x in p) + "\n")
gp = """set terminal pngcairo size 1100,520 font ",10"
set output "%s"
set multiplot layout 1,2 title "samering-broker: latency vs forked clients (1,000 picks each; servers on vCPU %s)"
set logscale xy
set xlabel "clients"
set ylabel "latency per pick (us)"
set key top left
set grid
""" % (os.path.join(outdir, "broker-clients.png"), scpu)
for place in ("shared", "cross"):
    if place not in plot:
        continue
    d = os.path.join(work, "plot-%s.dat" % place)
    title = "clients on vCPU %s" % ocpu if place == "cross" else "clients on vCPUs %s,%s" % (scpu, ocpu)
    gp += 'set title "%s"\n' % title
    gp += ('plot "{d}" u 1:2 w lp lw 2 pt 7 t "broker p50", "{d}" u 1:5 w lp dt 2 pt 7 t "broker p99", '
           '"{d}" u 1:3 w lp lw 2 pt 5 t "raw floor p50", "{d}" u 1:6 w lp dt 2 pt 5 t "raw floor p99", '
           '"{d}" u 1:4 w lp lw 2 pt 9 t "connect+JSON p50", "{d}" u 1:7 w lp dt 2 pt 9 t "connect+JSON p99"\n').format(d=d)
gp += "unset multiplot\n"
subprocess.run(["gnuplot"], input=gp.encode(), check=True)
print("\n".join(lines))
