#!/usr/bin/env python3
"""Convert a llama2.c checkpoint + tokenizer (stories260K.bin + tok512.bin) to a GGUF that
llama.cpp loads, using only the gguf PyPI package (llama.cpp's own reader/writer).

An independent reference writer for interop tests: bitsmith's GGUF writer must produce a file
llama.cpp reads the same way, and llama.cpp's tools (llama-perplexity, llama-quantize,
llama-simple) run on this file as the peer's view of the same model.

    python3 scripts/peers/llama2c_to_gguf.py \\
        /work/shared/models/stories260K/stories260K.bin /work/shared/models/stories260K/tok512.bin \\
        out.gguf [--outtype f32|f16] [--untied]

Follows shared/REFERENCE.md section 3:
  - checkpoint: seven int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size
    (negative = separate classifier), seq_len), then float32 token_embedding, rms_att, wq, wk,
    wv, wo, rms_ffn, w1, w2, w3, rms_final, two RoPE tables (skipped), classifier if unshared.
    Matrices are row-major [out, in], which is what GGUF's [in, out] (innermost first) means,
    and llama2.c already rotates adjacent pairs like llama.cpp's LLAMA arch: no permutation.
  - vocabulary: tokenizer.ggml.model = "llama"; spaces inside a token become U+2581; ids 0/1/2
    become <unk>/<s>/</s> typed unknown/control/control; <0xXX> tokens are byte tokens; scores
    are copied unchanged.
--outtype f16 stores the 2-D weights as F16 (norms stay F32, as llama.cpp's converters do).
--untied writes output.weight as a copy of the embedding when the checkpoint shares it
(default: leave it out; llama.cpp then reuses token_embd.weight).
"""

from __future__ import annotations

import argparse
import struct
import sys
from pathlib import Path

import numpy as np

try:
    import gguf
except ImportError:  # pragma: no cover
    sys.exit("llama2c_to_gguf: the gguf package is missing (pip install gguf)")

# llama.cpp token types (gguf.TokenType): NORMAL 1, UNKNOWN 2, CONTROL 3, BYTE 6.
TT = gguf.TokenType


