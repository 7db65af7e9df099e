"""bitsmith plan on stories260K: measurements (every tensor, every option, exact KLD and proxy),
resuming a killed run, the allocation under a budget written as a recipe and a GGUF whose tensor
types (read by the gguf package) are the plan's and which llama.cpp runs with bitsmith's
perplexity, the planned mix beating a uniform scheme of the same size on text not used for
calibration, and bad input (one line, exit 2)."""
import json
import os
import shutil
import tempfile
import unittest

from clitest import LLAMA_BIN, SHARED, llama_perplexity, main, run, run_json

MODEL = os.path.join(SHARED, "models", "stories260K", "stories260K.bin")
CALIB = os.path.join(SHARED, "data", "tinyshakespeare.txt")
TEXT = os.path.join(SHARED, "data", "wikitext2_test.txt")
MEASURE = ["--calib", CALIB, "--candidates", "q4_0,q5_0,q8_0", "--calib-samples", "4", "--calib-seqlen", "128"]


class PlanCli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp()
        cls.m = os.path.join(cls.dir, "m.json")
        run("plan", MODEL, *MEASURE, "-o", cls.m)
        with open(cls.m) as f:
            cls.doc = json.load(f)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)

    def p(self, name):
        return os.path.join(self.dir, name)

    def test_every_matrix_measured(self):
        d = self.doc
        self.assertTrue(d["complete"])
        names = [t["name"] for t in d["tensors"]]
        # 5 layers x 7 linears + the (tied) embedding; norms are fixed.
        self.assertEqual(len(names), 36)
        self.assertIn("token_embd.weight", names)
        self.assertEqual(d["calib_tokens"], 4 * 128)
        for t in d["tensors"]:
            schemes = [o["scheme"] for o in t["options"]]
            if t["name"].endswith("ffn_down.weight"):  # 172 columns: no 32-block fits; f16
                self.assertEqual(schemes, ["fp16"])
            else:
                self.assertEqual(schemes, ["q4_0", "q5_0", "q8_0"])
            for o in t["options"]:
                self.assertGreaterEqual(o["proxy"], 0)
                self.assertGreater(o["kld"], -1e-6)  # a KL divergence, up to float noise
            if len(t["options"]) == 3:  # more bits, less loss
                k = [o["kld"] for o in t["options"]]
                self.assertGreater(k[0], k[2], t["name"])
                pr = [o["proxy"] for o in t["options"]]
                self.assertGreater(pr[0], pr[1])
                self.assertGreater(pr[1], pr[2])

    def test_resume_continues_where_a_killed_run_stopped(self):
        part = self.p("part.json")
        d = json.loads(json.dumps(self.doc))
        for t in d["tensors"]:
            if t["name"].startswith("blk.3.") or t["name"].startswith("blk.4."):
                t["measured"] = False
                for o in t["options"]:
                    o["kld"] = o["kld_se"] = o["proxy"] = None
        d["complete"] = False
        with open(part, "w") as f:
            json.dump(d, f)
        run("plan", MODEL, *MEASURE, "--measurements", part)
        with open(part) as f:
            done = json.load(f)
        self.assertTrue(done["complete"])
        for a, b in zip(done["tensors"], self.doc["tensors"]):
            for oa, ob in zip(a["options"], b["options"]):
                self.assertAlmostEqual(oa["kld"], ob["kld"], delta=1e-6 * (1 + abs(ob["kld"])), msg=a["name"])
                self.assertAlmostEqual(oa["proxy"], ob["proxy"], delta=1e-6 * (1 + abs(ob["proxy"])), msg=a["name"])
        # Another configuration must not reuse (or overwrite) the file.
        p = run("plan", MODEL, "--calib", CALIB, "--candidates", "q4_0,q8_0", "--measurements", part, check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("another configuration", p.stderr)

    def test_gptq_options_are_part_of_the_configuration(self):
        # GPTQ's costs depend on --act-order and --weighted-params: a file measured with one set
        # is not resumed (or overwritten) by a run with another.
        m = self.p("gptq.json")
        args = ["--calib", CALIB, "--candidates", "q4_0,q8_0", "--calib-samples", "2", "--calib-seqlen", "64",
                "--method", "gptq", "--act-order", "--weighted-params", "--refit-params"]
        out = run("plan", MODEL, *args, "-o", m).stdout
        self.assertIn("method gptq act-order weighted-params refit-params", out)
        with open(m) as f:
            self.assertEqual(json.load(f)["config"]["method_options"], ["act-order", "weighted-params", "refit-params"])
        p = run("plan", MODEL, *args[:-1], "--measurements", m, check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("another configuration", p.stderr)

    def test_held_out_fit_is_part_of_the_configuration(self):
        # --fit-samples: GPTQ's Hessians from 4 more segments, the costs on the 2 scored ones.
        m = self.p("held.json")
        args = ["--calib", CALIB, "--candidates", "q4_0,q8_0", "--calib-samples", "2", "--calib-seqlen", "64",
                "--method", "gptq"]
        out = run("plan", MODEL, *args, "--fit-samples", "4", "-o", m).stdout
        self.assertIn("its statistics from 4 held-out segments", out)
        with open(m) as f:
            held = json.load(f)
        self.assertEqual(held["config"]["fit_samples"], 4)
        self.assertEqual(held["calib_tokens"], 2 * 64)
        # In-sample, GPTQ fits the very tokens it is scored on: its q4_0 costs come out lower.
        ins = run_json("plan", MODEL, *args, "--json")
        self.assertEqual(ins["measurements"]["config"]["fit_samples"], 0)

        def q4_sum(doc):
            return sum(t["options"][0]["kld"] for t in doc["tensors"] if t["name"].startswith("blk."))
        self.assertLess(q4_sum(ins["measurements"]), q4_sum(held))
        p = run("plan", MODEL, *args, "--fit-samples", "2", "--measurements", m, check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("another configuration", p.stderr)

    def test_allocation_writes_the_recipe_and_a_gguf_llama_cpp_runs(self):
        out, recipe = self.p("planned.gguf"), self.p("planned.recipe.json")
        alloc = run_json("plan", MODEL, "--measurements", self.m, "--target-bpw", "7.5", "--recipe-out", recipe)
        self.assertLessEqual(alloc["allocation"]["bytes"], alloc["allocation"]["budget_bytes"])
        self.assertLessEqual(alloc["allocation"]["bits_per_weight"], 7.5)
        self.assertLessEqual(alloc["allocation"]["lower_bound"], alloc["allocation"]["summed_cost"] + 1e-12)
        chosen = {t["name"]: t["scheme"] for t in alloc["allocation"]["tensors"]}
        self.assertGreater(len(set(chosen.values())), 1, "a 7.5 bpw budget between q4_0 and q8_0 mixes schemes")
        run("plan", MODEL, "--measurements", self.m, "--target-bpw", "7.5", "-o", out)
        gguf = __import__("gguf")
        types = {t.name: t.tensor_type.name.lower() for t in gguf.GGUFReader(out).tensors}
        for name, scheme in chosen.items():
            self.assertEqual(types[name], {"fp16": "f16"}.get(scheme, scheme), name)
        info = run_json("inspect", out)
        self.assertLessEqual(info["bytes"] * 8 / info["parameters"], 7.5 + 1e-9)
        # Measured with rtn, written with imatrix from the measurements' calibration text: the same types.
        im = self.p("planned-imatrix.gguf")
        run("plan", MODEL, "--measurements", self.m, "--target-bpw", "7.5", "-o", im, "--write-method", "imatrix")
        self.assertEqual({t.name: t.tensor_type.name.lower() for t in gguf.GGUFReader(im).tensors}, types)
        with open(out, "rb") as a, open(im, "rb") as b:
            self.assertNotEqual(a.read(), b.read())
        # The recipe file reproduces the same model through quantize.
        again = self.p("again.gguf")
        run("quantize", MODEL, again, "--recipe", recipe)
        with open(out, "rb") as a, open(again, "rb") as b:
            self.assertEqual(a.read(), b.read())
        ppl = llama_perplexity(out, TEXT, 128, 8)
        if ppl is None:
            self.skipTest(f"no llama-perplexity in {LLAMA_BIN}")
        ours = run_json("eval", out, "--text", TEXT, "--ctx", "128", "--max-chunks", "8")
        # llama.cpp's q4_0/q5_0 dot products quantize the activations to q8_0 (bitsmith keeps them
        # float32), so the two agree to 0.1%, not to float rounding (82.594 vs 82.613 here).
        self.assertAlmostEqual(ours["perplexity"], ppl, delta=ppl * 1e-3)

    def test_planned_mix_beats_uniform_q5_0_of_the_same_size(self):
        # Uniform q5_0 (ffn_down falls back to f16 as in the plan): its bits per weight is the budget.
        uni = self.p("q5_0.gguf")
        run("quantize", MODEL, uni, "--scheme", "q5_0")
        info = run_json("inspect", uni)
        bpw = info["bytes"] * 8 / info["parameters"]
        planned = self.p("same-size.gguf")
        run("plan", MODEL, "--measurements", self.m, "--target-bpw", f"{bpw:.6f}", "-o", planned)
        self.assertLessEqual(os.path.getsize(planned), os.path.getsize(uni) + 64)
        ref = self.p("f32.gguf")
        run("quantize", MODEL, ref, "--scheme", "f32")
        kld = {}
        for name, path in (("uniform", uni), ("planned", planned)):
            kld[name] = run_json("eval", path, "--ref", ref, "--text", TEXT, "--ctx", "128", "--max-chunks", "40")["kld"]
        self.assertLess(kld["planned"], kld["uniform"], kld)

    def test_target_bytes(self):
        # A plain integer is bytes; a unit is decimal.
        a = run_json("plan", MODEL, "--measurements", self.m, "--target-bytes", "240000")["allocation"]
        self.assertEqual(a["budget_bytes"], 240000)
        self.assertLessEqual(a["bytes"], 240000)
        b = run_json("plan", MODEL, "--measurements", self.m, "--target-bytes", "0.24MB")["allocation"]
        self.assertEqual(b["budget_bytes"], 240000)

    def test_device_budget(self):
        # A 24 GB card holds stories260K at its best: every tensor takes its largest option.
        alloc = run_json("plan", MODEL, "--measurements", self.m, "--device", "rtx-4090", "--context", "512")["allocation"]
        best = sum(t["options"][-1]["bytes"] for t in self.doc["tensors"]) + self.doc["fixed_bytes"]
        self.assertEqual(alloc["bytes"], best)
        p = run("plan", MODEL, "--measurements", self.m, "--device", "tiny=0.5GB", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("nothing left for weights", p.stderr)
        p = run("plan", MODEL, "--measurements", self.m, "--target-bpw", "8", "--context", "64", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)

    def test_advise_offers_the_planned_mix(self):
        # What plan --device allocates is what advise shows as the planned mix on that device.
        alloc = run_json("plan", MODEL, "--measurements", self.m, "--device", "tiny=1.0008GB", "--context", "256")
        adv = run_json("advise", MODEL, "--device", "tiny=1.0008GB", "--context", "256", "--measurements", self.m)
        planned = [a for a in adv["alternatives"] if a["scheme"] == "planned mix"]
        self.assertEqual(len(planned), 1, adv["alternatives"])
        self.assertAlmostEqual(planned[0]["bits_per_weight"], alloc["allocation"]["bits_per_weight"], places=9)
        best = sum(t["options"][-1]["bytes"] for t in self.doc["tensors"]) + self.doc["fixed_bytes"]
        self.assertLess(alloc["allocation"]["bytes"], best)  # the budget forces a real mix

    def test_bad_input(self):
        cases = [
            (["--measurements", self.m, "--target-bpw", "2"], "below the smallest plan"),
            (["--calib", CALIB, "--candidates", "q4_0,zz_9"], "zz_9"),
            (["--calib", CALIB, "--candidates", "q4_0", "--method", "awq"], "awq"),
            (["--calib", CALIB, "--candidates", "nvfp4", "-o", self.p("x.gguf"), "--target-bpw", "8"], "GGUF"),
            (["--calib", CALIB, "--candidates", "q4_0", "--calib-seqlen", "100000"], "context"),
            (["--measurements", self.m, "-o", self.p("y.gguf")], "budget"),
            (["--calib", CALIB, "--candidates", "q4_0", "--costs", "some"], "costs"),
            (["--calib", CALIB], "--candidates"),
            (["--measurements", self.m, "--calib", CALIB, "--target-bpw", "7.5"], "-o"),
            (["--measurements", self.m, "--target-bpw", "7", "--target-bytes", "1MB"], "one budget"),
            (["--measurements", self.m, "--device", "no-such-gpu"], "no-such-gpu"),
            (["--calib", CALIB, "--candidates", "q4_0", "--act-order"], "GPTQ"),
            (["--calib", CALIB, "--candidates", "q4_0", "--weighted-params"], "GPTQ"),
            (["--calib", CALIB, "--candidates", "q4_0", "--refit-params"], "GPTQ"),
            (["--measurements", self.m, "--target-bpw", "7.5", "-o", self.p("z.gguf"), "--write-method", "imatrix",
              "--weighted-params"], "GPTQ"),
            (["--measurements", self.m, "--target-bpw", "7.5", "--write-method", "gptq"], "-o"),
            (["--measurements", self.m, "--method", "gptq", "--target-bpw", "7.5"], "--write-method"),
            (["--calib", CALIB, "--candidates", "q4_0", "--fit-samples", "4"], "rtn uses none"),
            (["--calib", CALIB, "--candidates", "q4_0", "--calib-samples", "100000000000"], "calibration tokens"),
            (["--calib", CALIB, "--candidates", "q4_0", "--method", "gptq", "--fit-samples", "100000000000"],
             "calibration tokens"),
            (["--calib", CALIB, "--candidates", "q4_0", "--method", "gptq", "--fit-samples", "-1"], ">= 0"),
            (["--measurements", self.m, "--fit-samples", "4", "--target-bpw", "7.5"], "--candidates"),
        ]
        for args, words in cases:
            p = run("plan", MODEL, *args, check=False)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
            self.assertIn(words, p.stderr, args)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertFalse(os.path.exists(self.p("x.gguf")))
        # A model without its tokenizer cannot be calibrated.
        solo = self.p("solo.bin")
        shutil.copy(MODEL, solo)
        p = run("plan", solo, "--calib", CALIB, "--candidates", "q4_0", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("no tokenizer", p.stderr)
        deep = self.p("deep.json")
        with open(deep, "w") as f:
            f.write("[" * 100000)
        p = run("plan", MODEL, "--measurements", deep, "--target-bpw", "8", check=False)
        self.assertEqual(p.returncode, 1, p.stderr)  # a corrupt file: the work failed
        self.assertIn("deeper", p.stderr)


if __name__ == "__main__":
    main()
