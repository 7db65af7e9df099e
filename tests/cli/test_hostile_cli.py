"""Hostile and careless input at the command line: each gives one error line naming the file and
exit status 1, never a crash, a hang or a huge allocation (issue 13)."""
import os
import shutil
import struct
import tempfile
import unittest

import clitest

MODEL = os.path.join(clitest.SHARED, "models", "stories260K", "stories260K.bin")
TOK = os.path.join(clitest.SHARED, "models", "stories260K", "tok512.bin")
TEXT = os.path.join(clitest.SHARED, "data", "wikitext2_test.txt")


class HostileInputTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="bitsmith_hostile_")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def one_error(self, p, *needles):
        self.assertEqual(p.returncode, 1, p.stderr)
        lines = p.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        for n in needles:
            self.assertIn(n, lines[0])

    def test_text_file_as_model(self):
        path = os.path.join(self.tmp, "notes.txt")
        with open(path, "w") as f:
            f.write("Once upon a time, a text file was given where a model belonged.\n")
        p = clitest.run("inspect", path, check=False)
        self.one_error(p, path, "not a model file (GGUF, safetensors or llama2.c)")

    def test_fifo_as_model_does_not_hang(self):
        path = os.path.join(self.tmp, "model.fifo")
        os.mkfifo(path)
        p = clitest.run("inspect", path, check=False)  # the 600 s timeout in clitest.run is the hang guard
        self.one_error(p, path, "is a FIFO")

    def test_dev_zero_as_text(self):
        p = clitest.run("eval", MODEL, "--tokenizer", TOK, "--text", "/dev/zero", check=False)
        self.one_error(p, "/dev/zero", "NUL byte at offset 0")

    def test_dev_zero_and_fifo_as_calibration_text(self):
        # The calibration reader is bounded like eval's: neither fills memory nor waits forever.
        out = os.path.join(self.tmp, "never.gguf")
        # A FIFO is read as far as a writer gives (here nothing): an empty text, said as such.
        for calib, needle in [("/dev/zero", "NUL byte at offset 0"), (os.path.join(self.tmp, "calib.fifo"), "has 0 tokens")]:
            if calib.endswith(".fifo"):
                os.mkfifo(calib)
            p = clitest.run("quantize", MODEL, out, "--scheme", "q4_0", "--method", "gptq", "--calib", calib,
                            "--calib-samples", 2, "--calib-seqlen", 64, check=False)
            self.one_error(p, calib, needle)
            self.assertFalse(os.path.exists(out))

    def test_config_fifo_for_advise(self):
        path = os.path.join(self.tmp, "config.json")
        os.mkfifo(path)
        p = clitest.run("advise", path, "--device", "h100", check=False)
        self.one_error(p, path)

    def test_nan_weight(self):
        if not os.path.exists(MODEL):
            self.skipTest("stories260K not present")
        with open(MODEL, "rb") as f:
            data = bytearray(f.read())
        dim, _, _, _, _, vocab, _ = struct.unpack_from("<7i", data)
        # The first float after the token embedding: blk.0.attn_norm.weight[0].
        struct.pack_into("<f", data, 28 + 4 * abs(vocab) * dim, float("nan"))
        path = os.path.join(self.tmp, "nan.bin")
        with open(path, "wb") as f:
            f.write(bytes(data))
        p = clitest.run("eval", path, "--tokenizer", TOK, "--text", TEXT, "--ctx", 64, "--max-chunks", 1, check=False)
        self.one_error(p, path, "tensor 'blk.0.attn_norm.weight' holds a non-finite weight (nan)")
        p = clitest.run("generate", path, "--tokenizer", TOK, "--prompt", "Once", "--max-tokens", 4, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("blk.0.attn_norm.weight", p.stderr)


if __name__ == "__main__":
    clitest.main()
