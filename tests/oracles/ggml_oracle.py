"""ggml's own quantizers and dequantizers, called through ctypes on the built libggml-base.so.

The reference that "bit-exact with ggml" means: ``quantize`` goes through ggml's public
``ggml_quantize_chunk`` (the function llama-quantize calls), ``dequantize`` through the
``to_float`` of ggml's public type traits. Build the library first with
``scripts/peers/build_llamacpp.sh``; where it is missing every entry point raises
``SkipOracle`` (an ImportError), so tests can skip cleanly::

    import ggml_oracle
    ggml_oracle.skip_unless_available()          # pytest.skip(...) when the library is absent
    raw = ggml_oracle.quantize("q4_K", w)        # w: float32 [rows, cols], cols % 256 == 0
    back = ggml_oracle.dequantize("q4_K", raw, w.shape)

Where the library is looked for (first hit wins):
  $BITSMITH_GGML_BASE_LIB (a path to libggml-base.so),
  $BITSMITH_PEERS_DIR/build/bin/libggml-base.so,
  ~/.cache/bitsmith/llama.cpp/build/bin/libggml-base.so.

Run as a script:
  python3 tests/oracles/ggml_oracle.py              self-check (vs the gguf PyPI package)
  python3 tests/oracles/ggml_oracle.py --bench      ggml reference quantize speed, 1 thread, GB/s
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from pathlib import Path

import numpy as np

__all__ = [
    "SkipOracle", "TYPES", "available", "skip_unless_available", "library_path", "info",
    "type_id", "type_name", "block_size", "type_size", "row_size", "requires_imatrix",
    "supported_types", "quantize", "dequantize",
]


class SkipOracle(ImportError):
    """The ggml oracle cannot be used here (library not built, or type not in this ggml)."""


# ggml_type ids (ggml.h `enum ggml_type`; ids never change once assigned) and ggml's names.
# Checked against ggml_type_name() at load: a type this build does not know is left out.
TYPES: dict[str, int] = {
    "f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "q8_0": 8,
    "q2_K": 10, "q3_K": 11, "q4_K": 12, "q5_K": 13, "q6_K": 14,
    "iq2_xxs": 16, "iq2_xs": 17, "iq3_xxs": 18, "iq1_s": 19, "iq4_nl": 20, "iq3_s": 21,
    "iq2_s": 22, "iq4_xs": 23, "iq1_m": 29, "bf16": 30, "tq1_0": 34, "tq2_0": 35,
    "mxfp4": 39, "nvfp4": 40,
}
# The types the project compares against (the task list); others work too where ggml has them.
PRIMARY_TYPES = ["q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_K", "q3_K", "q4_K", "q5_K",
                 "q6_K", "iq4_nl", "mxfp4", "nvfp4"]

_DEFAULT_PEERS_DIR = Path.home() / ".cache" / "bitsmith" / "llama.cpp"


class _TypeTraits(ctypes.Structure):
    # struct ggml_type_traits in ggml.h (ggml 0.9+: has blck_size_interleave). Validated at
    # load against ggml_blck_size/ggml_type_size; on mismatch dequantize uses the exported
    # dequantize_row_<type> symbols instead.
    _fields_ = [
        ("type_name", ctypes.c_char_p),
        ("blck_size", ctypes.c_int64),
        ("blck_size_interleave", ctypes.c_int64),
        ("type_size", ctypes.c_size_t),
        ("is_quantized", ctypes.c_bool),
        ("to_float", ctypes.c_void_p),
        ("from_float_ref", ctypes.c_void_p),
    ]


_TO_FLOAT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)

_lib = None
_known: dict[int, str] = {}  # id -> ggml name, for the types this build has


def _peers_dir() -> Path:
    env = os.environ.get("BITSMITH_PEERS_DIR")
    return Path(env).expanduser() if env else _DEFAULT_PEERS_DIR


def library_path() -> Path:
    """Where libggml-base.so is expected (it may not exist)."""
    env = os.environ.get("BITSMITH_GGML_BASE_LIB")
    if env:
        return Path(env).expanduser()
    return _peers_dir() / "build" / "bin" / "libggml-base.so"


def _type_count(lib_path: Path) -> int:
    """GGML_TYPE_COUNT of the build: from the ggml.h that build_llamacpp.sh left beside it."""
    import re
    peers = lib_path.parent.parent.parent
    headers = sorted(peers.glob("src/*/vendor/llama.cpp/ggml/include/ggml.h"))
    version = info().get("llama_cpp_python_version")
    if version:  # the source the library was built from, when several were extracted
        headers = [h for h in headers if f"llama_cpp_python-{version}" in str(h)] or headers
    for header in headers:
        m = re.search(r"GGML_TYPE_COUNT\s*=\s*(\d+)", header.read_text(errors="replace"))
        if m:
            return int(m.group(1))
    return 36  # ids up to TQ2_0 (35) are in every ggml since 2024


def _load():
    global _lib
    if _lib is not None:
        return _lib
    path = library_path()
    if not path.exists():
        raise SkipOracle(f"ggml oracle: {path} not found; build it with "
                         "scripts/peers/build_llamacpp.sh (or set BITSMITH_PEERS_DIR)")
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as e:
        raise SkipOracle(f"ggml oracle: cannot load {path}: {e}") from e
    i64, sz, vp = ctypes.c_int64, ctypes.c_size_t, ctypes.c_void_p
    lib.ggml_type_name.restype = ctypes.c_char_p
    lib.ggml_type_name.argtypes = [ctypes.c_int]
    lib.ggml_blck_size.restype = i64
    lib.ggml_blck_size.argtypes = [ctypes.c_int]
    lib.ggml_type_size.restype = sz
    lib.ggml_type_size.argtypes = [ctypes.c_int]
    lib.ggml_row_size.restype = sz
    lib.ggml_row_size.argtypes = [ctypes.c_int, i64]
    lib.ggml_quantize_requires_imatrix.restype = ctypes.c_bool
    lib.ggml_quantize_requires_imatrix.argtypes = [ctypes.c_int]
    lib.ggml_quantize_init.restype = None
    lib.ggml_quantize_init.argtypes = [ctypes.c_int]
    lib.ggml_quantize_chunk.restype = sz
    lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, vp, vp, i64, i64, i64, vp]
    lib.ggml_get_type_traits.restype = ctypes.POINTER(_TypeTraits)
    lib.ggml_get_type_traits.argtypes = [ctypes.c_int]
    count = _type_count(path)
    for name, tid in TYPES.items():
        # ggml indexes its traits table without a bounds check in release builds: ask only
        # about ids below this build's GGML_TYPE_COUNT.
        if tid >= count:
            continue
        got = lib.ggml_type_name(tid)
        if got is not None and got.decode().lower() == name.lower():
            _known[tid] = name
    _lib = lib
    return lib


def available() -> bool:
    try:
        _load()
        return True
    except SkipOracle:
        return False


def skip_unless_available() -> None:
    """In a pytest test or module: skip when the oracle cannot run here."""
    if not available():
        import pytest
        pytest.skip(f"ggml oracle unavailable: {library_path()} (run scripts/peers/build_llamacpp.sh)",
                    allow_module_level=True)


def info() -> dict:
    """Versions recorded by build_llamacpp.sh (build-info.txt), plus the library path."""
    out = {"library": str(library_path())}
    f = library_path().parent.parent.parent / "build-info.txt"
    if f.exists():
        for line in f.read_text().splitlines():
            k, _, v = line.partition(": ")
            out[k] = v
    return out


def type_id(t: str | int) -> int:
    """'q4_K' / 'Q4_K' / 'q4_k' / 12 -> 12; SkipOracle when this ggml lacks the type."""
    _load()
    if isinstance(t, (int, np.integer)):
        tid = int(t)
    else:
        key = {k.lower(): v for k, v in TYPES.items()}.get(str(t).lower())
        if key is None:
            raise ValueError(f"ggml oracle: unknown type {t!r}; known: {sorted(TYPES)}")
        tid = key
    if tid not in _known:
        raise SkipOracle(f"ggml oracle: type {t!r} (id {tid}) is not in this ggml build")
    return tid


def type_name(t: str | int) -> str:
    return _known[type_id(t)]


def supported_types() -> list[str]:
    _load()
    return [_known[i] for i in sorted(_known)]


def block_size(t: str | int) -> int:
    return int(_load().ggml_blck_size(type_id(t)))


def type_size(t: str | int) -> int:
    return int(_load().ggml_type_size(type_id(t)))


def row_size(t: str | int, n_per_row: int) -> int:
    tid = type_id(t)
    if n_per_row % block_size(tid):
        raise ValueError(f"ggml oracle: row of {n_per_row} is not a multiple of "
                         f"{type_name(tid)}'s block of {block_size(tid)}")
    return int(_load().ggml_row_size(tid, n_per_row))


def requires_imatrix(t: str | int) -> bool:
    return bool(_load().ggml_quantize_requires_imatrix(type_id(t)))


def quantize(t: str | int, x, imatrix=None) -> bytes:
    """ggml_quantize_chunk over a float32 [rows, cols] array (1-D = one row).

    imatrix: None, or cols float32 importance weights (llama.cpp's per-column mean of x^2);
    with it ggml runs its weighted search (the same path llama-quantize --imatrix takes).
    Returns rows * row_size(t, cols) bytes, ggml's on-disk layout.
    """
    lib = _load()
    tid = type_id(t)
    a = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if a.ndim == 1:
        a = a.reshape(1, -1)
    if a.ndim != 2:
        raise ValueError(f"ggml oracle: expected a 2-D array, got shape {a.shape}")
    nrows, n_per_row = a.shape
    rs = row_size(tid, n_per_row)  # validates the block multiple (ggml would abort)
    imp = None
    if imatrix is not None:
        imp = np.ascontiguousarray(np.asarray(imatrix, dtype=np.float32)).reshape(-1)
        if imp.size != n_per_row:
            raise ValueError(f"ggml oracle: imatrix has {imp.size} values, rows have {n_per_row}")
    elif requires_imatrix(tid):
        raise ValueError(f"ggml oracle: {type_name(tid)} requires an imatrix")
    out = ctypes.create_string_buffer(nrows * rs)
    got = lib.ggml_quantize_chunk(tid, a.ctypes.data, out, 0, nrows, n_per_row,
                                  None if imp is None else imp.ctypes.data)
    if got != nrows * rs:
        raise RuntimeError(f"ggml oracle: ggml_quantize_chunk wrote {got} bytes, expected {nrows * rs}")
    return out.raw


_to_float_cache: dict[int, object] = {}


def _to_float(tid: int):
    fn = _to_float_cache.get(tid)
    if fn is not None:
        return fn
    lib = _load()
    tr = lib.ggml_get_type_traits(tid).contents
    layout_ok = (tr.type_name is not None and tr.type_name.decode() == _known[tid]
                 and tr.blck_size == lib.ggml_blck_size(tid)
                 and tr.type_size == lib.ggml_type_size(tid))
    if layout_ok and tr.to_float:
        fn = _TO_FLOAT(tr.to_float)
    else:  # struct layout changed: the per-type exported symbol (ggml-quants.h, GGML_API)
        sym = getattr(lib, f"dequantize_row_{_known[tid]}", None)
        if sym is None:
            raise SkipOracle(f"ggml oracle: no to_float for {_known[tid]} in this ggml")
        sym.restype = None
        sym.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        fn = sym
    _to_float_cache[tid] = fn
    return fn


def dequantize(t: str | int, data, shape) -> np.ndarray:
    """ggml's to_float for type t: bytes of rows laid out as quantize() returns -> float32 shape."""
    tid = type_id(t)
    shape = tuple(int(s) for s in (shape if isinstance(shape, (tuple, list)) else (shape,)))
    n_per_row = shape[-1]
    nrows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    raw = bytes(data) if not isinstance(data, bytes) else data
    need = nrows * row_size(tid, n_per_row)
    if len(raw) != need:
        raise ValueError(f"ggml oracle: {len(raw)} bytes for {type_name(tid)} {shape}, expected {need}")
    y = np.empty(nrows * n_per_row, dtype=np.float32)
    if tid == TYPES["f32"]:
        y[:] = np.frombuffer(raw, dtype=np.float32)
    else:
        src = ctypes.create_string_buffer(raw, len(raw))
        _to_float(tid)(ctypes.addressof(src), y.ctypes.data, y.size)
    return y.reshape(shape)


# ----------------------------------------------------------------------------- script modes

def _selfcheck() -> int:
    try:
        import gguf
        from gguf.quants import quantize as gq, dequantize as gdq
    except ImportError:
        print("selfcheck: the gguf package is missing (pip install gguf)")
        return 1
    print(f"ggml oracle: {library_path()}")
    for k, v in info().items():
        if k in ("llama_cpp_python_version", "llama_cpp_commit", "ggml_version"):
            print(f"  {k}: {v}")
    print(f"  types in this ggml: {', '.join(supported_types())}")
    rng = np.random.default_rng(1234)
    x = rng.standard_normal((32, 512)).astype(np.float32) * rng.uniform(0.01, 4, (32, 1)).astype(np.float32)
    x[0, :37] = 0.0          # an all-zero block and a zero start
    x[1, 5] = 1e4            # an outlier
    failures = 0
    GT = gguf.GGMLQuantizationType
    # Bytes: every type both ggml and the gguf package quantize must agree byte for byte.
    for name in ["q4_0", "q8_0", "q4_1", "q5_0", "q5_1", "mxfp4", "bf16", "f16", "tq1_0", "tq2_0"]:
        try:
            mine = quantize(name, x)
        except SkipOracle:
            continue
        try:
            ref = gq(x, GT[name.upper()]).tobytes()
        except (NotImplementedError, KeyError):
            continue
        ok = mine == ref
        failures += not ok
        diff = "" if ok else f" ({sum(a != b for a, b in zip(mine, ref))} bytes differ)"
        print(f"  bytes  {name:7s} ggml == gguf.quants.quantize: {'OK' if ok else 'MISMATCH'}{diff}")
    # Values: ggml's to_float vs the gguf package's numpy dequantizer, for every primary type.
    for name in PRIMARY_TYPES:
        try:
            tid = type_id(name)
        except SkipOracle:
            print(f"  values {name:7s} not in this ggml; skipped")
            continue
        imat = None
        if requires_imatrix(tid):
            imat = np.ones(x.shape[1], np.float32)
        raw = quantize(tid, x, imat)
        mine = dequantize(tid, raw, x.shape)
        try:
            ref = gdq(np.frombuffer(raw, np.uint8).reshape(x.shape[0], -1), GT(tid)).reshape(x.shape)
        except NotImplementedError:
            print(f"  values {name:7s} gguf cannot dequantize; skipped")
            continue
        err = float(np.max(np.abs(mine - ref)))
        ok = np.allclose(mine, ref, rtol=1e-6, atol=1e-6 * float(np.max(np.abs(ref)) + 1e-30))
        failures += not ok
        # Median over rows of the relative RMS error (rows 0/1 hold the zero block and outlier).
        rel = float(np.median(np.sqrt(np.mean((mine - x) ** 2, axis=1) / np.mean(x ** 2, axis=1))))
        print(f"  values {name:7s} ggml to_float vs gguf.dequantize max|diff| {err:.3g} "
              f"{'OK' if ok else 'MISMATCH'}; median row rel RMS error {rel:.4f}")
    # With an imatrix the weighted search runs: it must still round-trip and differ from RTN.
    w = (x.astype(np.float64) ** 2).mean(axis=0).astype(np.float32)
    a, b = quantize("q4_K", x), quantize("q4_K", x, w)
    print(f"  imatrix q4_K changes {sum(p != q for p, q in zip(a, b))} of {len(a)} bytes")
    print("selfcheck:", "PASS" if failures == 0 else f"FAIL ({failures})")
    return 0 if failures == 0 else 1


def _bench(argv: list[str]) -> int:
    import argparse
    p = argparse.ArgumentParser(prog="ggml_oracle.py --bench")
    p.add_argument("--bench", action="store_true")
    p.add_argument("--rows", type=int, default=64)
    p.add_argument("--cols", type=int, default=4096)
    p.add_argument("--min-time", type=float, default=1.0, help="seconds per measurement")
    p.add_argument("--types", default=",".join(PRIMARY_TYPES))
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.rows, args.cols)).astype(np.float32)
    imat = (x.astype(np.float64) ** 2).mean(axis=0).astype(np.float32) + 1e-3
    results = []

    def timed(name, im):
        quantize(name, x[:1], im)  # warm up: ggml_quantize_init tables, page faults
        n, t0 = 0, time.perf_counter()
        best = float("inf")
        while True:
            t1 = time.perf_counter()
            quantize(name, x, im)
            best = min(best, time.perf_counter() - t1)
            n += 1
            if time.perf_counter() - t0 >= args.min_time and n >= 3:
                break
        return x.nbytes / best / 1e9

    for name in [s for s in args.types.split(",") if s]:
        try:
            tid = type_id(name)
        except SkipOracle:
            continue
        plain = None if requires_imatrix(tid) else timed(name, None)
        weighted = timed(name, imat)
        results.append({"type": type_name(tid), "gbps": plain, "gbps_imatrix": weighted})
    if args.json:
        import json
        print(json.dumps({"input": [args.rows, args.cols], "threads": 1, "info": info(),
                          "results": results}, indent=1))
        return 0
    print(f"ggml_quantize_chunk, 1 thread, float32 input [{args.rows} x {args.cols}] "
          f"({x.nbytes / 2**20:.0f} MiB), best of >= {args.min_time:.1f} s; GB/s = 1e9 B of float32 in / s")
    print(f"{'type':8s} {'GB/s':>8s} {'GB/s imatrix':>13s}")
    for r in results:
        g = "n/a" if r["gbps"] is None else f"{r['gbps']:.4f}"
        print(f"{r['type']:8s} {g:>8s} {r['gbps_imatrix']:13.4f}")
    return 0


def main(argv: list[str]) -> int:
    try:
        if "--bench" in argv:
            return _bench(argv)
        return _selfcheck()
    except SkipOracle as e:
        print(f"SKIP: {e}")
        return 0 if "--strict" not in argv else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
