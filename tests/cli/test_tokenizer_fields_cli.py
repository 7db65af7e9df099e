"""Every tokenizer field survives GGUF -> safetensors -> GGUF (SmolLM2-135M, byte-level BPE with
the "smollm" digit-splitting pre-tokenizer): the tokenizer.json bitsmith writes tokenises both
shared texts exactly as llama.cpp (llama-tokenize) does on the original GGUF, read by Hugging
Face's `tokenizers`; the GGUF written back carries the same pre-tokenizer name, chat template,
padding id, add_space_prefix, add_bos/add_eos and general.name, and llama-tokenize gives the same
ids on it. Skips (saying why) without SmolLM2, the gguf/tokenizers packages or llama.cpp."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

import clitest
from clitest import SHARED, run

gguf = clitest.require_module("gguf")
tokenizers = clitest.require_module("tokenizers")
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("BITSMITH_SOURCE_DIR", os.path.join(HERE, "..", ".."))
LLAMA_BIN = os.environ.get("LLAMA_CPP_BIN", os.path.expanduser("~/.cache/bitsmith/llama.cpp/build/bin"))
TEXTS = [os.path.join(SHARED, "data", n) for n in ("wikitext2_test.txt", "tinyshakespeare.txt")]
FIELDS = ["tokenizer.ggml.pre", "tokenizer.chat_template", "tokenizer.ggml.padding_token_id",
          "tokenizer.ggml.add_space_prefix", "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token",
          "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "general.name"]


def smollm2():
    p = subprocess.run([sys.executable, os.path.join(SOURCE, "scripts", "models", "find_model.py")],
                       capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 and p.stdout.strip() else None


def fields(path):
    r = gguf.GGUFReader(path)
    out = {}
    for k in FIELDS:
        f = r.fields.get(k)
        if f is None:
            continue
        if f.types[0] == gguf.GGUFValueType.STRING:
            out[k] = bytes(f.parts[-1]).decode()
        else:
            out[k] = f.parts[-1][0].item()
    return out


def llama_tokenize(model, text_path):
    exe = os.path.join(LLAMA_BIN, "llama-tokenize")
    env = dict(os.environ, LD_LIBRARY_PATH=LLAMA_BIN)
    p = subprocess.run([exe, "-m", model, "-f", text_path, "--ids", "--log-disable", "--no-bos"],
                       capture_output=True, text=True, env=env, timeout=600)
    if p.returncode != 0:
        raise AssertionError(f"llama-tokenize failed on {model}: {p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


class TokenizerFields(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = smollm2()
        if not cls.model:
            raise unittest.SkipTest("SmolLM2-135M is not installed (scripts/models/install_smollm2.sh)")
        cls.tmp = tempfile.TemporaryDirectory()
        cls.st = os.path.join(cls.tmp.name, "st")
        run("quantize", cls.model, cls.st, "--scheme", "bf16")
        cls.back = os.path.join(cls.tmp.name, "back.gguf")
        run("quantize", cls.st, cls.back, "--scheme", "fp16")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_gguf_fields_survive_the_round_trip(self):
        want, got = fields(self.model), fields(self.back)
        self.assertEqual(want["tokenizer.ggml.pre"], "smollm")
        self.assertTrue(want["tokenizer.chat_template"])
        self.assertEqual(got, want)

    def test_tokenizer_config_carries_template_and_padding(self):
        with open(os.path.join(self.st, "tokenizer_config.json")) as f:
            cfg = json.load(f)
        want = fields(self.model)
        self.assertEqual(cfg["chat_template"], want["tokenizer.chat_template"])
        with open(os.path.join(self.st, "tokenizer.json")) as f:
            vocab = json.load(f)["model"]["vocab"]
        self.assertEqual(vocab[cfg["pad_token"]], want["tokenizer.ggml.padding_token_id"])
        self.assertEqual(cfg["add_bos_token"], bool(want["tokenizer.ggml.add_bos_token"]))

    def test_ids_equal_llama_cpp_on_both_texts(self):
        if not os.path.exists(os.path.join(LLAMA_BIN, "llama-tokenize")):
            self.skipTest(f"no llama-tokenize in {LLAMA_BIN} (scripts/peers/build_llamacpp.sh)")
        hf = tokenizers.Tokenizer.from_file(os.path.join(self.st, "tokenizer.json"))
        for path in TEXTS:
            with open(path, encoding="utf-8") as f:
                text = f.read()
            want = llama_tokenize(self.model, path)
            got = hf.encode(text, add_special_tokens=False).ids
            first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), None)
            self.assertEqual(len(got), len(want), f"{path}: first difference at token {first}")
            self.assertIsNone(first, f"{path}: first difference at token {first}")
            self.assertEqual(llama_tokenize(self.back, path), want, path)


if __name__ == "__main__":
    clitest.main()
