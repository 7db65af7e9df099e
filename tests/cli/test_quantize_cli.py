"""bitsmith quantize: files it writes, read back by independent readers (the gguf and safetensors
PyPI packages, numpy/ml_dtypes parsers of the published formats), compared with the source
weights parsed independently from the llama2.c file; llama.cpp loading and generating; atomic
output under kill -9."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import clitest
from clitest import run, run_json, SHARED

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "oracles"))
np = clitest.require_module("numpy")
gguf = clitest.require_module("gguf")
clitest.require_module("safetensors")
from safetensors.numpy import load_file as load_safetensors  # noqa: E402
import io_oracles  # noqa: E402

MODEL = os.path.join(SHARED, "models", "stories260K", "stories260K.bin")
TOK = os.path.join(SHARED, "models", "stories260K", "tok512.bin")
GOLDEN = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park."


def gguf_tensors(path):
    r = gguf.GGUFReader(path)
    return r, {t.name: t for t in r.tensors}


def gguf_array(t):
    """A GGUFReader tensor as [out, in] float32 (its shape lists dims innermost first)."""
    a = np.asarray(t.data)
    if t.tensor_type in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
        return a.astype(np.float32).reshape(list(reversed([int(x) for x in t.shape])))
    return gguf.dequantize(a, t.tensor_type).reshape(list(reversed([int(x) for x in t.shape])))


def field_value(r, key):
    f = r.fields[key]
    if f.types[0] == gguf.GGUFValueType.ARRAY:
        if f.types[-1] == gguf.GGUFValueType.STRING:
            return [bytes(f.parts[i]).decode() for i in f.data]
        return [f.parts[i][0].item() for i in f.data]
    if f.types[0] == gguf.GGUFValueType.STRING:
        return bytes(f.parts[-1]).decode()
    return f.parts[-1][0].item()


class QuantizeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="bitsmith_quantize_")
        cls.cfg, cls.ref = io_oracles.read_llama2c(MODEL)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def test_f32_gguf_equals_source_and_reference_converter(self):
        out = self.path("s-f32.gguf")
        run("quantize", MODEL, out, "--scheme", "f32")
        r, ts = gguf_tensors(out)
        self.assertEqual(set(ts), set(self.ref))
        for name, want in self.ref.items():
            np.testing.assert_array_equal(gguf_array(ts[name]), want, err_msg=name)
        self.assertEqual(field_value(r, "general.architecture"), "llama")
        self.assertEqual(field_value(r, "llama.embedding_length"), 64)
        self.assertEqual(field_value(r, "llama.attention.head_count_kv"), 4)
        self.assertEqual(field_value(r, "llama.rope.dimension_count"), 8)
        # The vocabulary must equal what the peers' independent converter writes from tok512.bin.
        peer = os.path.join(os.environ.get("BITSMITH_SOURCE_DIR", "."), "scripts", "peers", "llama2c_to_gguf.py")
        ref_out = self.path("peer.gguf")
        subprocess.run([sys.executable, peer, MODEL, TOK, ref_out], check=True, capture_output=True)
        pr, pts = gguf_tensors(ref_out)
        for key in ("tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.scores",
                    "tokenizer.ggml.token_type", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"):
            self.assertEqual(field_value(r, key), field_value(pr, key), key)
        for name in pts:
            np.testing.assert_array_equal(gguf_array(ts[name]), gguf_array(pts[name]), err_msg=name)

    def test_q8_0_and_q4_0_blocks_equal_gguf_package(self):
        for scheme, qtype in (("q8_0", gguf.GGMLQuantizationType.Q8_0), ("q4_0", gguf.GGMLQuantizationType.Q4_0)):
            out = self.path(f"s-{scheme}.gguf")
            doc = run_json("quantize", MODEL, out, "--scheme", scheme)
            _, ts = gguf_tensors(out)
            checked = 0
            for name, t in ts.items():
                if t.tensor_type != qtype:
                    continue
                want = gguf.quantize(np.ascontiguousarray(self.ref[name]), qtype)
                self.assertEqual(bytes(np.asarray(t.data).tobytes()), bytes(want.tobytes()), f"{scheme} {name}")
                checked += 1
            self.assertGreaterEqual(checked, 20, scheme)
            # ffn_down rows of 172 fit no 32-block: llama.cpp falls back to F16, and so do we.
            down = [t for t in doc["tensors"] if t["name"] == "blk.0.ffn_down.weight"][0]
            self.assertEqual(down["scheme"], "fp16")
            self.assertEqual(down["fallback_from"], scheme)
            # the tied embedding is the output: Q8_0 (rows of 64 do not fit Q6_K), as llama.cpp.
            emb = [t for t in doc["tensors"] if t["name"] == "token_embd.weight"][0]
            self.assertEqual(emb["scheme"], "q8_0")
            self.assertGreater(doc["fallbacks"], 0)

    def test_safetensors_f32_is_hf_layout(self):
        out = self.path("hf32")
        run("quantize", MODEL, out, "--scheme", "f32")
        st = load_safetensors(os.path.join(out, "model.safetensors"))
        with open(os.path.join(out, "config.json")) as f:
            cfg = json.load(f)
        self.assertEqual(cfg["hidden_size"], 64)
        self.assertEqual(cfg["num_key_value_heads"], 4)
        self.assertTrue(cfg["tie_word_embeddings"])
        self.assertNotIn("lm_head.weight", st)
        for name, want in self.ref.items():
            got = st[io_oracles.hf_name(name)]
            if ".attn_q." in name:
                got = io_oracles.hf_permute(got, self.cfg["heads"])
            elif ".attn_k." in name:
                got = io_oracles.hf_permute(got, self.cfg["kv_heads"])
            np.testing.assert_array_equal(got, want, err_msg=name)
        self.assertTrue(os.path.exists(os.path.join(out, "tokenizer.json")))

    def test_bf16_and_fp16_round_to_nearest_even(self):
        ml = clitest.require_module("ml_dtypes")
        for scheme, dt in (("bf16", ml.bfloat16), ("fp16", np.float16)):
            # One folder each: two models in one folder would share (and so clobber) config.json.
            out = os.path.join(self.path(f"s-{scheme}"), "m.safetensors")
            os.makedirs(os.path.dirname(out))
            run("quantize", MODEL, out, "--scheme", scheme)
            header, arrays = io_oracles.read_safetensors_raw(out)
            w = self.ref["blk.2.ffn_up.weight"]
            np.testing.assert_array_equal(arrays["model.layers.2.mlp.up_proj.weight"].view(np.uint16),
                                          w.astype(dt).view(np.uint16), err_msg=scheme)
            self.assertEqual(header["model.layers.2.input_layernorm.weight"]["dtype"], "F32")  # norms stay F32

    def test_nvfp4_compressed_tensors_layout(self):
        import nvfp4_oracle  # noqa: needs ml_dtypes
        out = self.path("nv")
        doc = run_json("quantize", MODEL, out, "--scheme", "nvfp4")
        header, arrays = io_oracles.read_safetensors_raw(os.path.join(out, "model.safetensors"))
        base = "model.layers.1.mlp.up_proj"
        # gate and up are one fused layer for vLLM: one global scale from both.
        group = max(np.abs(self.ref[f"blk.1.ffn_{p}.weight"]).max() for p in ("gate", "up"))
        packed, sc, S, deq = nvfp4_oracle.quantize(self.ref["blk.1.ffn_up.weight"], group_amax=group)
        np.testing.assert_array_equal(arrays[base + ".weight_packed"], packed.reshape(arrays[base + ".weight_packed"].shape))
        np.testing.assert_array_equal(arrays[base + ".weight_scale"].view(np.uint8).reshape(-1), sc)
        self.assertEqual(arrays[base + ".weight_global_scale"].item(), np.float32(1) / S)
        dec = io_oracles.decode_nvfp4_ct(arrays[base + ".weight_packed"], arrays[base + ".weight_scale"],
                                         arrays[base + ".weight_global_scale"].item())
        np.testing.assert_allclose(dec, deq, rtol=1e-6, atol=1e-9)
        with open(os.path.join(out, "config.json")) as f:
            cfg = json.load(f)
        qc = cfg["quantization_config"]
        self.assertEqual(qc["quant_method"], "compressed-tensors")
        groups = {g["format"]: g for g in qc["config_groups"].values()}
        self.assertIn("nvfp4-pack-quantized", groups)
        w = groups["nvfp4-pack-quantized"]["weights"]
        self.assertEqual((w["num_bits"], w["type"], w["strategy"], w["group_size"]), (4, "float", "tensor_group", 16))
        self.assertIn(base, groups["nvfp4-pack-quantized"]["targets"])
        # ffn_down (rows of 172) cannot take 16-blocks: it falls back, and the file says how.
        down = [t for t in doc["tensors"] if t["name"] == "blk.1.ffn_down.weight"][0]
        self.assertEqual(down["fallback_from"], "nvfp4")
        # The safetensors package itself accepts the file.
        from safetensors import safe_open
        with safe_open(os.path.join(out, "model.safetensors"), "np") as f:
            self.assertIn(base + ".weight_packed", list(f.keys()))
        # bitsmith reads it back as nvfp4.
        info = run_json("inspect", out)
        kinds = {t["name"]: t["dtype"] for t in info["tensors"]}
        self.assertEqual(kinds["blk.1.ffn_up.weight"], "nvfp4")

    def test_gguf_safetensors_gguf_round_trip(self):
        a = self.path("rt-a.gguf")
        run("quantize", MODEL, a, "--scheme", "f32")
        run("quantize", a, self.path("rt-hf"), "--scheme", "f32")
        b = self.path("rt-b.gguf")
        run("quantize", self.path("rt-hf"), b, "--scheme", "f32")
        _, ta = gguf_tensors(a)
        _, tb = gguf_tensors(b)
        self.assertEqual(set(ta), set(tb))
        for name in ta:
            np.testing.assert_array_equal(gguf_array(ta[name]), gguf_array(tb[name]), err_msg=name)

    def test_rules_recipe_and_dry_run(self):
        doc = run_json("quantize", MODEL, self.path("never.gguf"), "--scheme", "q4_k_m", "--dry-run",
                       "--rule", r"attn_v=q8_0")
        self.assertFalse(os.path.exists(self.path("never.gguf")))
        by = {t["name"]: t for t in doc["tensors"]}
        self.assertEqual(by["blk.3.attn_v.weight"]["scheme"], "q8_0")
        self.assertTrue(by["blk.3.attn_v.weight"]["reason"].startswith("rule"), by["blk.3.attn_v.weight"]["reason"])
        self.assertEqual(by["output_norm.weight"]["scheme"], "f32")
        # q4_k needs rows of 256: attn_q (rows of 64) falls back to q5_0 as llama.cpp does.
        self.assertEqual(by["blk.0.attn_q.weight"]["scheme"], "q5_0")
        self.assertEqual(by["blk.0.attn_q.weight"]["fallback_from"], "q4_k")

    def test_recipe_names_files_and_rules(self):
        q = lambda *a: {t["name"]: t for t in run_json("quantize", MODEL, self.path("never.gguf"), "--dry-run", *a)["tensors"]}
        # --recipe q2_k is llama.cpp's Q2_K mix: attn_output asks for q3_k (falls back to q4_0 on
        # 64-wide rows); --scheme q2_k is uniform q2_k (also q4_0 after the fallback).
        mix, uni = q("--recipe", "q2_k"), q("--scheme", "q2_k")
        self.assertEqual(mix["blk.1.attn_output.weight"]["fallback_from"], "q3_k")
        self.assertEqual(uni["blk.1.attn_output.weight"]["fallback_from"], "q2_k")
        # --scheme q4_k_m (back-compat) is the recipe q4_k_m.
        self.assertEqual(q("--scheme", "q4_k_m"), q("--recipe", "q4_k_m"))
        # A saved recipe with the --rule overrides reads back to the same plan.
        saved = self.path("mix.json")
        want = q("--recipe", "q3_k_l", "--rule", "ffn_up=q8_0", "--save-recipe", saved)
        self.assertEqual(want["blk.0.ffn_up.weight"]["scheme"], "q8_0")
        self.assertEqual(q("--recipe", saved), want)
        # A hand-written recipe: category and layer range.
        with open(self.path("own.json"), "w") as f:
            json.dump({"base": "q8_0", "rules": [{"category": "attn_v", "layers": [1, 2], "scheme": "q4_0"}]}, f)
        own = q("--recipe", self.path("own.json"))
        self.assertEqual([own[f"blk.{i}.attn_v.weight"]["scheme"] for i in range(4)], ["q8_0", "q4_0", "q4_0", "q8_0"])
        with open(self.path("bad.json"), "w") as f:
            json.dump({"base": "q8_0", "rules": [{"category": "attn", "scheme": "q4_0"}]}, f)
        for args in (["--recipe", "q4_0"], ["--recipe", self.path("bad.json")], ["--scheme", "q4_0", "--recipe", "q6_k"],
                     []):
            p = run("quantize", MODEL, self.path("x.gguf"), *args, check=False)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
        self.assertFalse(os.path.exists(self.path("x.gguf")))

    def test_usage_errors_and_failures(self):
        self.assertEqual(run("quantize", MODEL, self.path("x.gguf"), "--scheme", "nope", check=False).returncode, 2)
        self.assertEqual(run("quantize", MODEL, self.path("x.gguf"), "--scheme", "q4_0", "--format", "zip",
                             check=False).returncode, 2)
        self.assertEqual(run("quantize", MODEL, self.path("x.gguf"), "--scheme", "q4_0", "--rule", "([=q4_0",
                             check=False).returncode, 2)
        self.assertEqual(run("quantize", MODEL, self.path("x.gguf"), "--scheme", "nvfp4", check=False).returncode, 2)
        p = run("quantize", self.path("missing.bin"), self.path("x.gguf"), "--scheme", "q4_0", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("missing.bin", p.stderr)
        self.assertFalse(os.path.exists(self.path("x.gguf")))

    def test_killed_run_leaves_no_file_at_target(self):
        src = self.path("big.gguf")
        run("synth", src, "--dim", "1024", "--hidden", "2816", "--layers", "8", "--vocab", "2048")
        out = self.path("killed.gguf")
        p = subprocess.Popen([clitest.BIN, "quantize", src, out, "--scheme", "q4_k", "--threads", "1"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Kill as soon as the writer has started (its temporary exists), mid-file.
        deadline = time.time() + 60
        temp = []
        while time.time() < deadline and p.poll() is None and not temp:
            temp = [f for f in os.listdir(self.tmp) if f.startswith(".killed.gguf.tmp-")]
            time.sleep(0.005)
        time.sleep(0.05)
        self.assertIsNone(p.poll(), "the run finished before it could be killed; make the model bigger")
        p.send_signal(signal.SIGKILL)
        p.wait()
        self.assertFalse(os.path.exists(out))
        leftovers = [f for f in os.listdir(self.tmp) if f.startswith(".killed.gguf.tmp-")]
        self.assertEqual(len(leftovers), 1)  # the temporary, never the target
        os.remove(os.path.join(self.tmp, leftovers[0]))
        os.remove(src)

    def test_llama_cpp_generates_golden_text(self):
        out = self.path("interop.gguf")
        run("quantize", MODEL, out, "--scheme", "f32")
        try:
            import llama_cpp  # noqa: F401
            llm = llama_cpp.Llama(model_path=out, n_ctx=512, verbose=False)
            text = llm.create_completion("", max_tokens=60, temperature=0.0)["choices"][0]["text"]
        except ImportError:
            peers = os.environ.get("BITSMITH_PEERS_DIR", os.path.expanduser("~/.cache/bitsmith/llama.cpp"))
            exe = os.path.join(peers, "build", "bin", "llama-completion")
            if not os.path.exists(exe):
                self.skipTest("neither llama-cpp-python nor llama.cpp's llama-completion is available")
            p = subprocess.run([exe, "-m", out, "-no-cnv", "--temp", "0", "-n", "60", "-p", ""],
                               capture_output=True, text=True, errors="replace", timeout=300)
            self.assertEqual(p.returncode, 0, p.stderr[-2000:])
            text = p.stdout
        self.assertIn(GOLDEN, text)

    def test_hf_tokenizers_match_llama2c_encoder(self):
        tokenizers = None
        try:
            import tokenizers  # noqa: F811
        except ImportError:
            self.skipTest("Python package 'tokenizers' is not installed")
        import llama2c_tokenizer
        out = self.path("tok")
        run("quantize", MODEL, out, "--scheme", "f32")
        tok = tokenizers.Tokenizer.from_file(os.path.join(out, "tokenizer.json"))
        tokens, scores = llama2c_tokenizer.read_tokenizer(TOK, 512)
        for text in ["Once upon a time, there was a little girl named Lily.", "Hello  world!\nÜber ☃ 123",
                     "She said, \"I'm sorry, mom.\"", "a"]:
            want = llama2c_tokenizer.encode(text.encode(), tokens, scores)
            self.assertEqual(tok.encode(text).ids, want, text)


if __name__ == "__main__":
    clitest.main()
