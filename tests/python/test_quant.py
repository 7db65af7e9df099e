"""schemes(), quantize(), fake_quantize(), error(): the same bytes as the C++ dump tool for every
listed scheme, the same JSON as the CLI, and codes/scales equal to the numpy oracles."""
import os
import subprocess

import numpy as np
import pytest

from conftest import same_record


def test_schemes_equal_cli(bitsmith, cli):
    py = bitsmith.schemes()
    doc = cli("schemes")["schemes"]
    assert [s["name"] for s in py] == [s["name"] for s in doc]
    for a, b in zip(py, doc):
        same_record(a, b)


def _weights(rows=32, cols=512, seed=3):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((rows, cols)) * rng.uniform(0.01, 2.0, (rows, 1))).astype(np.float32)


def test_every_scheme_same_bytes_as_cpp(bitsmith, dump_tool, tmp_path):
    w = _weights()
    np.save(tmp_path / "w.npy", w)
    for s in bitsmith.schemes():
        name = s["name"]
        out = str(tmp_path / name)
        p = subprocess.run([dump_tool, name, str(tmp_path / "w.npy"), out], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        q = bitsmith.quantize(w, name)
        assert q.scheme == name and q.shape == w.shape
        np.testing.assert_array_equal(q.data.reshape(-1), np.load(out + ".data.npy"), err_msg=name)
        np.testing.assert_array_equal(q._q.scale_bytes, np.load(out + ".scales.npy"), err_msg=name)
        np.testing.assert_array_equal(q._q.zero_bytes, np.load(out + ".zeros.npy"), err_msg=name)
        assert np.float32(q.tensor_scale) == np.load(out + ".tensor_scale.npy")[0], name
        deq = q.dequantize()
        np.testing.assert_array_equal(deq, np.load(out + ".deq.npy"), err_msg=name)
        np.testing.assert_array_equal(bitsmith.fake_quantize(w, name), deq, err_msg=name)
        assert q.nbytes == q.data.size + q._q.scale_bytes.size + q._q.zero_bytes.size
        assert q.bits_per_weight == pytest.approx(q.nbytes * 8 / w.size)


def test_nvfp4_codes_and_scales_equal_oracle(bitsmith):
    oracle = pytest.importorskip("nvfp4_oracle")  # needs ml_dtypes
    import ml_dtypes
    w = _weights(8, 64)
    packed, scale_bytes, S, deq = oracle.quantize(w)
    q = bitsmith.quantize(w, "nvfp4")
    np.testing.assert_array_equal(q.data.reshape(-1), packed)
    assert q.scales.dtype == ml_dtypes.float8_e4m3fn and q.scales.shape == (8, 4)
    np.testing.assert_array_equal(q.scales.view(np.uint8).reshape(-1), scale_bytes)
    assert np.float32(q.tensor_scale) == np.float32(S)
    # Per-element codes: e2m1 bit patterns, the oracle's packed nibbles unpacked by hand.
    lo, hi = packed.reshape(8, 32) & 0xF, packed.reshape(8, 32) >> 4
    np.testing.assert_array_equal(q.codes, np.stack([lo, hi], axis=-1).reshape(8, 64))
    np.testing.assert_array_equal(q.dequantize(), deq)


def test_int_codes_are_signed_and_scales_fp16(bitsmith):
    oracle = pytest.importorskip("int_oracle")
    w = _weights(4, 256)
    packed, scale_bytes, zero_bytes, deq = oracle.quantize_group(w, 4, 128, sym=True)
    q = bitsmith.quantize(w, "int4_g128_sym")
    np.testing.assert_array_equal(q.data.reshape(-1), packed)
    assert q.scales.dtype == np.float16 and q.scales.shape == (4, 2)
    np.testing.assert_array_equal(q.scales.view(np.uint8).reshape(-1), scale_bytes)
    assert q.codes.dtype == np.int8 and q.codes.min() >= -8 and q.codes.max() <= 7
    # codes x group scale is the dequantized array.
    per_elem_scale = np.repeat(q.scales.astype(np.float32), 128, axis=1)
    np.testing.assert_allclose(q.codes * per_elem_scale, q.dequantize(), rtol=0, atol=0)
    np.testing.assert_array_equal(q.dequantize(), deq)
    qa = bitsmith.quantize(w, "int4_g128")
    assert qa.zeros is not None and qa.zeros.dtype == np.float16 and qa.zeros.shape == (4, 2)
    assert qa.codes.dtype == np.uint8 and qa.codes.max() <= 15
    assert bitsmith.quantize(w, "q4_k").codes is None  # GGUF codes live inside ggml's blocks


def test_error_equals_cli(bitsmith, cli, tmp_path):
    w = _weights(16, 256)
    np.save(tmp_path / "w.npy", w)
    doc = cli("error", "--input", tmp_path / "w.npy", "--scheme", "all", "--histogram", "8")
    py = bitsmith.error(w, "all", histogram=8)
    assert [r["scheme"] for r in py] == [r["scheme"] for r in doc["results"]]
    for a, b in zip(py, doc["results"]):
        same_record(a, b)
    # Synthetic weights are the CLI's too.
    doc = cli("error", "--synthetic", "laplace", "--shape", "8x256", "--seed", "5", "--scheme", "nvfp4,q4_0")
    py = bitsmith.error(bitsmith.synthetic("laplace", (8, 256), 5), ["nvfp4", "q4_0"])
    for a, b in zip(py, doc["results"]):
        same_record(a, b)


def test_error_metrics_equal_numpy(bitsmith):
    w = _weights(8, 256)
    for rec in bitsmith.error(w, "nvfp4,int8,q4_k"):
        deq = bitsmith.fake_quantize(w, rec["scheme"]).astype(np.float64)
        d = deq - w.astype(np.float64)
        assert rec["mse"] == pytest.approx(np.mean(d * d), rel=1e-9)
        assert rec["max_abs_error"] == pytest.approx(np.max(np.abs(d)), rel=1e-12)
        assert rec["snr_db"] == pytest.approx(10 * np.log10(np.sum(w.astype(np.float64) ** 2) / np.sum(d * d)), rel=1e-9)


def test_error_reports_a_scheme_that_cannot_take_the_shape(bitsmith):
    rec = bitsmith.error(np.ones((2, 100), np.float32), ["q4_k", "fp16"])
    assert "error" in rec[0] and "256" in rec[0]["error"]
    assert rec[1]["mse"] == 0.0


def test_importance_changes_the_search_and_is_checked(bitsmith):
    w = _weights(4, 256)
    imp = np.linspace(0.01, 10, 256, dtype=np.float32)
    a = bitsmith.quantize(w, "int4_g128_sym").data
    b = bitsmith.quantize(w, "int4_g128_sym", importance=imp).data
    assert not np.array_equal(a, b)
    with pytest.raises(ValueError, match="256 values"):
        bitsmith.quantize(w, "int4_g128_sym", importance=imp[:10])
    with pytest.raises(ValueError, match="importance weight of column 3"):
        bad = imp.copy()
        bad[3] = -1
        bitsmith.quantize(w, "int4_g128_sym", importance=bad)


def test_quantize_errors_carry_the_library_message(bitsmith):
    with pytest.raises(ValueError, match="nvfp5"):
        bitsmith.quantize(np.ones((1, 16), np.float32), "nvfp5")
    with pytest.raises(ValueError, match="multiple"):
        bitsmith.quantize(np.ones((1, 100), np.float32), "nvfp4")
    w = np.ones((2, 16), np.float32)
    w[1, 5] = np.nan
    with pytest.raises(ValueError, match="row 1"):
        bitsmith.quantize(w, "nvfp4")
    q = bitsmith.quantize(w, "nvfp4", allow_nonfinite=True)
    assert np.isfinite(q.dequantize()).all()
