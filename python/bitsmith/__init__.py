"""bitsmith from Python: number formats, quantization schemes, model files and their memory, over
numpy arrays. Everything here calls bitsmith's C++ library (the same code as the `bitsmith` CLI)
and returns the data the CLI's --json prints, as Python lists and dicts.

    import numpy as np, bitsmith
    w = np.random.randn(256, 256).astype(np.float32)
    q = bitsmith.quantize(w, "nvfp4")
    q.codes, q.scales, q.tensor_scale, q.bits_per_weight, q.dequantize()

Arrays: a C-contiguous float32 array goes in without a copy; float16/float64/ml_dtypes arrays and
non-contiguous views are converted first (a copy). Errors raise ValueError (bad arguments or
values) or OSError (files), with the library's message. Heavy calls release the GIL.
"""
from __future__ import annotations

import builtins
from collections import namedtuple
from typing import Callable, Iterable, Optional, Sequence, Union

import numpy as np

try:
    from . import _bitsmith as _core
except ImportError as _e:  # the source folder python/bitsmith, imported from python/ itself
    raise ImportError(f"bitsmith: the extension module is missing beside {__file__}: this is the source tree; "
                      "install the package (pip install ./python) and import it from another directory") from _e
from ._arrays import as_codes, as_float32, scale_dtype

__version__ = "0.1.0"
__all__ = ["formats", "schemes", "cast", "decode", "quantize", "fake_quantize", "error", "synthetic",
           "QuantizedTensor", "open", "Model", "memory", "quantize_model", "evaluate", "compare", "EvalProgress",
           "advise", "devices", "set_threads", "threads"]

CastResult = namedtuple("CastResult", ["codes", "values"])
Progress = namedtuple("Progress", ["index", "count", "name", "bytes_done", "bytes_total"])


def formats() -> list[dict]:
    """Every element format and its properties, one record each (`bitsmith formats --json`)."""
    return _core.formats()


def schemes() -> list[dict]:
    """Every listed quantization scheme and its traits (`bitsmith schemes --json`)."""
    return _core.schemes()


def set_threads(n: int) -> None:
    """Threads of the library's pool (0 = every core). Results never depend on it."""
    _core.set_threads(n)


def threads() -> int:
    """Threads of the library's pool."""
    return _core.threads()


def cast(x, format: str, rounding: str = "rne", overflow: str = "saturate", seed: int = 0) -> CastResult:
    """Encodes x in an element format (`bitsmith cast`): (codes, values), both of x's shape.
    codes are uint8/uint16/uint32 by the format's width; values the decoded float32.
    rounding: rne, rtz or stochastic (element i draws from (seed, i)); overflow: saturate or ieee."""
    a = as_float32(x, allow_scalar=True)
    codes, values = _core.cast(a.reshape(-1) if a.ndim == 0 else a, format, rounding, overflow, seed)
    return CastResult(codes.reshape(a.shape), values.reshape(a.shape))


def decode(codes, format: str) -> np.ndarray:
    """The float32 values of codes in a format (integer codes, or an ml_dtypes array's bits)."""
    return _core.decode(as_codes(codes), format)


def _unpack(data: np.ndarray, rows: int, cols: int, bits: int, signed: bool) -> np.ndarray:
    """Per-element codes from rows of packed codes: a little-endian bit stream per row (code i in
    bits [i*bits, (i+1)*bits)), each row starting on a byte boundary; signed codes sign-extended."""
    if bits in (8, 16, 32):
        out = data.reshape(rows, -1).view({8: np.uint8, 16: np.uint16, 32: np.uint32}[bits])[:, :cols]
    else:
        row_bits = np.unpackbits(data.reshape(rows, -1), axis=1, bitorder="little")[:, : cols * bits]
        weights = (1 << np.arange(bits, dtype=np.uint16)).astype(np.uint16)
        out = (row_bits.reshape(rows, cols, bits).astype(np.uint16) * weights).sum(axis=2).astype(np.uint8)
    if signed:
        signed_type = {8: np.int8, 16: np.int16, 32: np.int32}[out.dtype.itemsize * 8]
        out = out.astype(signed_type) if bits < 8 else out.view(signed_type)
        if bits < 8:
            out = np.where(out >= (1 << (bits - 1)), out - (1 << bits), out).astype(np.int8)
    return np.asarray(out)


