#!/usr/bin/env python3
"""Table of a bench/go/run.sh run: median ns/op and allocs/op per benchmark, and the ratios the
Go package's targets are stated in (docs: bench/results/go.md)."""
import re
import statistics
import sys

LINE = re.compile(r'^Benchmark(\S+?)(?:-(\d+))?\s+\d+\s+([\d.]+) ns/op(?:\s+[\d.]+ B/op\s+(\d+) allocs/op)?')


def main(path):
    runs = {}
    for line in open(path, encoding='utf-8'):
        if line.startswith('# load'):
            print(line.strip('# \n'), '  ')
        m = LINE.match(line)
        if m:
            name, procs, ns, allocs = m.group(1), m.group(2) or '1', float(m.group(3)), m.group(4)
            r = runs.setdefault((name, procs), {'ns': [], 'allocs': allocs})
            r['ns'].append(ns)
    med = {k: statistics.median(v['ns']) for k, v in runs.items()}
    print()
    print('| benchmark | GOMAXPROCS | runs | median ns/op | min–max | allocs/op |')
    print('|---|---:|---:|---:|---|---:|')
    for (name, procs), v in runs.items():
        print(f"| {name} | {procs} | {len(v['ns'])} | {med[(name, procs)]:.2f} | "
              f"{min(v['ns']):.2f}–{max(v['ns']):.2f} | {v['allocs'] if v['allocs'] is not None else '—'} |")

    def ratio(a, b, label, target=''):
        if a in med and b in med:
            print(f'| {label} | {med[a] / med[b]:.2f} | {target} |')

    print()
    print('| ratio (medians) | measured | target |')
    print('|---|---:|---|')
    for n in (10, 100, 1000):
        ratio((f'PickServer/samering-cmf-ketama/servers={n}', '1'),
              (f'PickServer/gomemcache-ServerList/servers={n}', '1'),
              f'samering / gomemcache ServerList, {n} servers, serial', '≤ 1.0')
    ratio(('PickServerManyKeys/samering-cmf-ketama/servers=1000', '1'),
          ('PickServerManyKeys/gomemcache-ServerList/servers=1000', '1'),
          'samering / gomemcache ServerList, 1000 servers, 2^20 keys (out of cache), serial', '—')
    for n in (10, 100, 1000):
        ratio((f'PickServer/parallel/samering-cmf-ketama/servers={n}', '2'),
              (f'PickServer/parallel/gomemcache-ServerList/servers={n}', '2'),
              f'samering / gomemcache ServerList, {n} servers, RunParallel on 2 cores', '≤ 1.0')
    for n in (10, 100, 1000):
        ratio((f'PickServer/parallel/samering-cmf-ketama/servers={n}', '2'),
              (f'PickServer/samering-cmf-ketama/servers={n}', '1'),
              f'samering RunParallel (2 cores) / serial, {n} servers (flat: ≤ 1; 0.5 = perfect scaling)', '≤ 1.0')
        ratio((f'PickServer/parallel/gomemcache-ServerList/servers={n}', '2'),
              (f'PickServer/gomemcache-ServerList/servers={n}', '1'),
              f'gomemcache RunParallel (2 cores) / serial, {n} servers', '—')
    for n in (10, 1000):
        ratio((f'PickShm/shm/servers={n}', '1'), (f'PickShm/image/servers={n}', '1'),
              f'shm-following / plain image pick, {n} servers, serial', '≤ 1.1')
        ratio((f'PickShm/parallel/shm/servers={n}', '2'), (f'PickShm/parallel/image/servers={n}', '2'),
              f'shm-following / plain image pick, {n} servers, RunParallel', '≤ 1.1')
        ratio((f'FromSpecPick/cgo-selector_pick/servers={n}', '1'), (f'FromSpecPick/go-PickServer/servers={n}', '1'),
              f'one cgo call per pick (selector_pick) / Go pick of the FromSpec ring, {n} servers', '—')
    ratio(('Crc32/hash-crc32', '1'), ('Crc32/samering', '1'), 'hash/crc32 / ours, 21-byte key', '> 1')


if __name__ == '__main__':
    main(sys.argv[1])
