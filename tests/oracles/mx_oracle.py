"""OCP Microscaling (MX v1.0) quantizer written from REFERENCE.md section 2 with numpy + ml_dtypes.

Independent of bitsmith: ml_dtypes does every element rounding (round to nearest even); the
shared exponent comes from np.frexp, which is exact. Blocks of 32 along the row.
  floor rule (spec):  e = floor(log2 amax) - emax_elem, clamped to [-127, 127]; amax 0 -> -127
  rceil rule (NVIDIA): e = ceil(log2(float32(amax / max_elem)))
Elements: x / 2^e, saturated to +-max_elem, cast RNE. MXINT8: round(x / 2^e * 64) clamped to
[-127, 127] (element value code * 2^-6). Scale byte = e + 127 (e8m0).
"""
import ml_dtypes
import numpy as np

# name -> (ml_dtypes type or None for int8, bits, max, emax)
ELEMENTS = {
    "e2m1": (ml_dtypes.float4_e2m1fn, 4, 6.0, 2),
    "e3m2": (ml_dtypes.float6_e3m2fn, 6, 28.0, 4),
    "e2m3": (ml_dtypes.float6_e2m3fn, 6, 7.5, 2),
    "e4m3": (ml_dtypes.float8_e4m3fn, 8, 448.0, 8),
    "e5m2": (ml_dtypes.float8_e5m2, 8, 57344.0, 15),
    "int8": (None, 8, 127.0 / 64.0, 0),
}


def pack_bits(codes, bits):
    """Packs each row of uint8 codes low bits first into a little-endian bit stream."""
    codes = np.asarray(codes, dtype=np.uint8)
    rows, n = codes.shape
    bitmat = ((codes[:, :, None] >> np.arange(bits, dtype=np.uint8)) & 1).reshape(rows, n * bits)
    pad = (-bitmat.shape[1]) % 8
    bitmat = np.concatenate([bitmat, np.zeros((rows, pad), np.uint8)], axis=1)
    return np.packbits(bitmat, axis=1, bitorder="little").reshape(-1)


def float_codes(v, dtype, vmax):
    """RNE cast with saturation: clipping first is the same as saturating after rounding."""
    return np.clip(v, -vmax, vmax).astype(dtype).view(np.uint8)


def floor_log2(a):
    _, ex = np.frexp(a)  # a = m * 2^ex, m in [0.5, 1)
    return ex.astype(np.int64) - 1


def ceil_log2(a):
    m, ex = np.frexp(a)
    return np.where(m == 0.5, ex - 1, ex).astype(np.int64)


def quantize(x, elem, rule="floor"):
    """Returns (packed codes, scale bytes, dequantized float32) for a 2-D float32 array."""
    dtype, bits, vmax, emax = ELEMENTS[elem]
    x = np.asarray(x, np.float32)
    rows, cols = x.shape
    blocks = x.reshape(rows, cols // 32, 32)
    amax = np.max(np.abs(blocks), axis=-1)
    if rule == "floor":
        e = np.where(amax == 0, -127, floor_log2(np.where(amax == 0, 1, amax)) - emax)
    else:
        v = (amax / np.float32(vmax)).astype(np.float32)
        e = np.where(v == 0, -127, ceil_log2(np.where(v == 0, 1, v)))
    e = np.clip(e, -127, 127)
    shift = 6 if dtype is None else 0
    d = np.ldexp(np.float32(1), e - shift).astype(np.float32)
    v = (blocks / d[..., None]).astype(np.float32)
    if dtype is None:
        q = np.clip(np.round(v), -127, 127).astype(np.int8)
        codes = q.view(np.uint8)
        values = q.astype(np.float32)
    else:
        codes = float_codes(v, dtype, vmax)
        values = codes.view(dtype).astype(np.float32)
    deq = (values * d[..., None]).astype(np.float32).reshape(rows, cols)
    packed = pack_bits(codes.reshape(rows, cols), bits)
    return packed, (e + 127).astype(np.uint8).reshape(-1), deq
