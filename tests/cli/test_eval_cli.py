"""bitsmith eval: perplexity conventions, the ref/KLD fields, fake-quant of weights and activations.
The full stories260K wikitext2 ctx 256 run (116.07, as llama.cpp) is tests/eval's; here a few
chunks keep the CLI test fast, checked against properties that must hold."""
import math
import os
import tempfile
import unittest

import clitest

MODEL = os.path.join(clitest.SHARED, "models", "stories260K", "stories260K.bin")
TOK = os.path.join(clitest.SHARED, "models", "stories260K", "tok512.bin")
TEXT = os.path.join(clitest.SHARED, "data", "wikitext2_test.txt")
BASE = ("eval", MODEL, "--tokenizer", TOK, "--text", TEXT, "--ctx", 256, "--max-chunks", 8)


class EvalTest(unittest.TestCase):
    def test_llamacpp_fields(self):
        doc = clitest.run_json(*BASE)
        for k in ("model", "text", "style", "ctx", "tokens", "chunks", "perplexity", "nll", "tokens_per_second"):
            self.assertIn(k, doc)
        self.assertEqual(doc["style"], "llamacpp")
        self.assertEqual(doc["tokens"], 815069)
        self.assertEqual(doc["chunks"], 8)
        self.assertEqual(doc["scored"], 8 * 127)
        self.assertAlmostEqual(doc["perplexity"], math.exp(doc["nll"]), places=6)
        self.assertNotIn("kld", doc)

    def test_gptq_style_scores_every_token(self):
        doc = clitest.run_json(*BASE, "--style", "gptq")
        self.assertEqual(doc["scored"], 8 * 255)
        self.assertGreater(doc["perplexity"], 10)

    def test_self_reference_is_exact(self):
        doc = clitest.run_json(*BASE, "--ref", MODEL)
        self.assertAlmostEqual(doc["kld"], 0.0, places=9)
        self.assertEqual(doc["top1_agreement"], 1.0)
        self.assertAlmostEqual(doc["ppl_ratio"], 1.0, places=12)

    def test_scheme_gives_kld_against_unquantized(self):
        q8 = clitest.run_json(*BASE, "--scheme", "q8_0")
        fp4 = clitest.run_json(*BASE, "--scheme", "nvfp4")
        for d in (q8, fp4):
            self.assertGreater(d["kld"], 0)
            self.assertLess(d["top1_agreement"], 1.0)
        self.assertLess(q8["kld"], fp4["kld"])  # 8 bits lose less than 4
        a8 = clitest.run_json(*BASE, "--scheme", "fp8_e4m3", "--act-scheme", "fp8_e4m3")
        w8 = clitest.run_json(*BASE, "--scheme", "fp8_e4m3")
        self.assertGreater(a8["kld"], w8["kld"])
        self.assertEqual(a8["act_scheme"], "fp8_e4m3")

    def test_human_output_and_errors(self):
        p = clitest.run(*BASE)
        self.assertIn("perplexity", p.stdout)
        self.assertEqual(clitest.run(*BASE, "--style", "nope", check=False).returncode, 2)
        self.assertEqual(clitest.run(*BASE, "--scheme", "nope", check=False).returncode, 2)
        self.assertEqual(clitest.run(*BASE, "--ctx", 100000, check=False).returncode, 2)
        with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
            f.write("too short")
            f.flush()
            p = clitest.run("eval", MODEL, "--tokenizer", TOK, "--text", f.name, "--ctx", 256, check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn("fewer than one chunk", p.stderr)


if __name__ == "__main__":
    clitest.main()
