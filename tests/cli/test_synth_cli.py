"""bitsmith synth: deterministic synthetic checkpoints that the gguf and safetensors packages,
bitsmith itself and llama.cpp read."""
import filecmp
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import clitest
from clitest import run, run_json

np = clitest.require_module("numpy")
gguf = clitest.require_module("gguf")
clitest.require_module("safetensors")
from safetensors.numpy import load_file  # noqa: E402


class SynthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="bitsmith_synth_")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def p(self, n):
        return os.path.join(self.tmp, n)

    def test_gguf_shapes_determinism_and_stats(self):
        d = run_json("synth", self.p("a.gguf"), "--dim", "128", "--hidden", "320", "--layers", "3", "--seed", "7")
        run("synth", self.p("b.gguf"), "--dim", "128", "--hidden", "320", "--layers", "3", "--seed", "7")
        run("synth", self.p("c.gguf"), "--dim", "128", "--hidden", "320", "--layers", "3", "--seed", "8")
        self.assertTrue(filecmp.cmp(self.p("a.gguf"), self.p("b.gguf"), shallow=False))
        self.assertFalse(filecmp.cmp(self.p("a.gguf"), self.p("c.gguf"), shallow=False))
        r = gguf.GGUFReader(self.p("a.gguf"))
        ts = {t.name: t for t in r.tensors}
        self.assertEqual(len(ts), 2 + 9 * 3 + 1)
        self.assertEqual([int(x) for x in ts["blk.2.ffn_down.weight"].shape], [320, 128])  # innermost first
        w = np.asarray(ts["blk.1.attn_q.weight"].data, np.float32)
        self.assertAlmostEqual(float(w.std()), 0.02, delta=0.002)
        self.assertLessEqual(float(np.abs(w).max()), 0.02 * 3 ** 0.5)
        norm = np.asarray(ts["blk.0.attn_norm.weight"].data, np.float32)
        self.assertAlmostEqual(float(norm.mean()), 1.0, delta=0.01)
        self.assertEqual(d["parameters"], sum(int(np.prod([int(x) for x in t.shape])) for t in r.tensors))
        self.assertIn("tokenizer.ggml.tokens", r.fields)

    def test_safetensors_and_size(self):
        d = run_json("synth", self.p("hf"), "--size", "20MB", "--dim", "256", "--hidden", "512", "--vocab", "1000")
        self.assertLessEqual(d["parameters"] * 4, 20e6)
        self.assertGreater(d["parameters"] * 4, 10e6)
        st = load_file(os.path.join(self.tmp, "hf", "model.safetensors"))
        self.assertEqual(st["model.embed_tokens.weight"].shape, (1000, 256))
        self.assertEqual(st["lm_head.weight"].shape, (1000, 256))
        with open(os.path.join(self.tmp, "hf", "config.json")) as f:
            cfg = json.load(f)
        self.assertEqual(cfg["num_hidden_layers"], d["n_layers"])
        info = run_json("inspect", self.p("hf"))
        self.assertEqual(info["tokenizer"]["tokens"], 1000)
        self.assertEqual(info["parameters"], d["parameters"])

    def test_bad_usage(self):
        self.assertEqual(run("synth", self.p("x.gguf"), "--dim", "100", "--heads", "3", check=False).returncode, 2)
        self.assertEqual(run("synth", self.p("x.gguf"), "--size", "lots", check=False).returncode, 2)
        self.assertFalse(os.path.exists(self.p("x.gguf")))

    def test_llama_cpp_loads_synthetic(self):
        peers = os.environ.get("BITSMITH_PEERS_DIR", os.path.expanduser("~/.cache/bitsmith/llama.cpp"))
        exe = os.path.join(peers, "build", "bin", "llama-completion")
        if not os.path.exists(exe):
            self.skipTest("llama.cpp's llama-completion is not built")
        run("synth", self.p("l.gguf"), "--dim", "128", "--hidden", "256", "--layers", "2", "--vocab", "600")
        q = self.p("l-q4.gguf")
        run("quantize", self.p("l.gguf"), q, "--scheme", "q4_k_m")
        for m in (self.p("l.gguf"), q):
            p = subprocess.run([exe, "-m", m, "-no-cnv", "--temp", "0", "-n", "8", "-p", "abc"],
                               capture_output=True, text=True, errors="replace", timeout=300)
            self.assertEqual(p.returncode, 0, p.stderr[-2000:])


if __name__ == "__main__":
    clitest.main()