def read_checkpoint(path: Path):
    raw = path.read_bytes()
    dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len = struct.unpack_from("<7i", raw, 0)
    shared = vocab > 0
    vocab = abs(vocab)
    head = dim // n_heads
    kv_dim = n_kv_heads * head
    f = np.frombuffer(raw, dtype="<f4", offset=28)
    pos = 0

    def take(*shape):
        nonlocal pos
        n = int(np.prod(shape))
        if pos + n > f.size:
            raise ValueError(f"{path}: truncated at float {pos} reading shape {shape}")
        a = f[pos:pos + n].reshape(shape)
        pos += n
        return a

    w = {"tok_embd": take(vocab, dim), "attn_norm": take(n_layers, dim),
         "wq": take(n_layers, dim, dim), "wk": take(n_layers, kv_dim, dim),
         "wv": take(n_layers, kv_dim, dim), "wo": take(n_layers, dim, dim),
         "ffn_norm": take(n_layers, dim), "w1": take(n_layers, hidden, dim),
         "w2": take(n_layers, dim, hidden), "w3": take(n_layers, hidden, dim),
         "out_norm": take(dim)}
    take(seq_len, head // 2)  # freq_cis_real (unused)
    take(seq_len, head // 2)  # freq_cis_imag (unused)
    w["output"] = None if shared else take(vocab, dim)
    if pos != f.size:
        raise ValueError(f"{path}: {f.size - pos} floats left over after the classifier")
    hp = dict(dim=dim, hidden=hidden, n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_kv_heads,
              vocab=vocab, seq_len=seq_len, head=head, shared=shared)
    return hp, w


def read_tokenizer(path: Path, vocab: int):
    raw = path.read_bytes()
    off = 4  # int32 max_token_length
    tokens, scores, types = [], [], []
    for i in range(vocab):
        score, n = struct.unpack_from("<fi", raw, off)
        off += 8
        text = raw[off:off + n].decode("utf-8")
        off += n
        if i == 0:
            text, kind = "<unk>", TT.UNKNOWN
        elif i in (1, 2):
            text, kind = ("<s>", "</s>")[i - 1], TT.CONTROL
        elif len(text) == 6 and text.startswith("<0x") and text.endswith(">"):
            kind = TT.BYTE
        else:
            text, kind = text.replace(" ", "\u2581"), TT.NORMAL
        tokens.append(text)
        scores.append(score)
        types.append(kind)
    if off != len(raw):
        raise ValueError(f"{path}: {len(raw) - off} bytes left after {vocab} tokens")
    return tokens, scores, types


def convert(ckpt: Path, tok: Path, out: Path, outtype: str = "f32", untied: bool = False) -> None:
    hp, w = read_checkpoint(ckpt)
    tokens, scores, types = read_tokenizer(tok, hp["vocab"])
    wr = gguf.GGUFWriter(str(out), "llama")
    wr.add_name(ckpt.stem)
    wr.add_context_length(hp["seq_len"])
    wr.add_embedding_length(hp["dim"])
    wr.add_block_count(hp["n_layers"])
    wr.add_feed_forward_length(hp["hidden"])
    wr.add_head_count(hp["n_heads"])
    wr.add_head_count_kv(hp["n_kv_heads"])
    wr.add_rope_dimension_count(hp["head"])
    wr.add_rope_freq_base(10000.0)
    wr.add_layer_norm_rms_eps(1e-5)
    wr.add_vocab_size(hp["vocab"])
    wr.add_file_type(gguf.LlamaFileType.ALL_F32 if outtype == "f32" else gguf.LlamaFileType.MOSTLY_F16)
    wr.add_tokenizer_model("llama")
    wr.add_token_list(tokens)
    wr.add_token_scores(scores)
    wr.add_token_types(types)
    wr.add_unk_token_id(0)
    wr.add_bos_token_id(1)
    wr.add_eos_token_id(2)
    wr.add_add_bos_token(True)
    wr.add_add_eos_token(False)

    def mat(a):
        a = np.ascontiguousarray(a, dtype=np.float32)
        return a.astype(np.float16) if outtype == "f16" else a

    def vec(a):
        return np.ascontiguousarray(a, dtype=np.float32)

    wr.add_tensor("token_embd.weight", mat(w["tok_embd"]))
    for i in range(hp["n_layers"]):
        wr.add_tensor(f"blk.{i}.attn_norm.weight", vec(w["attn_norm"][i]))
        wr.add_tensor(f"blk.{i}.attn_q.weight", mat(w["wq"][i]))
        wr.add_tensor(f"blk.{i}.attn_k.weight", mat(w["wk"][i]))
        wr.add_tensor(f"blk.{i}.attn_v.weight", mat(w["wv"][i]))
        wr.add_tensor(f"blk.{i}.attn_output.weight", mat(w["wo"][i]))
        wr.add_tensor(f"blk.{i}.ffn_norm.weight", vec(w["ffn_norm"][i]))
        wr.add_tensor(f"blk.{i}.ffn_gate.weight", mat(w["w1"][i]))
        wr.add_tensor(f"blk.{i}.ffn_down.weight", mat(w["w2"][i]))
        wr.add_tensor(f"blk.{i}.ffn_up.weight", mat(w["w3"][i]))
    wr.add_tensor("output_norm.weight", vec(w["out_norm"]))
    if w["output"] is not None:
        wr.add_tensor("output.weight", mat(w["output"]))
    elif untied:
        wr.add_tensor("output.weight", mat(w["tok_embd"]))
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", type=Path)
    p.add_argument("tokenizer", type=Path)
    p.add_argument("output", type=Path)
    p.add_argument("--outtype", choices=["f32", "f16"], default="f32")
    p.add_argument("--untied", action="store_true", help="write output.weight even when shared")
    a = p.parse_args(argv)
    convert(a.checkpoint, a.tokenizer, a.output, a.outtype, a.untied)
    print(f"llama2c_to_gguf: wrote {a.output} ({a.output.stat().st_size} bytes, {a.outtype})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
