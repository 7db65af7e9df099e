"""AWQ's scale search in numpy, written from mit-han-lab/llm-awq (awq/quantize/auto_scale.py,
_search_module_scale with get_act_scale), checked against bitsmith's awq_search_scale on one
set of linears sharing an input:

  x_max = mean over tokens of |x|                          (per input column)
  for ratio = i / 20, i = 0..19:
      s = max(x_max ^ ratio, 1e-4);  s = s / sqrt(max(s) * min(s))
      Wq = Q(W diag s) diag s^-1 for every linear of the set
      loss = sum over the linears of ||x W^T - x Wq^T||^2   (llm-awq: the mean over the output of
             the inspected module; bitsmith compares the linears' own outputs, so the oracle does)
  the first ratio with the least loss wins; its s is returned.

Q is the scheme's integer group quantizer (int_oracle.quantize_group: GPTQ's min/max asymmetric
rule with fp16 scale and zero), since bitsmith quantizes AWQ's result with the scheme's RTN
(llm-awq's pseudo_quantize_tensor is the same min/max idea without fp16 storage).

Checks per scheme: the same chosen ratio, scales within 1e-6 relative, and every grid point's
loss within 1e-4 relative (float32 products summed in another order).
Usage: awq_reference.py ALGO_ORACLE_DUMP OUT_DIR   (exit 77 when numpy is missing)
"""
import os
import sys

try:
    import numpy as np
except ImportError:
    print("SKIP: numpy is not installed")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hqq_reference import run_dump  # noqa: E402
from int_oracle import quantize_group  # noqa: E402


def search_scale(X, x_max, Ws, bits, group, grid=20):
    X = X.astype(np.float32)
    X64 = X.astype(np.float64)
    ref = [X64 @ W.astype(np.float64).T for W in Ws]
    best, best_i, best_s, losses = np.inf, -1, None, []
    for i in range(grid):
        ratio = np.float32(i) / np.float32(grid)
        s = np.maximum(np.power(x_max, ratio, dtype=np.float32), np.float32(1e-4))
        s = (s / np.sqrt(s.max() * s.min(), dtype=np.float32)).astype(np.float32)
        loss = 0.0
        for W, y0 in zip(Ws, ref):
            _, _, _, wq = quantize_group((W * s[None, :]).astype(np.float32), bits, group, False)
            y1 = (X / s[None, :]).astype(np.float64) @ wq.astype(np.float64).T
            loss += float(np.sum((y0 - y1) ** 2))
        losses.append(loss)
        if loss < best:
            best, best_i, best_s = loss, i, s
    return best_i, best_s, np.array(losses)


def main():
    r = run_dump("awq", __doc__)
    if isinstance(r, int):
        return r
    d, cases = r
    X = np.load(os.path.join(d, "X.npy"))
    x_max = np.load(os.path.join(d, "mean_abs.npy"))
    Ws = [np.load(os.path.join(d, "W0.npy")), np.load(os.path.join(d, "W1.npy"))]
    names = [c["scheme"] for c in cases]
    ok_all = bool(names)
    for name in names:
        bits, group = int(name[3]), int(name.split("_g")[1])
        p = os.path.join(d, name)
        b_best, grid = (int(v) for v in np.load(p + "_alpha.npy"))
        b_s = np.load(p + "_scales.npy")
        b_losses = np.load(p + "_losses.npy").astype(np.float64)
        i, s, losses = search_scale(X, x_max, Ws, bits, group, grid)
        s_rel = float(np.max(np.abs(b_s - s) / s))
        l_rel = float(np.max(np.abs(b_losses - losses) / losses))
        ok = b_best == i and s_rel <= 1e-6 and l_rel <= 1e-4
        ok_all &= ok
        print(f"{name}: alpha bitsmith {b_best}/{grid} numpy {i}/{grid}, scales max rel diff "
              f"{s_rel:.2e}, losses max rel diff {l_rel:.2e} (RTN {losses[0]:.6g} -> best "
              f"{losses[i]:.6g}) -> {'OK' if ok else 'FAIL'}")
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
