#!/usr/bin/env python3
"""Writes ml_dtypes' answers for every element format it shares with bitsmith.

The gtest tests/formats/ml_dtypes_oracle_check.cc reads the files and compares them with
bitsmith's scalar codec and array conversions. Everything here is computed by numpy and
ml_dtypes only; nothing comes from bitsmith.

Output directory (argument --out):
  inputs_f32.bin       N float32 inputs (random bit patterns, log-uniform values, specials,
                       and for every format every code value, every midpoint between adjacent
                       codes and the float32 just below and above each midpoint)
  inputs_f64.bin       M float64 inputs (for the float32 format: numpy's float64->float32 cast)
  <name>.decode.bin    float32 value of every code 0 .. 2^bits-1 (formats of 16 bits or fewer)
  <name>.cast.bin      ml_dtypes' cast of every float32 input: raw codes, 1 or 2 bytes each
                       (float32: 4-byte codes of the float64 inputs)
  manifest.txt         "inputs N M" then one "<name> <bits> <code bytes>" line per format;
                       written last (atomically), so a reader never sees half a data set.
Exits 77 (CTest's skip code) when numpy or ml_dtypes is missing.
"""
import argparse
import os
import sys

SKIP = 77

try:
    import numpy as np
    import ml_dtypes
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"SKIP: ml_dtypes oracle needs numpy and ml_dtypes ({e}); install them with scripts/setup.sh")
    sys.exit(SKIP)

# (bitsmith name, numpy/ml_dtypes type, bits). ml_dtypes has no int3/int5..int7; numpy int8/uint8
# stand in for the 8-bit integers.
FLOAT_FORMATS = [
    ("float16", np.float16, 16),
    ("bfloat16", ml_dtypes.bfloat16, 16),
    ("float8_e4m3fn", ml_dtypes.float8_e4m3fn, 8),
    ("float8_e5m2", ml_dtypes.float8_e5m2, 8),
    ("float6_e3m2fn", getattr(ml_dtypes, "float6_e3m2fn", None), 6),
    ("float6_e2m3fn", getattr(ml_dtypes, "float6_e2m3fn", None), 6),
    ("float4_e2m1fn", getattr(ml_dtypes, "float4_e2m1fn", None), 4),
    ("float8_e8m0fnu", getattr(ml_dtypes, "float8_e8m0fnu", None), 8),
]
INT_FORMATS = [
    ("int8", np.int8, 8),
    ("uint8", np.uint8, 8),
    ("int4", getattr(ml_dtypes, "int4", None), 4),
    ("uint4", getattr(ml_dtypes, "uint4", None), 4),
    ("int2", getattr(ml_dtypes, "int2", None), 2),
    ("uint2", getattr(ml_dtypes, "uint2", None), 2),
]


def code_dtype(bits):
    return np.uint8 if bits <= 8 else np.uint16


def all_code_values(dtype, bits):
    codes = np.arange(1 << bits, dtype=code_dtype(bits))
    return codes.view(dtype).astype(np.float32)


def float_probe_inputs(dtype, bits):
    """Every finite code value, every midpoint of adjacent values, and its float32 neighbours."""
    vals = all_code_values(dtype, bits).astype(np.float64)
    vals = np.unique(vals[np.isfinite(vals)])  # sorted; -0 and +0 merge
    mids = (vals[:-1] + vals[1:]) / 2  # exact in float64 for formats of 16 bits or fewer
    mids32 = mids.astype(np.float32)
    below = np.nextafter(mids32, np.float32(-np.inf))
    above = np.nextafter(mids32, np.float32(np.inf))
    top = np.float32(vals[-1])
    # Past the largest value: where the ieee mode's overflow boundary lies.
    beyond = np.array([top * 1.0625, top * 1.125, top * 1.5, top * 2, top * 4], dtype=np.float32)
    return np.concatenate([vals.astype(np.float32), mids32, below, above, beyond, -beyond])


