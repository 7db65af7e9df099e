"""Named recipes against the peer: for every llama.cpp mix bitsmith names (q2_k ... q6_k), the
real llama-quantize and `bitsmith quantize --recipe` must give every tensor the same GGUF type.

Models (all F32 GGUF inputs, quantized by both tools from the same file):
  - stories260K (dim 64, hidden 172: every k-quant falls back, ffn_down ends in F16);
  - synth8: dim 256, hidden 512, 8 layers, 8 heads / 2 kv heads (GQA 4), untied output:
    rows of 256 so the k-quant rules apply, use_more_bits is layers 0, 3, 6, 7;
  - synth16: dim 256, hidden 768, 16 layers, 4 heads / 4 kv heads (no GQA), tied embedding.
Skips (exit 77) with the reason when llama-quantize or the gguf package is absent.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import clitest
from clitest import SHARED, SKIP, run

RECIPES = ["q2_k", "q3_k_s", "q3_k_m", "q3_k_l", "q4_k_s", "q4_k_m", "q5_k_s", "q5_k_m", "q6_k"]
STORIES = os.path.join(SHARED, "models", "stories260K", "stories260K.bin")
STORIES_TOK = os.path.join(SHARED, "models", "stories260K", "tok512.bin")
SYNTH = {
    "synth8": ["--dim", "256", "--hidden", "512", "--layers", "8", "--heads", "8", "--kv-heads", "2"],
    "synth16": ["--dim", "256", "--hidden", "768", "--layers", "16", "--heads", "4", "--kv-heads", "4", "--tied"],
}


def llama_bin():
    """The peer's bin directory, as scripts/peers/build_llamacpp.sh --env reports it."""
    if os.environ.get("LLAMA_CPP_BIN"):
        return os.environ["LLAMA_CPP_BIN"]
    src = os.environ.get("BITSMITH_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
    script = os.path.join(src, "scripts", "peers", "build_llamacpp.sh")
    try:
        out = subprocess.run(["bash", script, "--env"], capture_output=True, text=True, timeout=60).stdout
        for line in out.splitlines():
            if line.startswith("export LLAMA_CPP_BIN="):
                return line.split("=", 1)[1].strip("'\"")
    except (OSError, subprocess.SubprocessError):
        pass
    return os.path.expanduser("~/.cache/bitsmith/llama.cpp/build/bin")


BIN_DIR = llama_bin()
QUANTIZE = os.path.join(BIN_DIR, "llama-quantize")


def tensor_types(path):
    import gguf
    r = gguf.GGUFReader(path)
    return {t.name: t.tensor_type.name for t in r.tensors}


class RecipesMatchLlamaQuantize(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="bitsmith_recipe_peer_")
        cls.models = {}
        s = os.path.join(cls.dir, "stories260K.gguf")
        run("quantize", STORIES, s, "--scheme", "f32", "--tokenizer", STORIES_TOK)
        cls.models["stories260K"] = s
        for name, args in SYNTH.items():
            p = os.path.join(cls.dir, name + ".gguf")
            run("synth", p, *args)
            cls.models[name] = p

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def peer(self, src, recipe):
        out = os.path.join(self.dir, f"peer-{os.path.basename(src)}-{recipe}.gguf")
        env = dict(os.environ, LD_LIBRARY_PATH=BIN_DIR + ":" + os.environ.get("LD_LIBRARY_PATH", ""))
        p = subprocess.run([QUANTIZE, src, out, recipe.upper(), "1"], capture_output=True, text=True, env=env,
                           timeout=600)
        self.assertEqual(p.returncode, 0, f"llama-quantize {recipe} on {src}:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
        return tensor_types(out)

    def ours(self, src, recipe):
        out = os.path.join(self.dir, f"ours-{os.path.basename(src)}-{recipe}.gguf")
        run("quantize", src, out, "--recipe", recipe)
        return tensor_types(out)

    def test_every_recipe_on_every_model(self):
        for model, src in self.models.items():
            for recipe in RECIPES:
                with self.subTest(model=model, recipe=recipe):
                    want = self.peer(src, recipe)
                    got = self.ours(src, recipe)
                    self.assertEqual(set(got), set(want))
                    diff = {n: (got[n], want[n]) for n in want if got.get(n) != want[n]}
                    self.assertEqual(diff, {}, f"{recipe} on {model}: (bitsmith, llama-quantize)")
                    kinds = sorted(set(want.values()))
                    print(f"{model:12s} {recipe:7s} {len(want) - len(diff)}/{len(want)} tensors match "
                          f"({', '.join(kinds)})", file=sys.stderr)

    def test_mixes_differ_from_uniform(self):
        # The check above must be able to fail: on synth8 the q4_k_m mix is not uniform q4_k,
        # and --scheme q2_k (uniform) is not --recipe q2_k (the mix).
        src = self.models["synth8"]
        mix = self.ours(src, "q4_k_m")
        self.assertEqual(mix["blk.0.attn_v.weight"], "Q6_K")
        self.assertEqual(mix["blk.1.attn_v.weight"], "Q4_K")
        out = os.path.join(self.dir, "uniform-q2_k.gguf")
        run("quantize", src, out, "--scheme", "q2_k")
        uniform = tensor_types(out)
        self.assertEqual(uniform["blk.0.ffn_down.weight"], "Q2_K")
        self.assertEqual(self.ours(src, "q2_k")["blk.0.ffn_down.weight"], "Q3_K")


if __name__ == "__main__":
    if not os.path.exists(QUANTIZE):
        print(f"SKIP: llama-quantize not found at {QUANTIZE} (build it with scripts/peers/build_llamacpp.sh)")
        sys.exit(SKIP)
    try:
        import gguf  # noqa: F401
    except ImportError:
        print("SKIP: Python package 'gguf' is not installed")
        sys.exit(SKIP)
    clitest.main()
