"""Integer quantizers written from REFERENCE.md section 2 ("Integer group quantization") with
numpy only. All arithmetic in float32; rounding is np.round (ties to even).
  symmetric, float32 scale (int8 per row / per tensor): s = amax / 127 (0 -> 1), q = rne(x / s)
  symmetric group, fp16 scale: s = fp16(amax / qmax), qmax = 2^(b-1) - 1, q in [-qmax, qmax];
    an fp16 scale that underflows to 0 becomes 1.0 (all-zero group) or 2^-24.
  asymmetric group (GPTQ): min = min(x, 0), max = max(x, 0); all zero -> [-1, 1];
    s = fp16((max - min) / (2^b - 1)) (0 -> 2^-24), z = clamp(rne(-min / s), 0, 2^b - 1),
    q = clamp(rne(x / s) + z, 0, 2^b - 1); zero point stored as fp16; x' = (q - z) s.
Importance weights: a search over shrink ratios 1, 0.95, ..., 0.55 of the range keeping the
least weighted squared error (ties keep the earlier ratio).
"""
import numpy as np

from mx_oracle import pack_bits

F16_MIN_SUB = np.float16(2.0 ** -24)


def f16(v):
    return np.clip(np.asarray(v, np.float32), 0, 65504).astype(np.float16)


def _group_params(g, bits, sym, shrink):
    """g: [n, group] float32 -> (d float32 [n], z float32 [n], scale fp16 bits, zero fp16 bits)."""
    if sym:
        qmax = np.float32(2 ** (bits - 1) - 1)
        amax = (np.max(np.abs(g), axis=-1) * np.float32(shrink)).astype(np.float32)
        h = f16((amax / qmax).astype(np.float32))
        h = np.where(h == 0, np.where(amax == 0, np.float16(1), F16_MIN_SUB), h).astype(np.float16)
        z = np.zeros(h.shape, np.float32)
    else:
        qmax = np.float32(2 ** bits - 1)
        mn = np.minimum(np.min(g, axis=-1), np.float32(0))
        mx = np.maximum(np.max(g, axis=-1), np.float32(0))
        zero = (mn == 0) & (mx == 0)
        mn = np.where(zero, np.float32(-1), mn).astype(np.float32) * np.float32(shrink)
        mx = np.where(zero, np.float32(1), mx).astype(np.float32) * np.float32(shrink)
        h = f16(((mx - mn) / qmax).astype(np.float32))
        h = np.where(h == 0, F16_MIN_SUB, h).astype(np.float16)
        d = h.astype(np.float32)
        z = np.clip(np.round(np.clip((-mn / d).astype(np.float32), 0, qmax)), 0, qmax)
        z = z.astype(np.float32)
    return h.astype(np.float32), z, h, z.astype(np.float16)


def _encode(g, d, z, bits, sym):
    v = (g / d[:, None]).astype(np.float32)
    if sym:
        qmax = 2 ** (bits - 1) - 1
        q = np.clip(np.round(v), -qmax, qmax) + np.float32(0)  # -0 (from rounding) -> +0
        return q, (q.astype(np.int64) & 0xFF).astype(np.uint8), q * d[:, None]
    qmax = 2 ** bits - 1
    q = np.clip(np.round(v) + z[:, None], 0, qmax)
    return q, q.astype(np.uint8), ((q - z[:, None]) * d[:, None]).astype(np.float32)


def quantize_group(x, bits, group, sym, importance=None):
    """group 0 = whole row. Returns (packed codes, scale bytes, zero bytes, dequantized)."""
    x = np.asarray(x, np.float32)
    rows, cols = x.shape
    gs = cols if group == 0 else group
    g = x.reshape(rows * cols // gs, gs)
    ratios = [1.0] if importance is None else [np.float32(1) - np.float32(0.05) * np.float32(i) for i in range(10)]
    if importance is not None:
        w = np.tile(np.asarray(importance, np.float64).reshape(cols // gs, gs), (rows, 1))
    best = None
    for r in ratios:
        d, z, h, hz = _group_params(g, bits, sym, r)
        _, codes, deq = _encode(g, d, z, bits, sym)
        err = np.zeros(g.shape[0]) if importance is None else np.sum(w * (g.astype(np.float64) - deq) ** 2, axis=-1)
        if best is None:
            best = [err, codes, h, hz, deq]
            continue
        better = err < best[0]
        best[0] = np.where(better, err, best[0])
        best[1] = np.where(better[:, None], codes, best[1])
        best[2] = np.where(better, h, best[2])
        best[3] = np.where(better, hz, best[3])
        best[4] = np.where(better[:, None], deq, best[4])
    _, codes, h, hz, deq = best
    packed = pack_bits(codes.reshape(rows, cols), bits)
    zeros = np.zeros(0, np.uint8) if sym else hz.astype(np.float16).view(np.uint8).reshape(-1)
    return packed, h.astype(np.float16).view(np.uint8).reshape(-1), zeros, deq.astype(np.float32).reshape(rows, cols)


def quantize_int8(x, per_tensor):
    """int8 / int8_tensor: (codes, float32 scale bytes (empty per tensor), tensor scale, deq)."""
    x = np.asarray(x, np.float32)
    amax = np.max(np.abs(x), axis=None if per_tensor else 1, keepdims=True).astype(np.float32)
    s = (amax / np.float32(127)).astype(np.float32)
    s = np.where(s == 0, np.float32(1), s).astype(np.float32)
    q = np.clip(np.round((x / s).astype(np.float32)), -127, 127) + np.float32(0)  # no -0
    deq = (q * s).astype(np.float32)
    codes = q.astype(np.int8).view(np.uint8).reshape(-1)
    if per_tensor:
        return codes, np.zeros(0, np.uint8), np.float32(s.reshape(-1)[0]), deq
    return codes, s.reshape(-1).view(np.uint8), np.float32(1), deq
