"""Compares bitsmith's nvfp4, MX and integer schemes with the numpy + ml_dtypes oracles in
tests/oracles, byte for byte (codes, scales, zero points, tensor scale) and float for float
(dequantized values). Usage: oracle_check.py PATH/TO/quant_oracle_dump. Exit 77: no numpy/ml_dtypes.
"""
import os
import subprocess
import sys
import tempfile

try:
    import ml_dtypes  # noqa: F401
    import numpy as np
except ImportError:
    print("SKIP: numpy and ml_dtypes are needed")
    sys.exit(77)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "oracles"))
import int_oracle  # noqa: E402
import mx_oracle  # noqa: E402
import nvfp4_oracle  # noqa: E402

DUMP = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="bitsmith_quant_oracle_")


def arrays():
    """Named test arrays: every rounding corner the formats have, at 64 x 256."""
    rng = np.random.default_rng(1234)
    r, c = 64, 256
    out = {"normal": rng.standard_normal((r, c)).astype(np.float32)}
    scales = np.ldexp(1.0, rng.integers(-40, 40, size=(r, 1))).astype(np.float32)
    out["magnitudes"] = (rng.standard_normal((r, c)) * scales).astype(np.float32)
    # Grid points and midpoints: multiples of 1/16 of a power of two, with a power-of-two
    # block max so scaled values land exactly on element midpoints.
    ties = (rng.integers(-96, 97, size=(r, c)) / 16.0).astype(np.float32)
    ties[:, ::16] = 6.0
    out["ties"] = (ties * np.ldexp(1.0, rng.integers(-8, 8, size=(r, 1)))).astype(np.float32)
    z = rng.standard_normal((r, c)).astype(np.float32)
    z[::3, :] = 0
    z[:, 32:64] = 0
    z[5, :] = rng.standard_normal(c).astype(np.float32) * np.float32(1e-41)  # denormals
    z[7, :] = rng.standard_normal(c).astype(np.float32) * np.float32(1e-6)   # tiny blocks
    out["zeros_denormals"] = z
    out["student_t"] = rng.standard_t(3, size=(r, c)).astype(np.float32)
    out["all_zero"] = np.zeros((8, 256), np.float32)
    out["denormal_tensor"] = (rng.standard_normal((8, 256)) * 1e-42).astype(np.float32)
    out["big"] = (rng.standard_normal((r, c)) * 1e30).astype(np.float32)
    return out


def run_dump(scheme, x, importance=None):
    path = os.path.join(TMP, "in.npy")
    np.save(path, x)
    prefix = os.path.join(TMP, "out")
    cmd = [DUMP, scheme, path, prefix]
    if importance is not None:
        wpath = os.path.join(TMP, "w.npy")
        np.save(wpath, importance.astype(np.float32))
        cmd.append(wpath)
    subprocess.run(cmd, check=True)
    load = lambda s: np.load(prefix + s)  # noqa: E731
    return (load(".data.npy"), load(".scales.npy"), load(".zeros.npy"),
            load(".tensor_scale.npy")[0], load(".deq.npy"))


failures = []


def check(label, got, want):
    g_data, g_scales, g_zeros, g_ts, g_deq = got
    w_data, w_scales, w_zeros, w_ts, w_deq = want
    problems = []
    for name, a, b in (("codes", g_data, w_data), ("scales", g_scales, w_scales),
                       ("zeros", g_zeros, w_zeros)):
        a = np.asarray(a, np.uint8).reshape(-1)
        b = np.asarray(b, np.uint8).reshape(-1)
        if a.shape != b.shape:
            problems.append(f"{name}: {a.size} bytes vs oracle {b.size}")
        elif not np.array_equal(a, b):
            i = int(np.flatnonzero(a != b)[0])
            problems.append(f"{name}: {int((a != b).sum())} bytes differ, first at {i}: {a[i]:#x} vs {b[i]:#x}")
    if np.float32(g_ts).view(np.uint32) != np.float32(w_ts).view(np.uint32):
        problems.append(f"tensor scale {g_ts!r} vs {w_ts!r}")
    if not np.array_equal(np.asarray(g_deq).view(np.uint32), np.asarray(w_deq, np.float32).view(np.uint32)):
        problems.append("dequantized values differ")
    status = "ok" if not problems else "FAIL: " + "; ".join(problems)
    print(f"{label:40s} {status}")
    if problems:
        failures.append(label)


MX = {"mxfp4": ("e2m1", "floor"), "mxfp4_rceil": ("e2m1", "rceil"), "mxfp6_e3m2": ("e3m2", "floor"),
      "mxfp6_e2m3": ("e2m3", "floor"), "mxfp8_e4m3": ("e4m3", "floor"),
      "mxfp8_e5m2": ("e5m2", "floor"), "mxint8": ("int8", "floor")}
GROUPS = {"int4_g128": (4, 128, False), "int4_g128_sym": (4, 128, True), "int2_g16": (2, 16, False),
          "int3_g32_sym": (3, 32, True), "int5_g64": (5, 64, False), "int8_g256": (8, 256, False),
          "int4_grow_sym": (4, 0, True), "int6_grow": (6, 0, False), "int7_g32_sym": (7, 32, True)}

for aname, x in arrays().items():
    p, s, ts, d = nvfp4_oracle.quantize(x)
    check(f"nvfp4/{aname}", run_dump("nvfp4", x), (p, s, np.zeros(0), ts, d))
    for scheme, (elem, rule) in MX.items():
        p, s, d = mx_oracle.quantize(x, elem, rule)
        check(f"{scheme}/{aname}", run_dump(scheme, x), (p, s, np.zeros(0), 1.0, d))
    if aname == "big":
        continue  # fp16 scales saturate at 65504 there: a documented clip, not a formula to test
    for scheme, (bits, group, sym) in GROUPS.items():
        p, s, z, d = int_oracle.quantize_group(x, bits, group, sym)
        check(f"{scheme}/{aname}", run_dump(scheme, x), (p, s, z, 1.0, d))
    for scheme, per_tensor in (("int8", False), ("int8_tensor", True)):
        p, s, ts, d = int_oracle.quantize_int8(x, per_tensor)
        check(f"{scheme}/{aname}", run_dump(scheme, x), (p, s, np.zeros(0), ts, d))

# Importance-weighted clipping search of the integer schemes.
rng = np.random.default_rng(99)
x = rng.standard_t(4, size=(32, 256)).astype(np.float32)
w = rng.uniform(0.0, 4.0, size=256).astype(np.float32)
for scheme in ("int4_g128", "int4_g128_sym", "int3_g32", "int2_grow_sym"):
    bits, group, sym = GROUPS.get(scheme) or {"int3_g32": (3, 32, False), "int2_grow_sym": (2, 0, True)}[scheme]
    p, s, z, d = int_oracle.quantize_group(x, bits, group, sym, importance=w)
    check(f"{scheme}/importance", run_dump(scheme, x, importance=w), (p, s, z, 1.0, d))

print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
