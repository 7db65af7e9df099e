"""Python overhead of bitsmith.quantize over the C++ kernel it calls, on a 4096 x 4096 float32
matrix: both timed in this process, interleaved (one kernel call, one Python call, N rounds) so
that a busy machine slows both alike, best of N each. The kernel is timed by the extension itself
around Scheme::quantize. Also the memory the Python call allocates through numpy (tracemalloc: a
copy of the input would show there). Never asserted; printed for docs/python.md.
    python3 bench/python_bench.py [--repeats N] [--schemes nvfp4,q4_k] [--threads T]"""
import argparse
import time
import tracemalloc

import numpy as np

import bitsmith
from bitsmith import _bitsmith as core


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--schemes", default="nvfp4,q4_k")
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=0, help="library threads (0 = every core)")
    a = ap.parse_args()
    bitsmith.set_threads(a.threads)
    w = np.random.default_rng(0).standard_normal((a.size, a.size), dtype=np.float32)
    print(f"{a.size}x{a.size} float32 ({w.nbytes / 2**20:.0f} MiB), {bitsmith.threads()} threads, "
          f"best of {a.repeats} interleaved rounds")
    print(f"{'scheme':8} {'C++ kernel ms':>14} {'Python call ms':>15} {'overhead':>9} {'numpy allocations in the call':>30}")
    for scheme in a.schemes.split(","):
        bitsmith.quantize(w, scheme)  # warm up (pages, pool)
        kernel = py = float("inf")
        for _ in range(a.repeats):
            kernel = min(kernel, core.kernel_seconds(w, scheme, 1))
            t0 = time.perf_counter()
            bitsmith.quantize(w, scheme)
            py = min(py, time.perf_counter() - t0)
        tracemalloc.start()
        bitsmith.quantize(w, scheme)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"{scheme:8} {kernel * 1e3:14.2f} {py * 1e3:15.2f} {100 * (py - kernel) / kernel:8.2f}% "
              f"{peak / 1024:22.1f} KiB peak")
    # The fixed cost of a call (argument checks, wrapping the result), where the kernel's own time
    # is tiny: one 16 x 256 tensor, best of many calls.
    small = w[:16, :256].copy()
    for scheme in a.schemes.split(","):
        kernel = core.kernel_seconds(small, scheme, 2000)
        py = float("inf")
        for _ in range(2000):
            t0 = time.perf_counter()
            bitsmith.quantize(small, scheme)
            py = min(py, time.perf_counter() - t0)
        print(f"{scheme:8} 16x256: kernel {kernel * 1e6:.1f} us, Python call {py * 1e6:.1f} us: "
              f"{(py - kernel) * 1e6:.1f} us per call")


if __name__ == "__main__":
    main()
