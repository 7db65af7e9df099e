"""The CLI's rough edges: a mistyped command names the nearest one; a bare parameter count is
refused rather than read as a handful of parameters; --ctx 0 and negative --max-chunks are usage
errors, not "all"; a quantized model is not quantized again without --allow-requantize (the SmolLM2
package ships Q4_1). Each: one line on stderr, exit status 2."""
import os
import subprocess
import sys
import unittest

from clitest import SHARED, main, run

MODEL = os.path.join(SHARED, "models", "stories260K", "stories260K.bin")
TEXT = os.path.join(SHARED, "data", "tinyshakespeare.txt")
SOURCE = os.environ.get("BITSMITH_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


class Usage(unittest.TestCase):
    def usage_error(self, *args, words):
        p = run(*args, check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertIn(words, p.stderr)

    def test_mistyped_command_suggests_the_nearest(self):
        self.usage_error("quantise", "a", "b", words="did you mean 'quantize'?")
        self.usage_error("evl", words="did you mean 'eval'?")
        self.usage_error("frobnicate", words="unknown command 'frobnicate'")

    def test_bare_parameter_count_is_refused(self):
        self.usage_error("memory", "--params", "70", words="did you mean 70B?")
        j = run("memory", "--params", "70e9", "--json").stdout
        self.assertIn('"params": 70000000000', j.replace(".0", ""))

    def test_context_and_chunk_counts_are_checked(self):
        self.usage_error("eval", MODEL, "--text", TEXT, "--ctx", "0", words="--ctx: must be at least 1")
        self.usage_error("eval", MODEL, "--text", TEXT, "--max-chunks", "-1", words="--max-chunks: must be at least 0")
        self.usage_error("compare", MODEL, "--text", TEXT, "--schemes", "q8_0", "--max-chunks", "-3",
                         words="--max-chunks: must be at least 0")

    def test_requantizing_needs_the_flag(self):
        p = subprocess.run([sys.executable, os.path.join(SOURCE, "scripts", "models", "find_model.py")],
                           capture_output=True, text=True)
        model = p.stdout.strip()
        if p.returncode != 0 or not model:
            self.skipTest("SmolLM2-135M is not installed (scripts/models/install_smollm2.sh)")
        self.usage_error("quantize", model, "/tmp/never-written.gguf", "--scheme", "q8_0",
                         words="stored quantized already")
        self.assertFalse(os.path.exists("/tmp/never-written.gguf"))
        j = run("quantize", model, "/tmp/never-written.gguf", "--scheme", "q8_0", "--dry-run", "--allow-requantize")
        self.assertEqual(j.returncode, 0)


if __name__ == "__main__":
    main()
