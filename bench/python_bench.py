"""Python overhead of bitsmith.quantize over the C++ kernel it calls, on a 4096 x 4096 float32
matrix: the best of N calls of each, both timed in this process (the kernel by the extension
itself, around Scheme::quantize). Also the extra memory the Python call allocates (tracemalloc:
numpy copies of the input would show there). Never asserted; printed for docs/python.md.
    python3 bench/python_bench.py [--repeats N] [--schemes nvfp4,q4_k]"""
import argparse
import time
import tracemalloc

import numpy as np

import bitsmith
from bitsmith import _bitsmith as core


def best_seconds(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--schemes", default="nvfp4,q4_k")
    ap.add_argument("--size", type=int, default=4096)
    a = ap.parse_args()
    w = np.random.default_rng(0).standard_normal((a.size, a.size), dtype=np.float32)
    print(f"{a.size}x{a.size} float32 ({w.nbytes / 2**20:.0f} MiB), {bitsmith.threads()} threads, best of {a.repeats}")
    print(f"{'scheme':8} {'C++ kernel ms':>14} {'Python call ms':>15} {'overhead':>9} {'numpy peak during call':>23}")
    for scheme in a.schemes.split(","):
        bitsmith.quantize(w, scheme)  # warm up (pages, pool)
        kernel = core.kernel_seconds(w, scheme, a.repeats)
        py = best_seconds(lambda: bitsmith.quantize(w, scheme), a.repeats)
        tracemalloc.start()
        bitsmith.quantize(w, scheme)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"{scheme:8} {kernel * 1e3:14.2f} {py * 1e3:15.2f} {100 * (py - kernel) / kernel:8.2f}% {peak / 1024:19.1f} KiB")


if __name__ == "__main__":
    main()
