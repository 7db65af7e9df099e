"""bitsmith generate: the stories260K greedy text of shared/models/stories260K/README.md, exactly,
from the llama2.c checkpoint (and from a GGUF bitsmith writes of it, when `convert` exists)."""
import os
import tempfile
import unittest

import clitest

MODEL = os.path.join(clitest.SHARED, "models", "stories260K", "stories260K.bin")
TOK = os.path.join(clitest.SHARED, "models", "stories260K", "tok512.bin")


def golden():
    lines, started = [], False
    with open(os.path.join(clitest.SHARED, "models", "stories260K", "README.md")) as f:
        for line in f:
            if line.startswith("    "):
                lines.append(line[4:].rstrip("\n"))
                started = True
            elif started:
                break
    return "\n".join(lines)


class GenerateTest(unittest.TestCase):
    def test_greedy_text_streams_exactly(self):
        p = clitest.run("generate", MODEL, "--tokenizer", TOK, "--max-tokens", 256)
        g = golden()
        self.assertGreater(len(g), 400)
        self.assertEqual(p.stdout[:len(g)], g)

    def test_json_document(self):
        doc = clitest.run_json("generate", MODEL, "--tokenizer", TOK, "--max-tokens", 20)
        self.assertEqual(doc["tokens"], 20)
        self.assertEqual(len(doc["token_ids"]), 20)
        self.assertTrue(golden().startswith(doc["text"]))
        self.assertEqual(doc["prompt_tokens"], 1)

    def test_prompt_and_sampling_are_seeded(self):
        args = ("generate", MODEL, "--tokenizer", TOK, "--prompt", "Once upon a time, a dog",
                "--max-tokens", 40, "--temperature", 0.9, "--top-p", 0.9)
        a = clitest.run_json(*args, "--seed", 7)
        b = clitest.run_json(*args, "--seed", 7)
        c = clitest.run_json(*args, "--seed", 8)
        self.assertEqual(a["token_ids"], b["token_ids"])
        self.assertNotEqual(a["token_ids"], c["token_ids"])
        p = clitest.run(*args, "--seed", 7)
        self.assertTrue(p.stdout.startswith("Once upon a time, a dog" + a["text"]))

    def test_from_gguf_written_by_bitsmith(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "stories260K-f32.gguf")
            conv = clitest.run("quantize", MODEL, out, "--tokenizer", TOK, "--scheme", "f32",
                               check=False)
            if conv.returncode != 0 or not os.path.exists(out):
                self.skipTest("bitsmith quantize cannot write this GGUF yet: " + conv.stderr[-200:])
            p = clitest.run("generate", out, "--max-tokens", 256)
            g = golden()
            self.assertEqual(p.stdout[:len(g)], g)

    def test_bad_usage_and_bad_files(self):
        self.assertEqual(clitest.run("generate", MODEL, "--tokenizer", TOK, "--top-p", 0, check=False).returncode, 2)
        self.assertEqual(clitest.run("generate", check=False).returncode, 2)
        p = clitest.run("generate", "/nonexistent.gguf", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("nonexistent", p.stderr)


if __name__ == "__main__":
    clitest.main()
