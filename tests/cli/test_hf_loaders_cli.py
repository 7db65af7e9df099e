"""Real loaders read bitsmith's safetensors outputs: transformers' AutoModelForCausalLM and
AutoTokenizer (with compressed-tensors for the quantized layouts, what vLLM loads) load each
output folder of stories260K and SmolLM2-135M, run a forward pass in float32 and must give
bitsmith's own logits (`bitsmith generate OUT --logits`, read back from the same folder) to
1e-3 of the logits' scale, and the tokenizer must encode a real text to bitsmith's ids.
Outputs in bitsmith's private layout must make transformers fail, never load random weights.

The loaders live in a venv made by scripts/peers/setup_hf_venv.sh (torch CPU, transformers,
compressed-tensors); the test skips, saying so, when it is absent. BITSMITH_HF_VENV moves it."""
import os
import subprocess
import sys
import tempfile
import unittest

import clitest
from clitest import SHARED, run

np = clitest.require_module("numpy")

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("BITSMITH_SOURCE_DIR", os.path.join(HERE, "..", ".."))
STORIES = os.path.join(SHARED, "models", "stories260K", "stories260K.bin")
STORIES_TOK = os.path.join(SHARED, "models", "stories260K", "tok512.bin")
CALIB = os.path.join(SHARED, "data", "tinyshakespeare.txt")
TOL = 1e-3  # max |logit difference| relative to max |logit|
PROMPTS = ["Once upon a time, there was a little girl named Lily. She loved to play",
           "The cat sat on the mat and looked at the big red ball."]
GPTQ = ["--method", "gptq", "--calib", CALIB, "--calib-samples", "8", "--calib-seqlen", "64"]
# QAT's trained weights go through the same writer; nvfp4 trains through the fused groups'
# shared global scales, which the loader must find in the file.
QAT = ["--method", "qat", "--calib", CALIB, "--calib-samples", "8", "--calib-seqlen", "64", "--steps", "3",
       "--distill"]

CT = "compressed-tensors"
# (name, quantize arguments, quant_method transformers must see, how it is loaded, reference):
#   "float32": from_pretrained(dtype=float32), logits within TOL of bitsmith's.
#   "decompress": from_pretrained(dtype=float32); compressed-tensors decompresses nvfp4 and MX
#     weights to bfloat16 whatever the model's dtype, so a float32 model fails its first forward
#     (float != BFloat16): the probe decompresses as that forward would and runs those weights in
#     float32. MX weights are exact in bf16 (code x 2^k); nvfp4's (code x scale / global) are not,
#     so nvfp4 is compared with bitsmith's logits of its own output cast to bf16 (reference
#     "bf16"), and its ffn_down stays bf16 (stories260K's 172 columns would fall back to fp8,
#     whose weights that cast would round too).
#   "ct": asymmetric pack-quantized (zero points packed down the rows, as compressed-tensors'
#     compressor writes them and vLLM reads them): transformers 5.24's loader cannot load any such
#     file (it allocates unpacked zero points: llm-compressor#1618), so the weights go through
#     compressed-tensors' own decompress() into a plain float32 model; transformers' error is
#     printed.
#   "refuse": bitsmith's private layout: transformers must raise, not load random weights.
# stories260K's ffn_down rows (172) fit no group of 16/32: those weights fall back to fp8, so its
# grouped outputs are mixed-precision configs (two config groups, two formats).
KINDS = [
    ("bf16", ["--scheme", "bf16"], None, "float32", None),
    ("f16", ["--scheme", "fp16"], None, "float32", None),
    ("fp8_tensor", ["--scheme", "fp8_e4m3"], CT, "float32", None),
    ("fp8_channel", ["--scheme", "fp8_e4m3_channel"], CT, "float32", None),
    ("fp8_block128", ["--scheme", "fp8_e4m3_block128"], CT, "float32", None),
    ("int8_channel", ["--scheme", "int8"], CT, "float32", None),
    ("int4_g32_sym_gptq", ["--scheme", "int4_g32_sym", *GPTQ], CT, "float32", None),
    ("int4_g32_asym_gptq", ["--scheme", "int4_g32", *GPTQ], CT, "ct", None),
    ("mixed_int4_int8_fp8", ["--scheme", "int4_g32_sym", "--rule", "ffn_down=int8", "--rule", "attn_v=fp8_e4m3"],
     CT, "float32", None),
    ("nvfp4", ["--scheme", "nvfp4", "--rule", "ffn_down=bf16"], CT, "decompress", "bf16"),
    ("mxfp4", ["--scheme", "mxfp4"], CT, "decompress", None),
    ("mxfp6_e2m3", ["--scheme", "mxfp6_e2m3"], CT, "decompress", None),
    ("mxfp8", ["--scheme", "mxfp8_e4m3"], CT, "decompress", None),
    ("int4_g32_sym_qat", ["--scheme", "int4_g32_sym", *QAT], CT, "float32", None),
    ("nvfp4_qat", ["--scheme", "nvfp4", "--rule", "ffn_down=bf16", *QAT], CT, "decompress", "bf16"),
    ("private_mxint8", ["--scheme", "mxint8"], None, "refuse", None),
    # a single file with its own name: the folder loads through the model.safetensors.index.json
    # bitsmith writes beside it
    ("custom_name_int8", ["--scheme", "int8"], CT, "float32", None),
]


