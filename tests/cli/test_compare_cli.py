"""bitsmith compare: one row per scheme with verdicts, and a Pareto front that is one."""
import os
import tempfile
import unittest

import clitest

MODEL = os.path.join(clitest.SHARED, "models", "stories260K", "stories260K.bin")
TOK = os.path.join(clitest.SHARED, "models", "stories260K", "tok512.bin")
TEXT = os.path.join(clitest.SHARED, "data", "wikitext2_test.txt")
SCHEMES = "nvfp4,mxfp4,q4_0,q8_0,int4_g32,fp8_e4m3"


class CompareTest(unittest.TestCase):
    def test_json(self):
        doc = clitest.run_json("compare", MODEL, "--tokenizer", TOK, "--text", TEXT, "--ctx", 256,
                               "--max-chunks", 6, "--schemes", SCHEMES)
        rows = doc["results"]
        self.assertEqual([r["scheme"] for r in rows], SCHEMES.split(","))
        base = doc["baseline"]["perplexity"]
        for r in rows:
            self.assertAlmostEqual(r["delta_ppl"], r["perplexity"] - base, places=9)
            self.assertIn(r["verdict"], ("excellent", "good", "acceptable", "too aggressive"))
            self.assertLess(r["bytes"], doc["baseline"]["bytes"])
            self.assertGreater(r["kld"], 0)
        # The front: no scheme on it is beaten on both bytes and KLD by another.
        by = {r["scheme"]: r for r in rows}
        self.assertTrue(doc["pareto"])
        for s in doc["pareto"]:
            for o in rows:
                self.assertFalse(o["bytes"] < by[s]["bytes"] and o["kld"] < by[s]["kld"], (s, o["scheme"]))
        for r in rows:
            if r["scheme"] not in doc["pareto"]:
                self.assertTrue(any(o["bytes"] <= r["bytes"] and o["kld"] <= r["kld"] for o in rows if o is not r))

    def test_bytes_are_what_quantize_writes(self):
        """bytes/bpw are the model as `bitsmith quantize --scheme S` writes it: the tensor bytes of
        the written GGUF (embedding per recipe, fallbacks for the 172-wide ffn_down)."""
        doc = clitest.run_json("compare", MODEL, "--tokenizer", TOK, "--text", TEXT, "--ctx", 256,
                               "--max-chunks", 1, "--schemes", "q8_0,q4_0")
        rows = {r["scheme"]: r for r in doc["results"]}
        with tempfile.TemporaryDirectory() as d:
            for s in ("q8_0", "q4_0"):
                out = os.path.join(d, s + ".gguf")
                clitest.run("quantize", MODEL, out, "--tokenizer", TOK, "--scheme", s)
                written = clitest.run_json("inspect", out)
                self.assertEqual(rows[s]["bytes"], written["bytes"], s)
                self.assertAlmostEqual(rows[s]["bits_per_weight"], written["bits_per_weight"], places=9)
                ev = clitest.run_json("eval", MODEL, "--tokenizer", TOK, "--text", TEXT, "--ctx", 256,
                                      "--max-chunks", 1, "--scheme", s)
                self.assertEqual(ev["bytes"], written["bytes"], s)
                # The fake-quantized model is the written file: same perplexity to float rounding.
                fw = clitest.run_json("eval", out, "--text", TEXT, "--ctx", 256, "--max-chunks", 1)
                self.assertAlmostEqual(ev["perplexity"], fw["perplexity"], delta=1e-4 * fw["perplexity"])
        # ffn_down (172 wide) does not fit 32-blocks: listed with the fallback quantize gives it.
        fb = rows["q4_0"]["fallbacks"]
        self.assertEqual(set(fb), set(rows["q4_0"]["kept_unquantized"]))
        self.assertEqual({n.split(".")[2] for n in fb}, {"ffn_down"})
        # --linears-only: the old plan (block linears that fit; everything else as stored).
        lin = clitest.run_json("compare", MODEL, "--tokenizer", TOK, "--text", TEXT, "--ctx", 256,
                               "--max-chunks", 1, "--schemes", "q4_0", "--linears-only")
        self.assertNotIn("fallbacks", lin["results"][0])
        self.assertEqual(set(lin["results"][0]["kept_unquantized"]), set(fb))

    def test_recipes_are_rows_scored_as_quantize_writes_them(self):
        """--recipe rows (and recipe names in --schemes) are the plan `quantize --recipe` writes."""
        doc = clitest.run_json("compare", MODEL, "--tokenizer", TOK, "--text", TEXT, "--ctx", 256,
                               "--max-chunks", 1, "--schemes", "q4_0,q3_k_m", "--recipe", "q2_k")
        rows = {r["scheme"]: r for r in doc["results"]}
        self.assertEqual(list(rows), ["q4_0", "q3_k_m", "q2_k"])
        with tempfile.TemporaryDirectory() as d:
            for r in ("q3_k_m", "q2_k"):
                out = os.path.join(d, r + ".gguf")
                clitest.run("quantize", MODEL, out, "--tokenizer", TOK, "--recipe", r)
                written = clitest.run_json("inspect", out)
                self.assertEqual(rows[r]["bytes"], written["bytes"], r)
                ev = clitest.run_json("eval", MODEL, "--tokenizer", TOK, "--text", TEXT, "--ctx", 256,
                                      "--max-chunks", 1, "--recipe", r)
                self.assertEqual(ev["bytes"], written["bytes"], r)
                self.assertAlmostEqual(ev["perplexity"], rows[r]["perplexity"], delta=1e-6 * ev["perplexity"])
        # On 64-wide rows q3_k_m's base q3_k falls back to q4_0, but its attn_v/attn_output ask
        # for q4_k/q5_k (-> q5_0/q5_1): more bytes than uniform q4_0.
        self.assertGreater(rows["q3_k_m"]["bytes"], rows["q4_0"]["bytes"])
        self.assertEqual(clitest.run("compare", MODEL, "--tokenizer", TOK, "--text", TEXT,
                                     "--recipe", "q4_0", check=False).returncode, 2)

    def test_table_and_usage(self):
        p = clitest.run("compare", MODEL, "--tokenizer", TOK, "--text", TEXT, "--ctx", 256,
                        "--max-chunks", 2, "--schemes", "q8_0", "--act-scheme", "fp8_e4m3")
        self.assertIn("Pareto", p.stdout)
        self.assertEqual(clitest.run("compare", MODEL, "--tokenizer", TOK, "--text", TEXT,
                                     "--schemes", "bogus", check=False).returncode, 2)


if __name__ == "__main__":
    clitest.main()