def make_inputs(rng, n_random):
    bits = rng.integers(0, 1 << 32, size=n_random, dtype=np.uint64).astype(np.uint32)
    raw = bits.view(np.float32)  # every class: NaN payloads, Inf, huge, tiny, subnormal
    sign = np.where(rng.random(n_random) < 0.5, -1.0, 1.0)
    # Log-uniform magnitudes over the range the small formats live in (2^-30 .. 2^20).
    logu = (sign * np.exp2(rng.uniform(-30, 20, size=n_random))).astype(np.float32)
    specials = np.array(
        [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1.0, -1.0, np.pi, -np.pi,
         np.finfo(np.float32).max, -np.finfo(np.float32).max,
         np.finfo(np.float32).tiny, np.finfo(np.float32).smallest_subnormal,
         -np.finfo(np.float32).smallest_subnormal, 1e30, -1e30, 1e-30, 464.0, 465.0, 61440.0,
         65519.0, 65520.0, 2.0 ** -127, 2.0 ** -128, 3.0 * 2.0 ** 126], dtype=np.float32)
    nan_payloads = np.array([0x7F800001, 0xFF800001, 0x7FBFFFFF, 0x7FC00001, 0xFFFFFFFF, 0x7F810000],
                            dtype=np.uint32).view(np.float32)
    probes = [float_probe_inputs(t, b) for _, t, b in FLOAT_FORMATS if t is not None]
    return np.concatenate([specials, nan_payloads, *probes, raw, logu])


def cast_codes(x, dtype, bits):
    y = x.astype(dtype)
    return y.view(code_dtype(bits))  # every type here is 1 or 2 bytes, codes in the low bits


def write(path, array):
    tmp = path + ".tmp"
    array.tofile(tmp)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--random", type=int, default=1_000_000, help="random inputs per family")
    ap.add_argument("--seed", type=int, default=20240607)
    args = ap.parse_args()
    np.seterr(all="ignore")  # NaN codes and overflowing probes are the point, not accidents
    os.makedirs(args.out, exist_ok=True)
    manifest_path = os.path.join(args.out, "manifest.txt")
    if os.path.exists(manifest_path):
        os.remove(manifest_path)

    rng = np.random.default_rng(args.seed)
    x32 = make_inputs(rng, args.random)
    # float64 inputs: random doubles (bit patterns and values between float32 neighbours).
    x64 = np.concatenate([
        rng.integers(0, 1 << 63, size=args.random // 4, dtype=np.uint64).view(np.float64),
        (rng.standard_normal(args.random // 4) * np.exp2(rng.uniform(-140, 130, args.random // 4))),
        np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 3.4028235677973366e38, 3.4028235e38 * 1.0000001,
                  2.0 ** -150, 2.0 ** -150 * 1.0000001, 2.0 ** -149 * 1.5], dtype=np.float64),
    ])
    write(os.path.join(args.out, "inputs_f32.bin"), x32)
    write(os.path.join(args.out, "inputs_f64.bin"), x64)

    lines = [f"inputs {x32.size} {x64.size}"]
    write(os.path.join(args.out, "float32.cast.bin"), x64.astype(np.float32).view(np.uint32))
    lines.append("float32 32 4")
    for name, dtype, bits in FLOAT_FORMATS + INT_FORMATS:
        if dtype is None:
            print(f"note: this ml_dtypes ({ml_dtypes.__version__}) has no {name}; not compared")
            continue
        write(os.path.join(args.out, f"{name}.decode.bin"), all_code_values(dtype, bits))
        codes = cast_codes(x32, dtype, bits)
        write(os.path.join(args.out, f"{name}.cast.bin"), codes)
        lines.append(f"{name} {bits} {codes.itemsize}")

    tmp = manifest_path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, manifest_path)
    print(f"ml_dtypes {ml_dtypes.__version__}, numpy {np.__version__}: {len(lines) - 1} formats, "
          f"{x32.size} float32 and {x64.size} float64 inputs -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
