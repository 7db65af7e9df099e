"""quantize --activations none|dynamic|static: W8A8/W4A4 safetensors outputs as llm-compressor
writes them (compressed-tensors input_activations, static input_scale / input_global_scale).

stories260K is quantized with static activation scales calibrated on one segment that is the
whole of a short text (--calib-samples 1, --calib-seqlen = its token count), so the tokens the
calibration saw are known; a numpy forward pass of the llama2.c weights
(tests/oracles/llama2c_forward.py, checked here against bitsmith's own logits) gives every
linear's input over those tokens. Each quantized linear must hold its scale, in
compressed-tensors' convention, from that input's max |x|: fp8 input_scale = amax / 448, nvfp4
input_global_scale = 448 * 6 / amax, one F32 value of shape [1]; the projections vLLM fuses (q/k/v,
gate/up) must hold equal ones.

Then transformers + compressed-tensors (the HF venv; skipped, saying so, when absent) load the
outputs: compressed-tensors fake-quantizes each linear's input with those scales on CPU (the
probe reports the input_activations it attached), and its logits must equal bitsmith's with the
same static activation quantization (`generate --static-activations`) to TOL of the logits'
scale, while bitsmith's weight-only logits of the same file must differ by far more (the
activation quantization is really applied on both sides).
"""
import json
import os
import sys
import tempfile
import unittest

import clitest
from clitest import SHARED, run

np = clitest.require_module("numpy")
safetensors = clitest.require_module("safetensors")
from safetensors import safe_open  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "oracles"))
import io_oracles  # noqa: E402
import llama2c_forward  # noqa: E402

STORIES = os.path.join(SHARED, "models", "stories260K", "stories260K.bin")
TOK = os.path.join(SHARED, "models", "stories260K", "tok512.bin")
TEXT = os.path.join(SHARED, "data", "tinyshakespeare.txt")
TOL = 1e-3  # max |logit difference| relative to max |logit|, as test_hf_loaders_cli.py
AMAX_RTOL = 1e-4  # bitsmith's float32 forward against numpy's (float64 norms and attention)
PROMPT = "Once upon a time, there was a little girl named Lily. She loved to play"
FUSED = [("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"), ("mlp.gate_proj", "mlp.up_proj")]
FP8_STATIC = {"num_bits": 8, "type": "float", "symmetric": True, "group_size": None, "strategy": "tensor",
              "dynamic": False}
FP8_DYNAMIC = {"num_bits": 8, "type": "float", "symmetric": True, "group_size": None, "strategy": "token",
               "dynamic": True}
NVFP4_STATIC = {"num_bits": 4, "type": "float", "symmetric": True, "group_size": 16, "strategy": "tensor_group",
                "dynamic": "local", "scale_dtype": "torch.float8_e4m3fn"}


def canonical(module):
    """model.layers.L.self_attn.q_proj -> blk.L.attn_q.weight (the names bitsmith reports)."""
    parts = module.split(".")
    kind = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
            "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"}[parts[-1]]
    return f"blk.{parts[2]}.{kind}.weight"