class QuantizedTensor:
    """A tensor in a scheme: what `quantize` returns.

    data:         the packed bytes as stored (rows of packed codes; ggml's blocks for GGUF types)
    codes:        one code per element, x's shape (integers sign-extended); None for GGUF types,
                  whose codes live inside their blocks (see data)
    scales:       the block/group/row scales in the scale format's dtype (float16, float32, or
                  ml_dtypes float8_e4m3fn / float8_e8m0fnu; their uint8 codes without ml_dtypes)
    zeros:        zero points (float16) of asymmetric integer schemes, else None
    tensor_scale: the second-level float32 scale (nvfp4, per-tensor fp8/int8), else 1
    bits_per_weight, nbytes: everything stored (codes, scales, zero points), for this shape
    """

    def __init__(self, q, shape):
        self._q = q
        self.shape = tuple(shape)
        self.scheme = q.scheme
        self.traits = _core.scheme_traits(q.scheme)

    @property
    def rows(self) -> int:
        return self._q.rows

    @property
    def cols(self) -> int:
        return self._q.cols

    @property
    def tensor_scale(self) -> float:
        return self._q.tensor_scale

    @property
    def nbytes(self) -> int:
        return self._q.nbytes

    @property
    def bits_per_weight(self) -> float:
        n = self.rows * self.cols
        return self.nbytes * 8.0 / n if n else 0.0

    @property
    def data(self) -> np.ndarray:
        d = self._q.data
        return d.reshape(self.rows, -1) if self.rows and d.size % self.rows == 0 else d

    @property
    def codes(self) -> Optional[np.ndarray]:
        t = self.traits
        if t["granularity"] == "gguf":
            return None
        name, bits, is_int = _core.find_format(t["element_format"])
        signed = is_int and not name.startswith("u")
        return _unpack(self._q.data, self.rows, self.cols, bits, signed).reshape(self.shape)

    def _blocks(self, raw: np.ndarray, dtype) -> np.ndarray:
        a = raw.view(dtype) if dtype is not None else raw
        block_rows = max(int(self.traits.get("block_rows", 1)), 1)
        groups = -(-self.rows // block_rows)
        if self.traits["granularity"] in ("group", "block2d", "row") and groups and a.size % groups == 0:
            return a.reshape(groups, -1)
        return a

    @property
    def scales(self) -> Optional[np.ndarray]:
        raw = self._q.scale_bytes
        if raw.size == 0:
            return None
        fmt = self.traits["scale_format"]
        width = raw.size // max(self._n_scale_blocks(), 1)
        dtype = np.dtype(np.float32) if width == 4 else scale_dtype(fmt)
        if dtype is not None and raw.size % dtype.itemsize:
            dtype = None
        return self._blocks(raw, dtype)

    def _n_scale_blocks(self) -> int:
        t = self.traits
        if t["granularity"] == "row":
            return self.rows
        if t["granularity"] == "group":
            cols = int(t["block_cols"]) or self.cols
            return self.rows * -(-self.cols // cols)
        if t["granularity"] == "block2d":
            return -(-self.rows // int(t["block_rows"])) * -(-self.cols // int(t["block_cols"]))
        return 1

    @property
    def zeros(self) -> Optional[np.ndarray]:
        raw = self._q.zero_bytes
        return None if raw.size == 0 else self._blocks(raw, np.dtype(np.float16))

    def dequantize(self) -> np.ndarray:
        """The float32 values the stored tensor stands for, in x's shape."""
        return self._q.dequantize().reshape(self.shape)

    def __repr__(self) -> str:
        return (f"QuantizedTensor(scheme={self.scheme!r}, shape={self.shape}, nbytes={self.nbytes}, "
                f"bits_per_weight={self.bits_per_weight:.4g}, tensor_scale={self.tensor_scale:g})")


def quantize(w, scheme: str, importance=None, *, allow_nonfinite: bool = False,
             shared_amax: float = 0.0) -> QuantizedTensor:
    """Quantizes w (rows x cols: the last dimension is a row) with a scheme (see schemes()).
    importance: optional per-column weights (length cols), e.g. an imatrix's mean x^2.
    shared_amax: nvfp4's global scale from max(this, w's amax) (a fused group's amax)."""
    x = as_float32(w, "w")
    imp = None if importance is None else as_float32(importance, "importance")
    return QuantizedTensor(_core.quantize(x, scheme, imp, allow_nonfinite, float(shared_amax)), x.shape)


def fake_quantize(w, scheme: str, importance=None, *, allow_nonfinite: bool = False) -> np.ndarray:
    """quantize then dequantize, in one pass: float32 of w's shape."""
    x = as_float32(w, "w")
    imp = None if importance is None else as_float32(importance, "importance")
    return _core.fake_quantize(x, scheme, imp, allow_nonfinite)


def _scheme_list(schemes: Union[str, Iterable[str]]) -> list[str]:
    if isinstance(schemes, str):
        if schemes == "all":
            return [s["name"] for s in _core.schemes()]
        return [s for s in schemes.split(",") if s]
    return list(schemes)


def error(w, schemes: Union[str, Iterable[str]] = "all", *, histogram: int = 0,
          allow_nonfinite: bool = False) -> list[dict]:
    """Each scheme's error on w (`bitsmith error --json`'s results): records with scheme,
    bits_per_weight, mse, rmse, mean_abs_error, max_abs_error, snr_db, cosine (and histogram and
    abs_histogram, the signed and the absolute error, with histogram=N bins);
    a scheme that cannot take w gives {"scheme", "error"}. pandas.DataFrame(records) works."""
    return _core.error(as_float32(w, "w"), _scheme_list(schemes), histogram, allow_nonfinite)


def synthetic(distribution: str = "normal", shape: Sequence[int] = (40, 256), seed: int = 42) -> np.ndarray:
    """The CLI's synthetic weights (`bitsmith error --synthetic D --shape RxC --seed S`):
    normal, laplace, student_t or uniform, the same array on every platform."""
    rows, cols = shape
    return _core.synthetic(distribution, rows, cols, seed)


class Model:
    """A model file opened by open(): GGUF, safetensors (file, folder, index) or llama2.c."""

    def __init__(self, m):
        self._m = m

    path = property(lambda self: self._m.path)
    format = property(lambda self: self._m.format)
    hyperparameters = property(lambda self: self._m.hyperparameters, doc="As `bitsmith inspect --json` gives them.")
    tokenizer = property(lambda self: self._m.tokenizer, doc="The tokenizer's summary, or None.")
    tensors = property(lambda self: self._m.tensors, doc="Records: name, shape, dtype (storage), bytes.")
    metadata = property(lambda self: self._m.metadata)

    def names(self) -> list[str]:
        return [t["name"] for t in self._m.tensors]

    def inspect(self) -> dict:
        """The whole `bitsmith inspect --json` document."""
        return self._m.inspect()

    def encode(self, text: str, add_bos: Optional[bool] = None) -> list[int]:
        """Token ids of text with the model's tokenizer; BOS first when the vocabulary asks for
        it (add_bos=None), as `bitsmith eval` scores text."""
        return self._m.encode(text, add_bos)

    def decode(self, ids: Iterable[int]) -> str:
        """The text of token ids (bytes that are not UTF-8 become U+FFFD)."""
        return self._m.decode([int(i) for i in ids]).decode("utf-8", errors="replace")

    def tensor(self, name: str) -> np.ndarray:
        """A tensor as float32 (read-only), dequantized on demand; float32 tensors come straight
        from the memory-mapped file without a copy. KeyError for an unknown name."""
        return self._m.tensor(name)

    __getitem__ = tensor

    def __contains__(self, name: str) -> bool:
        return self._m.has_tensor(name)

    def __repr__(self) -> str:
        return f"Model({self.path!r}, format={self.format!r}, tensors={len(self._m.tensors)})"


def open(path, tokenizer: str = "") -> Model:  # noqa: A001 (the package's verb, as in gguf/safetensors)
    """Opens a model file; tokenizer: a llama2.c tokenizer.bin (default: found beside it)."""
    return Model(_core.open(str(path), str(tokenizer)))


def memory(params: Union[str, float, None] = None, model=None, schemes: Union[str, Iterable[str], None] = None,
           devices: Union[str, Iterable[str], None] = None) -> dict:
    """Weight memory per scheme and which devices hold it (`bitsmith memory --json`).
    params: a count ("70B", "135M", 7e9); or model: a path or Model (recipes allowed then)."""
    if isinstance(params, (int, float)) and not isinstance(params, bool):
        params = repr(float(params))
    m = model._m if isinstance(model, Model) else (_core.open(str(model), "") if model is not None else None)
    return _core.memory(params, m, _scheme_list(schemes or []), _scheme_list(devices or []))


def quantize_model(src, dst, scheme: Optional[str] = None, recipe: Optional[str] = None, *, format: str = "",
                   method: str = "rtn", calib: Optional[str] = None, calib_samples: int = 128, calib_seqlen: int = 512,
                   seed: int = 0, imatrix: Optional[str] = None, act_order: bool = False, static_groups: bool = False,
                   weighted_params: bool = False, refit_params: bool = False, damp: Optional[float] = None,
                   allow_requantize: bool = False, activations: str = "none",
                   dry_run: bool = False, progress: Optional[Callable] = None, steps: Optional[int] = None,
                   lr: Optional[float] = None, batch: Optional[int] = None, distill: bool = False) -> dict:
    """Writes src quantized into dst (GGUF or safetensors) with one scheme or a recipe (a llama.cpp
    mix or a recipe JSON file), and returns `bitsmith quantize --json`'s report.
    method: rtn (default), gptq, awq, imatrix, hqq or qat; calib: the calibration text of gptq/awq/qat (and
    of imatrix without an imatrix file), calib_samples segments of calib_seqlen tokens (seed: their
    offsets); act_order, static_groups, weighted_params, refit_params, damp: GPTQ's (weighted_params: each
    group's parameters by the scheme's importance-weighted search, the Hessian's diagonal as the weights;
    refit_params: block scales and mins refit to the chosen codes under the Hessian). A setting the method
    does not use is an error.
    activations: none (weight-only, default), dynamic or static (fp8/nvfp4 input scales from calib).
    dry_run: every check and the per-tensor plan, nothing run or written (the report's tensors).
    steps, lr, batch, distill: QAT's (method='qat': fine-tuning through the fake-quantized scheme,
    distill=True for the KL divergence to the float model as the loss; None: the library's defaults).
    progress: called after each tensor with Progress(index, count, name, bytes_done, bytes_total),
    or a tqdm bar (its total is set and it advances one tensor at a time)."""
    if imatrix and method != "imatrix":
        raise ValueError(f"imatrix= is used by method='imatrix' only (not {method!r})")
    if activations == "static" and not calib:
        raise ValueError("activations='static' needs calib=: the input ranges are measured on that text")
    if calib and activations != "static" and (method in ("rtn", "hqq") or (method == "imatrix" and imatrix)):
        raise ValueError(f"calib= does nothing with method={method!r}" + (" and imatrix=" if imatrix else ""))
    if (act_order or static_groups or weighted_params or refit_params or damp is not None) and method != "gptq":
        raise ValueError("act_order, static_groups, weighted_params, refit_params and damp are GPTQ settings (method='gptq')")
    if calib_samples <= 0 or calib_seqlen <= 0:
        raise ValueError("calib_samples and calib_seqlen must be positive")
    if any(v is not None and not v > 0 for v in (steps, lr, batch)):
        raise ValueError("steps, lr and batch must be positive")
    r = _core.QuantizeRequest()
    r.input, r.output, r.format = str(src), str(dst), format
    r.method, r.calib, r.imatrix = method, str(calib or ""), str(imatrix or "")
    r.calib_samples, r.calib_seqlen, r.seed = calib_samples, calib_seqlen, seed
    r.act_order, r.static_groups, r.weighted_params = act_order, static_groups, weighted_params
    r.refit_params = refit_params
    r.activations, r.allow_requantize, r.dry_run = activations, allow_requantize, dry_run
    if damp is not None:
        r.damp = damp
    if steps is not None:
        r.qat_steps = steps
    if lr is not None:
        r.qat_lr = lr
    if batch is not None:
        r.qat_batch = batch
    r.distill = distill
    callback = None
    if progress is not None and hasattr(progress, "update"):  # a tqdm bar
        bar = progress

        def callback(index, count, name, done, total):
            bar.total = count
            bar.update(1)
    elif progress is not None:
        def callback(index, count, name, done, total):
            progress(Progress(index, count, name, done, total))
    return _core.quantize_model(scheme or "", recipe or "", r, callback)


EvalProgress = namedtuple("EvalProgress", "stage chunks_done chunks_total seconds tokens_done")
EvalProgress.__doc__ = ("Where evaluate()/compare() are: the model or scheme being scored (stage), its chunks "
                        "done and in all, seconds and tokens through its engines so far.")


def _eval_progress(progress):
    """The library's chunk callback for a user's callable or tqdm bar (None: no progress)."""
    if progress is None:
        return None
    if hasattr(progress, "update"):  # a tqdm bar: one bar, reset for each stage (compare's schemes)
        bar, current = progress, [None]

        def callback(stage, done, total, seconds, tokens):
            if current[0] != stage:
                current[0] = stage
                bar.reset(total=total)
                bar.set_description(stage)
            bar.update(done - bar.n)
        return callback

    def callback(stage, done, total, seconds, tokens):
        progress(EvalProgress(stage, done, total, seconds, tokens))
    return callback


def _text_args(text, tokenizer, style, ctx, max_chunks, act_scheme):
    t = _core.TextArgs()
    t.text, t.tokenizer, t.style = str(text), str(tokenizer or ""), style
    t.ctx, t.max_chunks, t.act_scheme = ctx, max_chunks, act_scheme or ""
    return t


def evaluate(model, text, *, ref=None, scheme: Optional[str] = None, recipe: Optional[str] = None,
             rules: Iterable[str] = (), linears_only: bool = False, act_scheme: Optional[str] = None,
             static_activations: bool = False, style: str = "llamacpp", ctx: int = 0, max_chunks: int = 0,
             tokenizer: Optional[str] = None, ref_tokenizer: Optional[str] = None,
             progress: Optional[Callable] = None) -> dict:
    """Perplexity of `model` (a path) on the text file `text`, and with ref= (a path), scheme=, recipe=,
    act_scheme= or static_activations=True, KL divergence, top-1 agreement and perplexity ratio against
    the reference (the model itself, unquantized, when no ref= is given): `bitsmith eval --json`'s
    document. scheme=/recipe=/rules= fake-quantize the model exactly as quantize_model would write it
    (rules: "REGEX=SCHEME" strings); linears_only=True puts a plain scheme on the block linears only.
    style: llamacpp or gptq; ctx: tokens per chunk (0: min(512, the model's context)); max_chunks: 0 = all.
    progress: called after each chunk with EvalProgress(...), or a tqdm bar."""
    if isinstance(rules, str):
        rules = [rules]
    return _core.evaluate(str(model), _text_args(text, tokenizer, style, ctx, max_chunks, act_scheme),
                          str(ref or ""), str(ref_tokenizer or ""), scheme or "", recipe or "", list(rules),
                          linears_only, static_activations, _eval_progress(progress))


def compare(model, text, schemes: Union[str, Iterable[str], None] = None, *, recipes: Union[str, Iterable[str], None] = None,
            linears_only: bool = False, act_scheme: Optional[str] = None, style: str = "llamacpp", ctx: int = 0,
            max_chunks: int = 0, tokenizer: Optional[str] = None, progress: Optional[Callable] = None) -> dict:
    """The quality suite (`bitsmith compare --json`'s document): the unquantized model and one
    fake-quantized copy per scheme (schemes, named recipes or recipe files) and per recipe (llama.cpp mix
    names or recipe files), scored in lockstep on `text`: bits per weight, bytes, perplexity and its
    change, KL divergence, top-1 agreement, verdicts and the Pareto front."""
    return _core.compare(str(model), _text_args(text, tokenizer, style, ctx, max_chunks, act_scheme),
                         _scheme_list(schemes or []), _scheme_list(recipes or []), linears_only,
                         _eval_progress(progress))


def devices() -> list[dict]:
    """The device profiles the advisor knows: memory, bandwidth, dense peaks per compute format,
    native formats (`bitsmith advise --list-devices --json`)."""
    return _core.devices()


def advise(model=None, *, params: Union[str, float, None] = None, device: Optional[str] = None,
           memory: Optional[str] = None, bandwidth: Optional[str] = None, task: str = "inference",
           priority: Optional[str] = None, context: Optional[int] = None, batch: int = 1,
           kv_cache: Optional[str] = None, lora_rank: Optional[int] = None,
           schemes: Union[str, Iterable[str], None] = None, measurements=None, calib=None,
           candidates: Union[str, Iterable[str], None] = None, method: str = "rtn", costs: str = "hybrid",
           calib_samples: int = 8, calib_seqlen: int = 256, seed: int = 0, fit_samples: int = 0) -> dict:
    """Which precision fits a model on a device (`bitsmith advise --json`'s document): each scheme's
    memory itemised (weights, KV cache, activations, overhead), whether it fits, roofline speed bounds,
    native or emulated execution, and the recommendation with its reasoning.
    model: a model file or config.json path (or a Model); or params: a count ("70B", 8e9).
    device: a profile name (see devices()) or "NAME=SIZE"; memory: a size ("128GB") for a custom device.
    task: inference, training, lora, qlora; priority: quality, balanced, memory; measurements: a
    `bitsmith plan` measurements file of this model (the mix planned for the device is the
    recommendation). calib: a text to measure the model on now (`bitsmith advise MODEL --calib`:
    candidates, method, costs, calib_samples, calib_seqlen, seed, fit_samples as `bitsmith plan` takes them;
    measurements, if given, is where they are kept)."""
    a = _core.AdviseOptions()
    if isinstance(params, (int, float)) and not isinstance(params, bool):
        params = repr(float(params))
    a.model = model.path if isinstance(model, Model) else str(model or "")
    a.params, a.device, a.memory, a.bandwidth = params or "", device or "", memory or "", bandwidth or ""
    a.task, a.batch, a.measurements = task, batch, str(measurements or "")
    a.priority, a.kv_cache, a.context, a.lora_rank = priority, kv_cache, context, lora_rank
    a.schemes = _scheme_list(schemes or [])
    m = _core.MeasureRequest()
    m.calib, m.candidates, m.method, m.costs = str(calib or ""), _scheme_list(candidates or []), method, costs
    m.samples, m.seqlen, m.seed, m.fit_samples = calib_samples, calib_seqlen, seed, fit_samples
    return _core.advise(a, m)