def smollm2():
    p = subprocess.run([sys.executable, os.path.join(SOURCE, "scripts", "models", "find_model.py")],
                       capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 else None


def sample_texts():
    """Five pieces of real text, each short enough for stories260K's 512-token context."""
    with open(CALIB, encoding="utf-8") as f:
        text = f.read()[:1500]
    return [text[i:i + 300] for i in range(0, 1500, 300)]


class Loaders:
    """Quantizes MODEL into every kind, gets bitsmith's logits, runs the probe once."""
    model = None
    tokenizer_args = []
    kinds = KINDS
    results = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        t = cls.tmp.name
        cls.ours, cls.ids, cls.quant_notes = {}, None, {}
        jobs = []
        for name, args, _, mode, ref in cls.kinds:
            out = os.path.join(t, name)
            target = os.path.join(out, "my-model.safetensors") if name.startswith("custom_name") else out
            # SmolLM2 ships Q4_1: agreement of two loaders on one file needs no grid-free source.
            requant = ["--allow-requantize"] if cls.model.endswith(".gguf") else []
            q = clitest.run_json("quantize", cls.model, target, *cls.tokenizer_args, *args, *requant)
            cls.quant_notes[name] = q
            ours = out
            if ref == "bf16":  # bitsmith reads its output back and casts every weight to bf16
                ours = os.path.join(t, name + "_as_bf16")
                run("quantize", out, ours, "--scheme", "bf16")
            logits, ids = [], []
            for i, prompt in enumerate(PROMPTS):
                f = os.path.join(t, f"{name}.bitsmith.{i}.npy")
                g = clitest.run_json("generate", ours, "--prompt", prompt, "--max-tokens", "0", "--logits", f)
                logits.append(np.load(f))
                ids.append(g["prompt_token_ids"])
            if cls.ids is None:
                cls.ids = ids
            assert ids == cls.ids, f"{name}: bitsmith tokenizes its own output differently"
            cls.ours[name] = logits
            jobs.append({"name": name, "path": out, "dtype": "float32",
                         "upcast": mode == "decompress", "ct_decompress": mode == "ct",
                         "logits": os.path.join(t, f"{name}.hf.npz")})
        job = {"texts": sample_texts() + PROMPTS, "token_ids": cls.ids, "models": jobs}
        res = clitest.run_hf_probe(job, t)
        cls.versions = res["versions"]
        cls.results = {r["name"]: r for r in res["models"]}
        cls.hf_logits = {}
        for r, j in zip(res["models"], jobs):
            if r["ok"]:
                with np.load(j["logits"]) as z:
                    cls.hf_logits[r["name"]] = [z[f"arr_{i}"] for i in range(len(cls.ids))]
        # bitsmith's tokenization of the sample text, for the tokenizer comparison
        cls.our_text_ids = []
        for text in job["texts"]:
            g = clitest.run_json("generate", os.path.join(t, cls.kinds[0][0]), "--prompt", text, "--max-tokens", "0")
            cls.our_text_ids.append(g["prompt_token_ids"])

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def check_logits(self, name):
        r = self.results[name]
        expect, mode = {k: (q, m) for k, _, q, m, _ in self.kinds}[name]
        if mode == "refuse":
            self.assertFalse(r["ok"], f"{self.label} {name}: transformers loaded bitsmith's private layout")
            self.assertIn("bitsmith_packed", r["error"])
            print(f"[{self.label}] {name}: transformers refuses it: {r['error'][:120]}")
            return
        self.assertTrue(r["ok"], f"{self.label} {name}: transformers failed: {r.get('error')}\n{r.get('traceback', '')}")
        self.assertEqual(r.get("quant_method"), expect, f"{name}: quantization_config.quant_method")
        if mode == "ct":
            print(f"[{self.label}] {name}: transformers' own load: {r['transformers_error'] or 'ok'}")
        worst_abs, worst_rel = 0.0, 0.0
        for i, ours in enumerate(self.ours[name]):
            theirs = self.hf_logits[name][i]
            self.assertEqual(ours.shape, theirs.shape)
            d = float(np.abs(ours - theirs).max())
            scale = float(np.abs(ours).max())
            worst_abs, worst_rel = max(worst_abs, d), max(worst_rel, d / scale)
            # the same model: the same next-token choice almost everywhere
            agree = float((ours.argmax(-1) == theirs.argmax(-1)).mean())
            self.assertGreaterEqual(agree, 0.9, f"{name}: top-1 agreement {agree}")
        print(f"[{self.label}] {name}: transformers {self.versions} max |dlogit| {worst_abs:.3g}, relative {worst_rel:.3g}")
        self.assertLessEqual(worst_rel, TOL, f"{self.label} {name}: max |dlogit| {worst_abs} ({worst_rel} of the scale)")

    def test_tokenizer_ids(self):
        r = self.results[self.kinds[0][0]]  # bf16: the tokenizer files are the same in every output
        self.assertIn("tokens", r, r.get("error"))
        for text, ours, theirs in zip(sample_texts() + PROMPTS, self.our_text_ids, r["tokens"]):
            self.assertEqual(ours, theirs, f"{self.label}: ids differ for {text[:40]!r}")
        print(f"[{self.label}] tokenizer: {sum(map(len, self.our_text_ids))} ids equal")


def make_tests(cls):
    for name, *_ in cls.kinds:
        setattr(cls, f"test_logits_{name}", lambda self, n=name: self.check_logits(n))
    return cls


@make_tests
class Stories260K(Loaders, unittest.TestCase):
    label = "stories260K"
    model = STORIES
    tokenizer_args = ["--tokenizer", STORIES_TOK]


SMOL = smollm2()
if SMOL:
    @make_tests
    class SmolLM2(Loaders, unittest.TestCase):
        label = "SmolLM2-135M"
        model = SMOL
        # a subset, each layout family once, to keep the run short (a forward pass of 30 layers
        # per output and prompt, in bitsmith and in torch)
        kinds = [k for k in KINDS if k[0] in ("bf16", "fp8_block128", "int8_channel", "int4_g32_sym_gptq",
                                                "int4_g32_asym_gptq", "mixed_int4_int8_fp8", "nvfp4", "mxfp4",
                                                "private_mxint8", "custom_name_int8")]
else:
    print("note: SmolLM2-135M is not installed (scripts/models/install_smollm2.sh); its cases are left out")


if __name__ == "__main__":
    why = clitest.hf_venv_problem()
    if why:
        print(f"SKIP: {why}")
        sys.exit(clitest.SKIP)
    clitest.main()
