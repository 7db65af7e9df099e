"""What goes in: dtypes, shapes, contiguity, read-only arrays, torch tensors; no hidden copy of a
large float32 input (peak memory measured); threads."""
import threading
import time
import tracemalloc

import numpy as np
import pytest


def test_dtype_and_shape_errors(bitsmith):
    with pytest.raises(ValueError, match="floating-point"):
        bitsmith.quantize(np.ones((4, 32), np.int64), "nvfp4")
    with pytest.raises(ValueError, match="floating-point"):
        bitsmith.quantize(np.ones((4, 32), np.complex64), "nvfp4")
    with pytest.raises(ValueError, match="floating-point"):
        bitsmith.quantize([["a", "b"]], "nvfp4")
    with pytest.raises(ValueError, match="scalar"):
        bitsmith.quantize(np.float32(1.0), "nvfp4")
    with pytest.raises(ValueError):
        bitsmith.quantize(np.ones((3, 17), np.float32), "mxfp4")  # 17 is no multiple of 32


def test_empty_and_degenerate_arrays_raise_or_work_but_never_crash(bitsmith):
    for shape in [(0, 16), (16, 0), (0,), (1, 0, 16)]:
        try:
            q = bitsmith.quantize(np.zeros(shape, np.float32), "q8_0")
            assert q.nbytes == 0 and q.dequantize().shape == shape
        except ValueError:
            pass
        assert bitsmith.cast(np.zeros(shape, np.float32), "e4m3").codes.shape == shape


def test_shapes_keep_their_layout(bitsmith):
    w = np.random.default_rng(0).standard_normal((2, 3, 64)).astype(np.float32)
    q = bitsmith.quantize(w, "nvfp4")
    assert (q.rows, q.cols) == (6, 64) and q.dequantize().shape == (2, 3, 64)
    np.testing.assert_array_equal(q.dequantize().reshape(6, 64), bitsmith.quantize(w.reshape(6, 64), "nvfp4").dequantize())
    assert q.codes.shape == (2, 3, 64)
    v = bitsmith.quantize(w[0, 0], "q8_0")  # 1-D: one row
    assert (v.rows, v.cols) == (1, 64)


def test_non_contiguous_and_read_only_arrays(bitsmith):
    base = np.random.default_rng(1).standard_normal((64, 128)).astype(np.float32)
    view = base.T  # Fortran order: a contiguous copy is made in Python, same result as the copy
    assert not view.flags.c_contiguous
    np.testing.assert_array_equal(bitsmith.quantize(view, "q8_0").data,
                                  bitsmith.quantize(np.ascontiguousarray(view), "q8_0").data)
    strided = base[:, ::2]
    np.testing.assert_array_equal(bitsmith.fake_quantize(strided, "nvfp4"),
                                  bitsmith.fake_quantize(strided.copy(), "nvfp4"))
    ro = base.copy()
    ro.flags.writeable = False
    q = bitsmith.quantize(ro, "nvfp4")
    np.testing.assert_array_equal(q.data, bitsmith.quantize(base, "nvfp4").data)
    assert not q.data.flags.writeable  # a view of the stored bytes


def test_float64_and_float16_are_converted(bitsmith):
    w = np.random.default_rng(2).standard_normal((8, 64))
    np.testing.assert_array_equal(bitsmith.quantize(w, "nvfp4").data, bitsmith.quantize(w.astype(np.float32), "nvfp4").data)
    h = w.astype(np.float16)
    np.testing.assert_array_equal(bitsmith.quantize(h, "nvfp4").data, bitsmith.quantize(h.astype(np.float32), "nvfp4").data)


def test_results_outlive_the_quantized_tensor(bitsmith):
    q = bitsmith.quantize(np.ones((4, 64), np.float32), "nvfp4")
    data, scales = q.data, q.scales
    expected = data.copy()
    del q
    import gc
    gc.collect()
    np.testing.assert_array_equal(data, expected)
    assert scales.shape == (4, 4)


def test_torch_tensors_without_copy(bitsmith):
    torch = pytest.importorskip("torch")
    from bitsmith._arrays import as_float32
    t = torch.randn(16, 64)
    np.testing.assert_array_equal(bitsmith.quantize(t, "nvfp4").data, bitsmith.quantize(t.numpy(), "nvfp4").data)
    assert as_float32(t).ctypes.data == t.data_ptr()  # the tensor's own memory goes in
    with pytest.raises(ValueError, match="requires grad"):
        bitsmith.quantize(torch.randn(4, 16, requires_grad=True), "nvfp4")


