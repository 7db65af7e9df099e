"""GPTQ in numpy, written from the paper (Frantar et al. 2022, Algorithm 1) and the authors'
gptq.py (IST-DASLab/gptq, GPTQ.fasterquant), for integer group schemes:

  dead columns (H_ii = 0): H_ii = 1, W[:, i] = 0
  static groups (or act-order with groups, or one group per row): parameters up front from W
  act-order: columns by descending diag(H) (stable sort)
  H += percdamp * mean(diag H) * I;  Hinv = cholesky(cholesky_inverse(cholesky(H)), upper)
  for each lazy block [i1, i2) of 128 columns:
      a group starting at column i1+i takes its parameters from W[:, i1+i : i1+i+g]
      (W is updated only at block ends, so these are the values when the block starts)
      q = quant(w); err = (w - q) / Hinv[i, i]; W1[:, i:] -= outer(err, Hinv[i, i:])
      W[:, i2:] -= Err1 @ Hinv[i1:i2, i2:]

The quantizer is the integer one of REFERENCE.md (int_oracle.py: GPTQ's min/max asymmetric
rule with an fp16 scale, or the symmetric rule). Weights and updates are float32 like gptq.py;
the Hessian inverse is computed in float64.

  gptq_reference.py --check GPTQ_DUMP OUT_DIR     run bitsmith's dump, compare every config
  gptq_reference.py --bench GPTQ_DUMP OUT_DIR ROWS COLS   same on one large layer, with timings
"""
import json
import os
import subprocess
import sys
import time

try:
    import numpy as np
except ImportError:
    print("SKIP: numpy is not installed")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from int_oracle import _encode, _group_params  # noqa: E402


def parse_scheme(name):
    """int<b>_g<g>[_sym] -> (bits, group (0 = row), sym)."""
    sym = name.endswith("_sym")
    core = name[:-4] if sym else name
    bits_s, group_s = core[3:].split("_g")
    return int(bits_s), 0 if group_s == "row" else int(group_s), sym


def gptq(W, H, bits, group, sym, blocksize=128, percdamp=0.01, actorder=False, static_groups=False):
    W = np.array(W, np.float32)
    H = np.array(H, np.float64)
    rows, cols = W.shape
    gs = cols if group == 0 else group
    dead = np.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0

    def find_params(vals):
        d, z, _, _ = _group_params(vals, bits, sym, 1.0)
        return d, z

    params = {}
    static = static_groups or gs == cols or actorder
    if static:
        for gi in range(cols // gs):
            params[gi] = find_params(W[:, gi * gs:(gi + 1) * gs])
    perm = np.argsort(-np.diag(H), kind="stable") if actorder else np.arange(cols)
    W = W[:, perm]
    H = H[perm][:, perm]
    H[np.diag_indices(cols)] += percdamp * np.mean(np.diag(H))
    L = np.linalg.cholesky(H)
    Linv = np.linalg.inv(L)
    Hi = Linv.T @ Linv  # cholesky_inverse
    Hinv = np.linalg.cholesky(Hi).T.astype(np.float32)  # upper factor
    Q = np.zeros_like(W)
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        count = i2 - i1
        W1 = W[:, i1:i2].copy()
        Q1 = np.zeros_like(W1)
        Err1 = np.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]
        for i in range(count):
            col = i1 + i
            if not static and col % gs == 0:
                params[col // gs] = find_params(W[:, col:col + gs])
            d, z = params[perm[col] // gs]
            w = W1[:, i]
            _, _, q = _encode(w[:, None], d, z, bits, sym)
            q = q[:, 0]
            Q1[:, i] = q
            err1 = ((w - q) / Hinv1[i, i]).astype(np.float32)
            W1[:, i:] -= np.outer(err1, Hinv1[i, i:])
            Err1[:, i] = err1
        Q[:, i1:i2] = Q1
        W[:, i2:] -= Err1 @ Hinv[i1:i2, i2:]
    out = np.empty_like(Q)
    out[:, perm] = Q
    return out


def compare(name, ours, ref):
    same = float(np.mean(ours == ref))
    rel = float(np.linalg.norm(ours - ref) / max(np.linalg.norm(ref), 1e-30))
    return same, rel


def run_dump(exe, out_dir, extra=()):
    os.makedirs(out_dir, exist_ok=True)
    p = subprocess.run([exe, out_dir, *map(str, extra)], capture_output=True, text=True)
    if p.returncode != 0:
        print(p.stderr)
        sys.exit(1)
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]


def main():
    mode, exe, out_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    extra = sys.argv[4:6] if mode == "--bench" else ()
    configs = run_dump(exe, out_dir, extra)
    W = np.load(os.path.join(out_dir, "W.npy"))
    H = np.load(os.path.join(out_dir, "H.npy")).astype(np.float64)
    ok = True
    for c in configs:
        if mode == "--bench" and c["name"] not in ("int4_g128_act", "int4_g32"):
            continue
        bits, group, sym = parse_scheme(c["scheme"])
        t0 = time.perf_counter()
        ref = gptq(W, H, bits, group, sym, actorder=c["act_order"], static_groups=c["static_groups"])
        t_ref = time.perf_counter() - t0
        ours = np.load(os.path.join(out_dir, c["name"] + ".npy"))
        same, rel = compare(c["name"], ours, ref)
        # Float32 updates summed in another order can flip a value sitting on a rounding
        # boundary, and GPTQ propagates a flip to later columns: allow a few, bound the error.
        good = same >= 0.995 and rel < 1e-2
        ok &= good
        print(json.dumps({"name": c["name"], "shape": list(W.shape), "identical": round(same, 6),
                          "rel_err": rel, "bitsmith_s": c["seconds"], "numpy_s": round(t_ref, 4),
                          "speedup": round(t_ref / max(c["seconds"], 1e-9), 1),
                          "ok": bool(good)}))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
