"""NVFP4 quantizer written from REFERENCE.md section 2 (TensorRT Model Optimizer's rules) with
numpy + ml_dtypes, all arithmetic in float32 as ModelOpt does:
  S   = amax(tensor) / (6 * 448)
  s_b = e4m3_rne(amax(block of 16) / (6 * S)), saturated at 448; a scale rounding to 0 -> 1.0
  q   = e2m1_rne_saturate(x / (s_b * S)); decoded x' = q * (s_b * S)
bitsmith rule (documented): a tensor with amax < 2^-126 quantizes to zeros (scales 1.0).
Codes packed two per byte, element 2j in the low nibble.
"""
import ml_dtypes
import numpy as np

from mx_oracle import float_codes, pack_bits

E4M3 = ml_dtypes.float8_e4m3fn
E2M1 = ml_dtypes.float4_e2m1fn
ONE_E4M3 = 0x38  # 1.0


def quantize(x, group_amax=None):
    """Returns (packed codes, scale bytes, tensor scale S, dequantized float32). group_amax: the
    amax of the fused group x belongs to (q/k/v, gate/up), which then sets S instead of x's own."""
    x = np.asarray(x, np.float32)
    rows, cols = x.shape
    blocks = x.reshape(rows, cols // 16, 16)
    amax = np.float32(np.max(np.abs(x))) if x.size else np.float32(0)
    if group_amax is not None:
        amax = max(amax, np.float32(group_amax))
    S = np.float32(amax / np.float32(2688.0))
    if amax < np.float32(2.0 ** -126):
        sc = np.full(blocks.shape[:2], ONE_E4M3, np.uint8)
        codes = np.zeros(blocks.shape, np.uint8)
        deq = np.zeros_like(x)
        return pack_bits(codes.reshape(rows, cols), 4), sc.reshape(-1), S, deq
    bamax = np.max(np.abs(blocks), axis=-1)
    sb = (bamax / (np.float32(6.0) * S)).astype(np.float32)
    sc = float_codes(sb, E4M3, 448.0).copy()
    sc[sc == 0] = ONE_E4M3
    d = (sc.view(E4M3).astype(np.float32) * S).astype(np.float32)
    v = (blocks / d[..., None]).astype(np.float32)
    codes = float_codes(v, E2M1, 6.0)
    deq = (codes.view(E2M1).astype(np.float32) * d[..., None]).astype(np.float32)
    return pack_bits(codes.reshape(rows, cols), 4), sc.reshape(-1), S, deq.reshape(rows, cols)
