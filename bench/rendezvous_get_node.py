"""pymemcache 3.5.2's own RendezvousHash.get_node, for context next to BM_Pick/rendezvous/N.

Run with Debian's interpreter, pinned like bench_pick:  taskset -c 1 /usr/bin/python3 bench/rendezvous_get_node.py
Prints microseconds per get_node at 3, 10 and 64 nodes (the servers and 20-byte keys of bench_pick:
"10.0.0.i:11211", "user:" + 15 characters).
"""
import random
import timeit

from pymemcache.client.rendezvous import RendezvousHash


def main():
    rng = random.Random(1)
    keys = ["user:" + "".join(rng.choice("0123456789abcdefghijklmnopqrstuvwxyz") for _ in range(15)) for _ in range(512)]
    for n in (3, 10, 64):
        h = RendezvousHash()
        for i in range(n):
            h.add_node("10.0.%d.%d:11211" % (i // 250, i % 250 + 1))
        runs = max(20, 6000 // n)
        t = min(timeit.repeat(lambda: [h.get_node(k) for k in keys], number=max(1, runs // 100), repeat=5))
        per = t / (max(1, runs // 100) * len(keys))
        print("pymemcache get_node/%d: %.1f us per key" % (n, per * 1e6))


if __name__ == "__main__":
    main()
