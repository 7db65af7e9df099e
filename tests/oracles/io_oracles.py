"""Independent readers for the io tests, written from the published formats (REFERENCE.md 3),
using only numpy and ml_dtypes: nothing here imports or calls bitsmith.

- read_llama2c(path): a llama2.c checkpoint as {canonical GGUF name: float32 array} + config.
- hf_permute(w, n_head): llama.cpp's convert_hf_to_gguf `permute` (HF half-split rows -> GGUF).
- read_safetensors_raw(path): header + arrays for every dtype (BF16/F8 via ml_dtypes), parsed
  from the byte layout; the tests also open each file with the `safetensors` package.
- decode_nvfp4_ct(packed, scale, global_scale): compressed-tensors' nvfp4-pack-quantized decode.
"""
import json
import struct

import numpy as np

try:
    import ml_dtypes
except ImportError:  # the tests that need it skip
    ml_dtypes = None


def read_llama2c(path):
    with open(path, "rb") as f:
        data = f.read()
    dim, hidden, layers, heads, kv_heads, vocab, seq = struct.unpack_from("<7i", data, 0)
    shared = vocab > 0
    vocab = abs(vocab)
    head = dim // heads
    kv = head * kv_heads
    off = 28
    out = {}

    def take(shape):
        nonlocal off
        n = int(np.prod(shape))
        a = np.frombuffer(data, np.float32, n, off).reshape(shape)
        off += 4 * n
        return a

    out["token_embd.weight"] = take((vocab, dim))
    per_layer = [("attn_norm", (dim,)), ("attn_q", (dim, dim)), ("attn_k", (kv, dim)), ("attn_v", (kv, dim)),
                 ("attn_output", (dim, dim)), ("ffn_norm", (dim,)), ("ffn_gate", (hidden, dim)),
                 ("ffn_down", (dim, hidden)), ("ffn_up", (hidden, dim))]
    for name, shape in per_layer:
        stacked = take((layers,) + shape)
        for l in range(layers):
            out[f"blk.{l}.{name}.weight"] = stacked[l]
    out["output_norm.weight"] = take((dim,))
    take((seq, head // 2))
    take((seq, head // 2))
    if not shared:
        out["output.weight"] = take((vocab, dim))
    assert off == len(data)
    cfg = dict(dim=dim, hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads, vocab=vocab, seq=seq,
               shared=shared, head=head)
    return cfg, out


def hf_permute(w, n_head):
    """HF (half-split) -> GGUF (adjacent pairs) row order, as llama.cpp's converter writes it."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def hf_name(canonical):
    g = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
         "output.weight": "lm_head.weight"}
    if canonical in g:
        return g[canonical]
    layer = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
             "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
             "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
    _, n, kind, suffix = canonical.split(".")
    return f"model.layers.{n}.{layer[kind]}.{suffix}"


def _np_dtype(name):
    table = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
             "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}
    if name in table:
        return table[name]
    if ml_dtypes is None:
        raise ImportError("ml_dtypes")
    return {"BF16": ml_dtypes.bfloat16, "F8_E4M3": ml_dtypes.float8_e4m3fn, "F8_E5M2": ml_dtypes.float8_e5m2}[name]


def read_safetensors_raw(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + n])
    base = 8 + n
    arrays = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        dt = _np_dtype(v["dtype"])
        arrays[k] = np.frombuffer(data[base + b:base + e], dt).reshape(v["shape"])
    return header, arrays


E2M1 = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6], np.float32)


def decode_nvfp4_ct(packed, scale, global_scale):
    """compressed-tensors: low nibble = even element; value = e2m1 * weight_scale / global_scale."""
    rows, half = packed.shape
    codes = np.empty((rows, half * 2), np.uint8)
    codes[:, 0::2] = packed & 0x0F
    codes[:, 1::2] = packed >> 4
    vals = E2M1[codes]
    s = scale.astype(np.float32) / np.float32(global_scale)
    return (vals.reshape(rows, -1, 16) * s[..., None]).reshape(rows, half * 2)