class InputScales(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        t = cls.tmp.name
        # The calibration text: short enough for one segment within stories260K's context.
        with open(TEXT, encoding="utf-8") as f:
            text = f.read()[:600]
        cls.calib = os.path.join(t, "calib.txt")
        with open(cls.calib, "w", encoding="utf-8") as f:
            f.write(text)
        ids = clitest.run_json("generate", STORIES, "--tokenizer", TOK, "--prompt", text, "--max-tokens", "0")[
            "prompt_token_ids"]
        cls.tokens = ids[1:] if ids and ids[0] == 1 else ids  # calibration segments carry no BOS
        assert 64 < len(cls.tokens) <= 512, len(cls.tokens)
        cls.cfg, cls.weights = io_oracles.read_llama2c(STORIES)
        _, inputs = llama2c_forward.forward(cls.cfg, cls.weights, cls.tokens)
        cls.amax = {name: float(np.abs(x).max()) for name, x in inputs.items()}
        calib = ["--calib", cls.calib, "--calib-samples", "1", "--calib-seqlen", str(len(cls.tokens))]
        cls.out, cls.reports = {}, {}
        for name, args in [("fp8_static", ["--scheme", "fp8_e4m3", "--activations", "static", *calib]),
                           ("nvfp4_static", ["--scheme", "nvfp4", "--activations", "static", *calib]),
                           ("fp8_dynamic", ["--scheme", "fp8_e4m3_channel", "--activations", "dynamic"]),
                           ("fp8_weight_only", ["--scheme", "fp8_e4m3"])]:
            cls.out[name] = os.path.join(t, name)
            cls.reports[name] = clitest.run_json("quantize", STORIES, cls.out[name], "--tokenizer", TOK, *args)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def read(self, name):
        folder = self.out[name]
        with open(os.path.join(folder, "config.json")) as f:
            qc = json.load(f)["quantization_config"]
        tensors = {}
        with safe_open(os.path.join(folder, "model.safetensors"), "np") as f:
            for k in f.keys():
                if k.endswith((".input_scale", ".input_global_scale")):
                    tensors[k] = (f.get_slice(k).get_dtype(), f.get_tensor(k))
        return qc, tensors

    def test_numpy_forward_is_bitsmiths(self):
        # the oracle the scales are checked against runs the model as bitsmith does
        f = os.path.join(self.tmp.name, "orig.npy")
        g = clitest.run_json("generate", STORIES, "--tokenizer", TOK, "--prompt", PROMPT, "--max-tokens", "0",
                             "--logits", f)
        ours = np.load(f)
        ref, _ = llama2c_forward.forward(self.cfg, self.weights, g["prompt_token_ids"])
        self.assertLess(float(np.abs(ours - ref).max()), 1e-4 * float(np.abs(ref).max()))

    def check_static(self, name, scheme_args):
        qc, tensors = self.read(name)
        seen = 0
        for group in qc["config_groups"].values():
            acts = group["input_activations"]
            self.assertIsNotNone(acts, f"{name}: a group without input_activations")
            nvfp4 = group["format"] == "nvfp4-pack-quantized"
            want = scheme_args if nvfp4 else FP8_STATIC
            self.assertEqual({k: acts.get(k) for k in want}, want, f"{name} {group['format']}")
            suffix = "input_global_scale" if nvfp4 else "input_scale"
            for module in group["targets"]:
                key = f"{module}.{suffix}"
                self.assertIn(key, tensors, f"{name}: {module} has no {suffix}")
                dtype, value = tensors[key]
                self.assertEqual((dtype, value.shape), ("F32", (1,)), key)
                amax = self.amax[canonical(module)]
                got = 448.0 * 6.0 / float(value[0]) if nvfp4 else float(value[0]) * 448.0
                self.assertAlmostEqual(got / amax, 1.0, delta=AMAX_RTOL, msg=f"{key}: amax {got} vs numpy {amax}")
                seen += 1
        # every block linear of the model, and nothing else, has a scale
        self.assertEqual(seen, 7 * self.cfg["layers"])
        self.assertEqual(len(tensors), seen)
        for layer in range(self.cfg["layers"]):
            for group in FUSED:
                values = {float(tensors[k][1][0]) for k in tensors
                          if any(k.startswith(f"model.layers.{layer}.{m}.") for m in group)}
                self.assertEqual(len(values), 1, f"layer {layer} {group}: fused projections differ: {values}")
        # quantize --json reports the same ranges
        for t in self.reports[name]["tensors"]:
            if t.get("activations") == "static":
                self.assertAlmostEqual(t["input_amax"] / self.amax[t["name"]], 1.0, delta=AMAX_RTOL, msg=t["name"])
        return qc

    def test_fp8_static(self):
        qc = self.check_static("fp8_static", FP8_STATIC)
        self.assertEqual(qc["format"], "float-quantized")

    def test_nvfp4_static(self):
        qc = self.check_static("nvfp4_static", NVFP4_STATIC)
        # ffn_down (172 columns) falls back to fp8_e4m3: a W8A8 group beside the W4A4 one
        formats = sorted(g["format"] for g in qc["config_groups"].values())
        self.assertEqual(formats, ["float-quantized", "nvfp4-pack-quantized"])
        self.assertEqual(qc["format"], "mixed-precision")

    def test_fp8_dynamic(self):
        qc, tensors = self.read("fp8_dynamic")
        self.assertEqual(tensors, {})  # scales computed per token at run time: nothing stored
        for group in qc["config_groups"].values():
            self.assertEqual({k: group["input_activations"].get(k) for k in FP8_DYNAMIC}, FP8_DYNAMIC)
            self.assertEqual(group["weights"]["strategy"], "channel")

    def test_weight_only_is_the_default(self):
        qc, tensors = self.read("fp8_weight_only")
        self.assertEqual(tensors, {})
        self.assertTrue(all(g["input_activations"] is None for g in qc["config_groups"].values()))
        self.assertEqual(self.reports["fp8_weight_only"]["activations"], "none")

    def test_usage_errors(self):
        t = self.tmp.name
        base = ["quantize", STORIES, os.path.join(t, "bad"), "--tokenizer", TOK]
        calib = ["--calib", self.calib, "--calib-samples", "1", "--calib-seqlen", "64"]
        cases = [
            (["--scheme", "fp8_e4m3", "--activations", "static"], "needs --calib"),
            (["--scheme", "int4_g32_sym", "--activations", "static", *calib], "int4_g32_sym"),
            (["--scheme", "q8_0", "--activations", "static", *calib], "q8_0"),
            (["--scheme", "nvfp4", "--activations", "dynamic"], "nvfp4"),
            (["--scheme", "bf16", "--activations", "static", *calib], "no linear is quantized"),
            (["--scheme", "fp8_e4m3_block128", "--activations", "dynamic"], "multiple of the 128"),
            (["--scheme", "fp8_e4m3", "--activations", "sometimes"], "none, dynamic, static"),
            (["--scheme", "fp8_e4m3", "--activations", "dynamic", *calib], "--calib does nothing"),
        ]
        for args, message in cases:
            p = run(*base, *args, check=False)
            self.assertEqual(p.returncode, 2, f"{args}: {p.stderr}")
            self.assertIn(message, p.stderr, args)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        gguf = run("quantize", STORIES, os.path.join(t, "bad.gguf"), "--tokenizer", TOK, "--scheme", "q8_0",
                   "--activations", "dynamic", check=False)
        self.assertEqual(gguf.returncode, 2, gguf.stderr)
        self.assertIn("GGUF", gguf.stderr)
        self.assertFalse(os.path.exists(os.path.join(t, "bad")))
        # a checkpoint without static scales: --static-activations would do nothing
        p = run("generate", self.out["fp8_weight_only"], "--prompt", "x", "--max-tokens", "0", "--static-activations",
                check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("no static activation scales", p.stderr)

    def logits(self, name, *flags):
        f = os.path.join(self.tmp.name, f"{name}{'_'.join(flags)}.npy")
        g = clitest.run_json("generate", self.out[name], "--prompt", PROMPT, "--max-tokens", "0", "--logits", f, *flags)
        return g["prompt_token_ids"], np.load(f)

    def test_bitsmith_eval_uses_the_scales(self):
        # eval --static-activations scores the file with its activation quantization, against
        # the same file without it
        r = clitest.run_json("eval", self.out["fp8_static"], "--text", self.calib, "--ctx", "128",
                             "--static-activations")
        self.assertTrue(r["static_activations"])
        self.assertGreater(r["scored"], 0)
        self.assertGreater(r["kld"], 0.0)

    def test_transformers_runs_the_same_activation_quantization(self):
        why = clitest.hf_venv_problem()
        if why:
            self.skipTest(why)
        jobs, ours = [], {}
        for name in ("fp8_static", "nvfp4_static"):
            ids, static = self.logits(name, "--static-activations")
            _, weight_only = self.logits(name)
            ours[name] = (ids, static, weight_only)
            jobs.append({"name": name, "path": self.out[name], "dtype": "float32", "f32_unpack": True,
                         "logits": os.path.join(self.tmp.name, f"{name}.hf.npz")})
        res = clitest.run_hf_probe({"texts": [PROMPT], "token_ids": [ours["fp8_static"][0]], "models": jobs},
                                   self.tmp.name)
        for r, job in zip(res["models"], jobs):
            name = r["name"]
            self.assertTrue(r["ok"], f"{name}: {r.get('error')}\n{r.get('traceback', '')}")
            with np.load(job["logits"]) as z:
                theirs = z["arr_0"]
            ids, static, weight_only = ours[name]
            self.assertEqual(ids, ours["fp8_static"][0])
            scale = float(np.abs(static).max())
            d_static = float(np.abs(theirs - static).max())
            d_weight_only = float(np.abs(theirs - weight_only).max())
            print(f"[{name}] transformers {res['versions']}: input_activations {r['input_activations']}, "
                  f"weights {r['weight_dtypes']}; max |dlogit| vs bitsmith static {d_static:.3g} "
                  f"({d_static / scale:.3g} of the scale), vs bitsmith weight-only {d_weight_only:.3g}")
            self.assertLessEqual(d_static, TOL * scale, name)
            self.assertGreater(d_weight_only, 20 * TOL * scale, f"{name}: activations were not quantized")
            self.assertTrue(r["input_activations"], name)


if __name__ == "__main__":
    clitest.main()
