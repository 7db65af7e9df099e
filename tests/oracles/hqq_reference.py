"""HQQ in numpy, written from mobiusml/hqq (hqq/core/optimize.py optimize_weights_proximal, the
legacy proximal solver, and hqq/core/quantize.py Quantizer.quantize's initialisation), checked
against bitsmith's hqq_quantize on the same weights.

Per group of g consecutive columns of a row (hqq reshapes W to [-1, g] and optimizes along axis 1):
  init:  s = min(qmax / (max - min), 2e4)   (inverse scale; 2e4 also for a constant group)
         z = -min * s                        (not rounded: hqq's optimizer keeps z fractional)
  repeat (at most 20 times, beta = 10, kappa = 1.01, p = 0.7):
         Wq = clamp(round(W s + z), 0, qmax);  Wr = (Wq - z) / s
         We = sign(W - Wr) relu(|W - Wr| - |W - Wr|^(p-1) / beta)
         z  = mean over the group of (Wq - (W - We) s);  beta *= kappa
         stop when mean |W - Wr| (over the tensor) is not below the best so far
         (the zero computed in that last pass is kept, as hqq returns it)
bitsmith then stores d = 1 / s and z as fp16 and encodes each value as clamp(round(w / d + z)).

Two weight sets: sd 0.02 (the shrink zeroes every error: only the zero-point mean acts) and
sd 2 (the l_p shrink is active). Checks per set and scheme: the stored scales are identical; the stored zeros are identical on >= 99% of
groups and within one fp16 step everywhere (float sums in another order); the codes are
identical on >= 99.9% of values; and the mean |W - W'| agrees within 1e-3 relative.
Usage: hqq_reference.py ALGO_ORACLE_DUMP OUT_DIR   (exit 77 when numpy is missing)
"""
import json
import os
import subprocess
import sys

try:
    import numpy as np
except ImportError:
    print("SKIP: numpy is not installed")
    sys.exit(77)


def hqq_zero_scale(W, bits, group, iters=20, lp=0.7, beta=10.0, kappa=1.01):
    """W [rows, cols] float32 -> (s, z) float32 [rows * cols / group] (inverse scale, zero)."""
    qmax = np.float32(2 ** bits - 1)
    Wg = W.reshape(-1, group).astype(np.float32)
    mn, mx = Wg.min(axis=1), Wg.max(axis=1)
    with np.errstate(divide="ignore"):
        s = np.minimum(qmax / (mx - mn), np.float32(2e4)).astype(np.float32)
    z = (-mn * s).astype(np.float32)
    best = 1e4
    for _ in range(iters):
        Wq = np.clip(np.round(Wg * s[:, None] + z[:, None]), 0, qmax).astype(np.float32)
        Wr = ((Wq - z[:, None]) / s[:, None]).astype(np.float32)
        e = Wg - Wr
        ae = np.abs(e)
        with np.errstate(divide="ignore"):
            shrunk = np.sign(e) * np.maximum(ae - np.power(ae, np.float32(lp - 1)) / np.float32(beta), 0)
        z = np.mean((Wq - (Wg - shrunk.astype(np.float32)) * s[:, None]).astype(np.float32), axis=1,
                    dtype=np.float64).astype(np.float32)
        beta = np.float32(beta * np.float32(kappa))
        err = float(np.mean(ae, dtype=np.float64))
        if err < best:
            best = err
        else:
            break
    return s, z


def check(d, set_name, name):
    W = np.load(os.path.join(d, set_name + "_W.npy"))
    bits = int(name[3])
    group = int(name.split("_g")[1])
    rows = W.shape[0]
    s, z = hqq_zero_scale(W, bits, group)
    d16 = (np.float32(1) / s).astype(np.float16).reshape(rows, -1)
    z16 = z.astype(np.float16).reshape(rows, -1)
    p = os.path.join(d, set_name + "_" + name)
    b_d = np.load(p + "_scale.npy")
    b_z = np.load(p + "_zero.npy")
    deq = np.load(p + "_deq.npy")
    qmax = 2 ** bits - 1
    dd = np.repeat(d16.astype(np.float32), group, axis=1)
    zz = np.repeat(z16.astype(np.float32), group, axis=1)
    codes = np.clip(np.round(W / dd + zz), 0, qmax)
    bdd = np.repeat(b_d.astype(np.float32), group, axis=1)
    bzz = np.repeat(b_z.astype(np.float32), group, axis=1)
    b_codes = np.round(deq / bdd + bzz)
    ref_deq = (codes - zz) * dd
    scale_same = np.array_equal(b_d.view(np.uint16), d16.view(np.uint16))
    zero_same = float(np.mean(b_z.view(np.uint16) == z16.view(np.uint16)))
    step = np.abs(z16.astype(np.float32)) * np.float32(2 ** -10) + np.float32(2 ** -24)
    zero_close = bool(np.all(np.abs(b_z.astype(np.float32) - z16.astype(np.float32)) <= step * 1.01))
    code_same = float(np.mean(codes == b_codes))
    err_b = float(np.mean(np.abs(W - deq)))
    err_r = float(np.mean(np.abs(W - ref_deq)))
    ok = scale_same and zero_same >= 0.99 and zero_close and code_same >= 0.999 and \
        abs(err_b - err_r) <= 1e-3 * err_r
    print(f"{set_name} {name}: scales identical {scale_same}, zeros identical {100 * zero_same:.2f}% "
          f"(all within 1 fp16 step: {zero_close}), codes identical {100 * code_same:.3f}%, "
          f"mean|W-W'| bitsmith {err_b:.6g} numpy {err_r:.6g} -> {'OK' if ok else 'FAIL'}")
    return ok


def run_dump(mode, doc):
    """Runs `algo_oracle_dump MODE OUT_DIR` from argv; returns (out dir, JSON lines) or an exit code."""
    if len(sys.argv) != 3:
        print(doc)
        return 2
    os.makedirs(sys.argv[2], exist_ok=True)
    out = subprocess.run([sys.argv[1], mode, sys.argv[2]], capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stdout + out.stderr)
        return 1
    return sys.argv[2], [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def main():
    r = run_dump("hqq", __doc__)
    if isinstance(r, int):
        return r
    d, cases = r
    results = [check(d, c["set"], c["scheme"]) for c in cases]
    return 0 if results and all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
