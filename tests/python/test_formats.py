"""formats(), cast(), decode(): equal to the CLI's JSON and to ml_dtypes."""
import numpy as np
import pytest

from conftest import from_json_number, same_record

VALUES = [0.0, -0.0, 1.0, -1.5, 3.14159265, 0.1, 447.0, 500.0, -1e6, 1e-9, 2.0 ** -9, 65504.0, 7.0, 0.25]


def test_formats_equal_cli(bitsmith, cli):
    py = bitsmith.formats()
    doc = cli("formats")["formats"]
    assert [f["name"] for f in py] == [f["name"] for f in doc]
    for a, b in zip(py, doc):
        same_record(a, b)


@pytest.mark.parametrize("fmt", ["float8_e4m3fn", "float8_e5m2", "float4_e2m1fn", "float6_e3m2fn", "bfloat16",
                                 "float16", "float8_e8m0fnu", "int4", "uint8"])
@pytest.mark.parametrize("rounding,overflow,seed", [("rne", "saturate", 0), ("rtz", "ieee", 0), ("stochastic", "saturate", 7)])
def test_cast_equals_cli(bitsmith, cli, fmt, rounding, overflow, seed):
    x = np.array(VALUES, np.float32)
    codes, values = bitsmith.cast(x, fmt, rounding=rounding, overflow=overflow, seed=seed)
    doc = cli("cast", "--to", fmt, "--rounding", rounding, "--mode", overflow, "--seed", seed, "--",
              *[repr(float(v)) for v in x])
    assert codes.shape == x.shape and values.dtype == np.float32
    assert codes.tolist() == [r["code"] for r in doc["results"]]
    expected = np.array([from_json_number(r["value"]) for r in doc["results"]], np.float64)
    np.testing.assert_array_equal(values.astype(np.float64), expected)


def test_cast_equals_ml_dtypes(bitsmith):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x = np.random.default_rng(1).standard_normal((64, 33)).astype(np.float32) * 100
    for fmt, dt in [("e4m3", ml_dtypes.float8_e4m3fn), ("e5m2", ml_dtypes.float8_e5m2), ("bf16", ml_dtypes.bfloat16),
                    ("fp4", ml_dtypes.float4_e2m1fn)]:
        # ml_dtypes casts like a plain cast: overflow ieee (NaN past e4m3's range, saturation for fp4).
        codes, values = bitsmith.cast(x, fmt, overflow="ieee")
        ref = x.astype(dt)
        width = np.uint16 if ref.dtype.itemsize == 2 else np.uint8
        ref_codes = ref.view(width) & (0xF if fmt == "fp4" else ~width(0))
        assert codes.shape == x.shape
        np.testing.assert_array_equal(codes, ref_codes, err_msg=fmt)
        np.testing.assert_array_equal(values, ref.astype(np.float32), err_msg=fmt)


def test_decode_inverts_cast_and_takes_ml_dtypes_arrays(bitsmith):
    x = np.linspace(-400, 400, 97, dtype=np.float32).reshape(1, 97)
    codes, values = bitsmith.cast(x, "e4m3")
    np.testing.assert_array_equal(bitsmith.decode(codes, "e4m3"), values)
    ml_dtypes = pytest.importorskip("ml_dtypes")
    as_fp8 = x.astype(ml_dtypes.float8_e4m3fn)
    np.testing.assert_array_equal(bitsmith.decode(as_fp8, "e4m3"), as_fp8.astype(np.float32))
    # Low-precision inputs are accepted (converted to float32 exactly first).
    bf = x.astype(ml_dtypes.bfloat16)
    np.testing.assert_array_equal(bitsmith.cast(bf, "bf16").values, bf.astype(np.float32))
    np.testing.assert_array_equal(bitsmith.cast(x.astype(np.float16), "fp16").values, x.astype(np.float16).astype(np.float32))


def test_scalars_and_float16_codes(bitsmith):
    codes, values = bitsmith.cast(np.pi, "bf16")
    assert codes.shape == () and int(codes) == 0x4049 and float(values) == 3.140625
    h = np.array([1.0, -2.5, 65504.0], np.float16)
    np.testing.assert_array_equal(bitsmith.decode(h, "fp16"), h.astype(np.float32))
    assert float(bitsmith.decode(np.uint8(0x38), "e4m3")) == 1.0


def test_format_errors(bitsmith):
    with pytest.raises(ValueError, match="e9m9"):
        bitsmith.cast(np.ones(4, np.float32), "e9m9")
    with pytest.raises(ValueError, match="rounding"):
        bitsmith.cast(np.ones(4, np.float32), "e4m3", rounding="up")
    with pytest.raises(ValueError, match="cannot hold"):
        bitsmith.decode(np.zeros(4, np.uint8), "bf16")
    with pytest.raises(ValueError, match="floating-point"):
        bitsmith.cast(np.ones(4, np.int32), "e4m3")
