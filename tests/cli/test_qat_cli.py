"""bitsmith quantize --method qat [--distill] end to end on stories260K: a distilled QAT run
lowers the KL divergence to the float model below RTN's of the same scheme on a text it was not
trained on (WikiText-2; training on Tiny Shakespeare); the file written holds the scheme (read
back) and loads in eval and, as a GGUF, in llama.cpp with the perplexity eval gives; --dry-run reports the same plan as the real run; bad input gives one
clear line, exit 2 (usage) or 1 (failed work), and leaves no output behind."""
import os
import tempfile
import unittest

from clitest import LLAMA_BIN, SHARED, llama_perplexity, main, run, run_json

MODEL = os.path.join(SHARED, "models", "stories260K", "stories260K.bin")
CALIB = os.path.join(SHARED, "data", "tinyshakespeare.txt")
EVAL = os.path.join(SHARED, "data", "wikitext2_test.txt")
# Small enough for CI on two shared cores: 60 steps of 4 x 127 tokens.
QAT = ["--method", "qat", "--calib", CALIB, "--calib-samples", "64", "--calib-seqlen", "128", "--steps", "60",
       "--lr", "5e-4", "--distill"]


class Qat(unittest.TestCase):
    @classmethod
    def out(cls, name, ext="safetensors"):  # a safetensors model is a folder of its own
        os.makedirs(os.path.join(cls.tmp.name, name))
        return os.path.join(cls.tmp.name, name, "model." + ext)

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(MODEL):
            raise unittest.SkipTest("stories260K missing")
        cls.tmp = tempfile.TemporaryDirectory()
        cls.rtn = cls.out("rtn")
        cls.qat = cls.out("qat")
        run_json("quantize", MODEL, cls.rtn, "--scheme", "int3_g32")
        cls.report = run_json("quantize", MODEL, cls.qat, "--scheme", "int3_g32", *QAT)
        cls.kld = {}
        for name, path in [("rtn", cls.rtn), ("qat", cls.qat)]:
            cls.kld[name] = run_json("eval", path, "--text", EVAL, "--ref", MODEL, "--max-chunks", "10")["kld"]

    def test_distilled_qat_beats_rtn_on_held_out_text(self):
        print(f"int3_g32 KLD on wikitext2 (10 chunks): {self.kld}")
        self.assertLess(self.kld["qat"], self.kld["rtn"], self.kld)

    def test_report_and_written_schemes(self):
        j = self.report
        self.assertEqual(j["method"], "qat")
        self.assertEqual(j["qat"], {"steps": 60, "lr": 5e-4, "batch": 4, "distill": True})
        self.assertTrue(any("KL divergence to the float model" in n for n in j["method_notes"]), j["method_notes"])
        # Read back: every tensor is stored in its planned scheme (int3_g32; ffn_down's fallback),
        # the same plan as RTN's.
        stored = {t["name"]: t["dtype"] for t in run_json("inspect", self.qat)["tensors"]}
        planned = {t["name"]: t["scheme"] for t in j["tensors"]}
        self.assertEqual(stored["blk.0.attn_q.weight"], "int3_g32")
        for name, scheme in planned.items():
            if scheme not in ("f32", "bf16", "f16"):
                self.assertEqual(stored[name].lower(), scheme.lower(), name)
        rtn_plan = {t["name"]: t["scheme"] for t in run_json("quantize", MODEL, self.out("plan"), "--scheme", "int3_g32",
                                                              "--dry-run")["tensors"]}
        self.assertEqual(planned, rtn_plan)

    def test_dry_run_reports_the_same_plan(self):
        out = self.out("dry")
        d = run_json("quantize", MODEL, out, "--scheme", "int3_g32", *QAT, "--dry-run")
        self.assertTrue(d["dry_run"])
        self.assertFalse(os.path.exists(out))
        # The request and the plan (a dry run computes no byte totals, for any method).
        for key in ["input", "method", "scheme", "recipe", "format", "qat", "activations"]:
            self.assertEqual(d[key], self.report[key], key)
        fields = lambda j: [(t["name"], t["scheme"], t.get("fallback_from"), t["reason"]) for t in j["tensors"]]
        self.assertEqual(fields(d), fields(self.report))

    def test_q4_0_gguf(self):
        out = self.out("q4_0", "gguf")
        j = run_json("quantize", MODEL, out, "--scheme", "q4_0", "--method", "qat", "--calib", CALIB,
                     "--calib-samples", "8", "--calib-seqlen", "64", "--steps", "3", "--distill")
        self.assertEqual(j["format"], "gguf")
        types = {t["name"]: t["dtype"] for t in run_json("inspect", out)["tensors"]}
        self.assertEqual(types["blk.0.attn_q.weight"].lower(), "q4_0", types)
        self.assertIn("KL divergence", " ".join(j["method_notes"]))
        # llama.cpp loads and runs the QAT-trained GGUF. Its q4_0 dot products quantize the
        # activations to q8_0 (bitsmith keeps them float32), which moves these fine-tuned weights'
        # perplexity by 0.2% (74.73 vs 74.58 here; RTN's q4_0 by 0.02%); so the exact check is on
        # the same weights dequantized to F32, where both engines compute in float32.
        ppl = llama_perplexity(out, EVAL, 128, 8)
        if ppl is None:
            print(f"note: no llama-perplexity in {LLAMA_BIN}; the llama.cpp load is not checked")
            return
        ours = run_json("eval", out, "--text", EVAL, "--ctx", "128", "--max-chunks", "8")
        self.assertAlmostEqual(ours["perplexity"], ppl, delta=ppl * 5e-3)
        f32 = self.out("q4_0-as-f32", "gguf")
        run("quantize", out, f32, "--scheme", "f32", "--allow-requantize")
        ours_f32 = run_json("eval", f32, "--text", EVAL, "--ctx", "128", "--max-chunks", "8")
        self.assertAlmostEqual(ours_f32["perplexity"], ours["perplexity"], delta=ours["perplexity"] * 1e-6)
        self.assertAlmostEqual(llama_perplexity(f32, EVAL, 128, 8), ours_f32["perplexity"],
                               delta=ours_f32["perplexity"] * 1e-4)

    def test_bad_input(self):
        out = os.path.join(self.tmp.name, "never", "model.safetensors")
        cases = [(["--steps", "5"], 2, "QAT options"),
                 (["--distill"], 2, "QAT options"),
                 (["--method", "gptq", "--calib", CALIB, "--distill"], 2, "QAT options"),
                 (["--method", "qat", "--steps", "5"], 2, "needs calibration text"),
                 (["--method", "qat", "--calib", CALIB, "--steps", "0"], 2, "steps"),
                 (["--method", "qat", "--calib", CALIB, "--calib-seqlen", "1"], 2, "no token to predict"),
                 # A learning rate that blows the weights up: the run stops at a non-finite loss.
                 (["--method", "qat", "--calib", CALIB, "--calib-samples", "8", "--calib-seqlen", "64",
                   "--steps", "5", "--lr", "1e30"], 1, "diverged")]
        for args, code, words in cases:
            p = run("quantize", MODEL, out, "--scheme", "int3_g32", *args, check=False)
            self.assertEqual(p.returncode, code, f"{args}: {p.stderr}")
            self.assertIn(words, p.stderr, args)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
            self.assertFalse(os.path.exists(os.path.dirname(out)), args)


if __name__ == "__main__":
    main()
