#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, AddressSanitizer + UndefinedBehaviorSanitizer) in
# build-fuzz and runs each for N executions from a seed corpus made here (gguf/safetensors
# PyPI packages and a few bytes of Python; nothing is committed).
#   scripts/fuzz.sh [RUNS]            default 100000 per target (CI uses a small number)
#   FUZZ_TARGETS="gguf" scripts/fuzz.sh 1000000
# Prints "fuzz: <target> <executions> execs, 0 crashes, <seconds> s" lines; exits non-zero on a finding
# (the crashing input is left in build-fuzz/findings/).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-100000}
TARGETS=${FUZZ_TARGETS:-"gguf safetensors llama2c json npy"}
BUILD=${BITSMITH_FUZZ_BUILD_DIR:-build-fuzz}
JOBS=${BITSMITH_FUZZ_JOBS:-2}

if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
    -DBITSMITH_BUILD_FUZZ=ON -DBITSMITH_SANITIZE=ON -DBITSMITH_BUILD_BENCH=OFF \
    -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link" >/dev/null
fi
for t in $TARGETS; do ninja -C "$BUILD" -j "$JOBS" "${t}_fuzz" >/dev/null; done

SEEDS="$BUILD/seeds"
mkdir -p "$SEEDS"/{gguf,safetensors,llama2c,json,npy} "$BUILD/findings"
python3 - "$SEEDS" <<'PY'
import json, struct, sys, os
import numpy as np
root = sys.argv[1]
try:
    import gguf
    w = gguf.GGUFWriter(os.path.join(root, "gguf", "seed1.gguf"), "llama")
    w.add_context_length(16); w.add_embedding_length(32); w.add_block_count(1); w.add_feed_forward_length(64)
    w.add_head_count(4); w.add_head_count_kv(2); w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("llama"); w.add_token_list(["<unk>", "<s>", "</s>", "<0x41>", "\u2581a"])
    w.add_token_scores([0.0, 0.0, 0.0, 0.0, -1.0]); w.add_token_types([2, 3, 3, 6, 1]); w.add_array("x.arr", [1, 2])
    a = (np.arange(64 * 32, dtype=np.float32).reshape(64, 32) / 1000)
    w.add_tensor("token_embd.weight", a[:5])
    w.add_tensor("blk.0.attn_q.weight", a[:32].astype(np.float16))
    for name, t in (("blk.0.attn_k.weight", gguf.GGMLQuantizationType.Q8_0), ("blk.0.attn_v.weight", gguf.GGMLQuantizationType.Q4_0)):
        q = gguf.quantize(a[:16], t)
        w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=t)
    w.add_tensor("blk.0.attn_norm.weight", np.ones(32, np.float32))
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
except ImportError:
    open(os.path.join(root, "gguf", "seed0.gguf"), "wb").write(b"GGUF" + struct.pack("<IQQ", 3, 0, 0))

def st(path, tensors, meta=None):
    header, data = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if meta: header["__metadata__"] = meta
    h = json.dumps(header).encode()
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + data)

st(os.path.join(root, "safetensors", "seed1.safetensors"), {
    "model.embed_tokens.weight": ("F32", [4, 16], np.ones((4, 16), np.float32).tobytes()),
    "model.layers.0.self_attn.q_proj.weight": ("BF16", [16, 16], np.zeros(256, np.uint16).tobytes()),
    "model.layers.0.mlp.up_proj.weight_packed": ("U8", [4, 8], bytes(range(32))),
    "model.layers.0.mlp.up_proj.weight_scale": ("F8_E4M3", [4, 1], bytes([0x38] * 4)),
    "model.layers.0.mlp.up_proj.weight_global_scale": ("F32", [1], struct.pack("<f", 2.0)),
    "model.layers.0.mlp.down_proj.weight": ("F8_E4M3", [4, 4], bytes(range(16))),
    "model.layers.0.mlp.down_proj.weight_scale": ("F32", [1], struct.pack("<f", 0.5)),
    "model.layers.0.self_attn.k_proj.qdata": ("U8", [4, 18], bytes(72)),
    "model.layers.0.self_attn.k_proj.qtensor_scale": ("F32", [1], struct.pack("<f", 1.0)),
}, {"format": "pt", "bitsmith.quantization": json.dumps({"model.layers.0.self_attn.k_proj.weight": {"scheme": "q4_0", "shape": [4, 32]}})})
open(os.path.join(root, "safetensors", "seed2.json"), "w").write(json.dumps({
    "added_tokens": [{"id": 0, "content": "<unk>", "special": True}],
    "model": {"type": "BPE", "byte_fallback": True, "vocab": {"<unk>": 0, "a": 1, "b": 2, "ab": 3, "<0x41>": 4},
              "merges": ["a b"]}}))
h = [8, 16, 1, 2, 2, 4, 2]
n = 4 * 8 + 8 + 4 * 64 + 8 + 3 * 16 * 8 + 8 + 2 * 2 * 2
open(os.path.join(root, "llama2c", "seed1.bin"), "wb").write(struct.pack("<7i", *h) + np.linspace(-1, 1, n, dtype=np.float32).tobytes())
tok = struct.pack("<i", 8) + b"".join(struct.pack("<fi", -i, len(t)) + t for i, t in enumerate([b"<unk>", b"\n<s>\n", b"\n</s>\n", b" a"]))
open(os.path.join(root, "llama2c", "seed2.bin"), "wb").write(bytes([1, 3]) + tok)

# json: the first byte picks the parser (0 config.json, 1 tokenizer.json, 2 safetensors header).
cfg = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
       "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 32, "max_position_embeddings": 256,
       "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": True, "rope_scaling": {"type": "linear", "factor": [2.0]}}
open(os.path.join(root, "json", "config"), "wb").write(b"\x00" + json.dumps(cfg).encode())
open(os.path.join(root, "json", "tokenizer"), "wb").write(b"\x01" + open(os.path.join(root, "safetensors", "seed2.json"), "rb").read())
hdr = {"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}, "e": {"dtype": "F16", "shape": [0], "data_offsets": [0, 0]},
       "__metadata__": {"format": "pt", "bitsmith.quantization": json.dumps({"w": {"scheme": "q4_0", "shape": [4, 32]}})}}
open(os.path.join(root, "json", "header"), "wb").write(b"\x02" + json.dumps(hdr).encode())
open(os.path.join(root, "json", "nested"), "wb").write(b"\x00" + b'{"a":' * 70 + b"1" + b"}" * 70)
for name, arr in (("f4", np.arange(12, dtype=np.float32).reshape(3, 4)), ("f2", np.ones((2, 3, 2), np.float16)),
                  ("scalar", np.float32(1.5)), ("empty", np.zeros((0, 4), np.float32))):
    np.save(os.path.join(root, "npy", name + ".npy"), arr)
PY

status=0
for t in $TARGETS; do
  log="$BUILD/findings/$t.log"
  start=$(date +%s)
  if "$BUILD/fuzz/${t}_fuzz" -runs="$RUNS" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$BUILD/findings/${t}-" "$SEEDS/$t" >"$log" 2>&1; then
    execs=$(grep -o 'Done [0-9]* runs' "$log" | grep -o '[0-9]*' || echo "?")
    echo "fuzz: $t $execs execs, 0 crashes, $(( $(date +%s) - start )) s"
  else
    echo "fuzz: $t FOUND A PROBLEM; see $log and $BUILD/findings/"
    tail -30 "$log"
    status=1
  fi
done
exit $status