def _peak_traced_bytes(fn):
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _vm_hwm_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


def _reset_hwm():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


@pytest.mark.parametrize("scheme", ["nvfp4", "q4_k"])
def test_large_quantize_makes_no_copy_of_the_input(bitsmith, scheme):
    w = np.random.default_rng(3).standard_normal((4096, 4096), dtype=np.float32)  # 64 MiB
    # numpy allocations (a hidden astype/ascontiguousarray) show in tracemalloc: none for float32 ...
    assert _peak_traced_bytes(lambda: bitsmith.quantize(w, scheme)) < w.nbytes // 8
    # ... while a float64 input must be converted, and the measurement sees that copy.
    w64 = w[:1024].astype(np.float64)
    assert _peak_traced_bytes(lambda: bitsmith.quantize(w64, scheme)) >= w64.size * 4
    # The process's peak resident memory grows by the output, not by another input-sized buffer.
    if not _reset_hwm():
        pytest.skip("cannot reset the peak RSS (/proc/self/clear_refs)")
    import gc
    gc.collect()
    before = _vm_hwm_bytes()
    q = bitsmith.quantize(w, scheme)
    growth = _vm_hwm_bytes() - before
    assert growth < q.nbytes + w.nbytes // 2, f"peak RSS grew {growth} bytes for an output of {q.nbytes}"


def test_thread_count_does_not_change_results_and_threads_run_concurrently(bitsmith):
    w = np.random.default_rng(4).standard_normal((256, 1024)).astype(np.float32)
    before = bitsmith.threads()
    try:
        bitsmith.set_threads(1)
        one = {s: bitsmith.quantize(w, s).data.copy() for s in ("nvfp4", "q4_k", "int4_g128", "mxfp4")}
        bitsmith.set_threads(4)
        assert bitsmith.threads() == 4
        four = {s: bitsmith.quantize(w, s).data.copy() for s in one}
    finally:
        bitsmith.set_threads(before)
    for s in one:
        np.testing.assert_array_equal(one[s], four[s], err_msg=s)
    # Python threads calling in at once (the GIL is released inside): each gets the same bytes.
    results, errors = {}, []

    def work(i, scheme):
        try:
            results[i] = bitsmith.quantize(w, scheme).data.copy()
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)
    jobs = [threading.Thread(target=work, args=(i, s)) for i, s in enumerate(list(one) * 2)]
    for j in jobs:
        j.start()
    for j in jobs:
        j.join()
    assert not errors
    for i, s in enumerate(list(one) * 2):
        np.testing.assert_array_equal(results[i], one[s], err_msg=s)
    with pytest.raises(ValueError):
        bitsmith.set_threads(-1)


def test_the_gil_is_released_while_quantizing(bitsmith):
    # While another thread is inside a long quantize call, this thread keeps running Python. Were the
    # GIL held, this thread could run no bytecode from the call's start until it returned: its
    # timestamps would show one gap about as long as the call.
    w = np.random.default_rng(5).standard_normal((4096, 4096), dtype=np.float32)
    span, started = [], threading.Event()
    before = bitsmith.threads()

    def work():
        t0 = time.perf_counter()
        started.set()
        bitsmith.quantize(w, "q4_k")
        span.extend([t0, time.perf_counter()])
    bitsmith.set_threads(1)  # leave a core to this thread
    try:
        t = threading.Thread(target=work)
        t.start()
        started.wait()
        stamps = []
        while t.is_alive():
            stamps.append(time.perf_counter())
        t.join()
    finally:
        bitsmith.set_threads(before)
    t0, t1 = span
    if t1 - t0 < 0.05:
        pytest.skip(f"the call took {1e3 * (t1 - t0):.0f} ms: too short to tell")
    longest_gap = float(np.max(np.diff([t0, *stamps])))
    assert longest_gap < (t1 - t0) / 2, f"this thread stood still {1e3 * longest_gap:.0f} ms of a {1e3 * (t1 - t0):.0f} ms call"
