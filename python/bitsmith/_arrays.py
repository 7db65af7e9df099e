"""Array conversions at the edge of the package: what the C++ side receives is always a
C-contiguous float32 (or integer code) numpy array, and every copy made to get there is made
here, in plain sight."""
from __future__ import annotations

import numpy as np

# ml_dtypes' low-precision floats (and numpy's float16/float64) convert to float32 exactly;
# their names, so ml_dtypes stays optional.
_FLOAT_NAMES = {"float16", "float64", "bfloat16", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz",
                "float8_e5m2fnuz", "float8_e4m3b11fnuz", "float8_e8m0fnu", "float6_e3m2fn",
                "float6_e2m3fn", "float4_e2m1fn", "float8_e3m4", "float8_e4m3"}


def _contiguous(x: np.ndarray) -> np.ndarray:
    """x itself when C-contiguous (np.ascontiguousarray would also turn a 0-d array into 1-d)."""
    return x if x.flags.c_contiguous else np.ascontiguousarray(x)


def as_float32(x, what: str = "x", allow_scalar: bool = False) -> np.ndarray:
    """x as a C-contiguous float32 array: no copy when it is one already (a read-only array
    stays read-only and is only read); float16, float64 and ml_dtypes floats are converted
    (a copy); a non-contiguous view is copied into a contiguous one. Torch CPU tensors come in
    through __array__ / DLPack without a copy."""
    if not isinstance(x, np.ndarray) and hasattr(x, "__dlpack__"):
        try:  # torch, jax, cupy...: a CPU tensor is shared, not copied
            x = np.from_dlpack(x)
        except (TypeError, RuntimeError, BufferError):
            pass  # e.g. a tensor that requires grad: __array__ below says why
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except Exception as e:  # e.g. a CUDA tensor, or a tensor that requires grad
            raise ValueError(f"{what}: cannot view {type(x).__name__} as a numpy array: {e}") from None
    if x.dtype != np.float32:
        if x.dtype.name not in _FLOAT_NAMES:
            raise ValueError(f"{what}: expected a floating-point array (float32, float16, float64, "
                             f"bfloat16 or float8), got {x.dtype}")
        x = x.astype(np.float32)
    if x.ndim == 0 and not allow_scalar:
        raise ValueError(f"{what}: expected an array of 1 or more dimensions, got a scalar")
    return _contiguous(x)


def as_codes(codes) -> np.ndarray:
    """Codes as a C-contiguous unsigned integer array: integer arrays as they are, ml_dtypes
    arrays (bfloat16, float8_*) reinterpreted as their bit patterns."""
    codes = np.asarray(codes)
    if codes.dtype.kind in "ui":
        return _contiguous(codes)
    if codes.dtype.name in _FLOAT_NAMES and codes.dtype.itemsize <= 2:  # float16, bfloat16, float8/6/4
        return _contiguous(codes).view(np.uint8 if codes.dtype.itemsize == 1 else np.uint16)
    raise ValueError(f"codes: expected an integer array (uint8, uint16, uint32), a float16 or an ml_dtypes array, "
                     f"got {codes.dtype}")


def scale_dtype(name: str):
    """The numpy dtype of a scheme's scale format: float16/float32, and ml_dtypes' bfloat16,
    float8_e4m3fn and float8_e8m0fnu when ml_dtypes is installed (their raw codes otherwise)."""
    if name in ("float16", "float32"):
        return np.dtype(name)
    try:
        import ml_dtypes
        return np.dtype(getattr(ml_dtypes, name))
    except (ImportError, AttributeError):
        return None
