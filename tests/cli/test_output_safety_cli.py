"""Nothing a user owns is damaged: quantize and imatrix refuse an output that is, or would
replace, an input (the same file by inode, a symlink or hard link to it, the companions of a
safetensors model); a multi-file safetensors output appears whole or not at all (a write that
fails midway, here by RLIMIT_FSIZE, leaves nothing; a run killed midway leaves a staging entry
that the next run removes); an unknown output extension is an error, not a new directory."""
import hashlib
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import unittest

from clitest import BIN, SHARED, main, run

MODEL = os.path.join(SHARED, "models", "stories260K", "stories260K.bin")
TOKENIZER = os.path.join(SHARED, "models", "stories260K", "tok512.bin")
TEXT = os.path.join(SHARED, "data", "tinyshakespeare.txt")


def digest(path):
    """sha256 of a file, or of every file under a directory (name and bytes)."""
    h = hashlib.sha256()
    if os.path.isdir(path):
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for f in sorted(files):
                p = os.path.join(root, f)
                h.update(os.path.relpath(p, path).encode())
                with open(p, "rb") as f:
                    h.update(f.read())
    else:
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def listing(d):
    return sorted(os.listdir(d))


class OutputSafety(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(MODEL):
            raise unittest.SkipTest("stories260K missing")
        cls.tmp = tempfile.TemporaryDirectory()
        cls.gguf = os.path.join(cls.tmp.name, "m.gguf")
        run("quantize", MODEL, cls.gguf, "--scheme", "f32")
        cls.st = os.path.join(cls.tmp.name, "st")  # a safetensors model folder
        run("quantize", MODEL, cls.st, "--scheme", "bf16")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def refused(self, *args, names):
        p = run(*args, check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        for n in names:
            self.assertIn(n, p.stderr)
        return p

    def test_quantize_onto_its_own_input_is_refused(self):
        before = digest(self.gguf)
        self.refused("quantize", self.gguf, self.gguf, "--scheme", "q8_0", names=["m.gguf", "same file"])
        link = os.path.join(self.tmp.name, "link.gguf")
        hard = os.path.join(self.tmp.name, "hard.gguf")
        os.symlink(self.gguf, link)
        os.link(self.gguf, hard)
        try:
            self.refused("quantize", self.gguf, link, "--scheme", "q8_0", names=["link.gguf"])
            self.refused("quantize", hard, self.gguf, "--scheme", "q8_0", names=["hard.gguf"])
        finally:
            os.unlink(link)
            os.unlink(hard)
        self.assertEqual(digest(self.gguf), before)

    def test_safetensors_model_folder_is_never_overwritten(self):
        before = digest(self.st)
        self.refused("quantize", self.st, self.st, "--scheme", "nvfp4", names=["st"])
        # A new file name in the source folder would still replace its config.json and tokenizer.
        self.refused("quantize", self.st, os.path.join(self.st, "q.safetensors"), "--scheme", "fp8_e4m3",
                     names=["config.json"])
        # So would any other model's output written into that folder.
        self.refused("quantize", self.gguf, os.path.join(self.st, "other.safetensors"), "--scheme", "bf16",
                     names=["another model"])
        self.assertEqual(digest(self.st), before)
        self.assertEqual(listing(self.st), ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"])

    def test_llama2c_tokenizer_and_calibration_text_are_inputs(self):
        d = os.path.join(self.tmp.name, "l2c")
        os.makedirs(d, exist_ok=True)
        shutil.copy(MODEL, os.path.join(d, "model.bin"))
        shutil.copy(TOKENIZER, os.path.join(d, "tok512.bin"))
        text = os.path.join(d, "calib.txt")
        shutil.copy(TEXT, text)
        before = digest(d)
        self.refused("quantize", os.path.join(d, "model.bin"), os.path.join(d, "tok512.bin"), "--format", "gguf",
                     "--scheme", "q8_0", names=["tok512.bin"])
        self.refused("quantize", os.path.join(d, "model.bin"), text, "--format", "gguf", "--scheme", "q8_0",
                     "--method", "gptq", "--calib", text, names=["calib.txt"])
        self.refused("imatrix", self.gguf, "--text", text, "-o", self.gguf, names=["m.gguf"])
        self.refused("imatrix", self.gguf, "--text", text, "-o", text, names=["calib.txt"])
        self.assertEqual(digest(d), before)

    def test_imatrix_is_written_atomically(self):
        out = os.path.join(self.tmp.name, "im.dat")
        run("imatrix", self.gguf, "--text", TEXT, "-o", out, "--calib-samples", "2", "--calib-seqlen", "32")
        self.assertGreater(os.path.getsize(out), 0)
        self.assertFalse([n for n in listing(self.tmp.name) if ".tmp-" in n])

    def test_unknown_extension_is_an_error(self):
        out = os.path.join(self.tmp.name, "model.bin")
        p = run("quantize", self.gguf, out, "--scheme", "q8_0", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("unknown extension '.bin'", p.stderr)
        self.assertFalse(os.path.exists(out))

    def limited_run(self, args, limit, ignore_signal):
        """bitsmith with a file-size limit: writes past `limit` bytes fail (EFBIG) when SIGXFSZ is
        ignored, or kill the process (a run killed mid-write) when it is not."""
        def limit_files():
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN if ignore_signal else signal.SIG_DFL)
        return subprocess.run([BIN, *args], capture_output=True, text=True, preexec_fn=limit_files, timeout=600)

    def test_a_failed_write_leaves_nothing(self):
        d = tempfile.mkdtemp(dir=self.tmp.name)
        out = os.path.join(d, "new")
        p = self.limited_run(["quantize", self.gguf, out, "--scheme", "bf16"], 200_000, ignore_signal=True)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("write failed", p.stderr)
        self.assertEqual(listing(d), [])  # no folder, no config.json, no temporary
        # Into an existing output: the previous files stay exactly as they were.
        run("quantize", self.gguf, out, "--scheme", "q8_0", "--format", "safetensors")
        before = digest(out)
        p = self.limited_run(["quantize", self.gguf, out, "--scheme", "f32"], 200_000, ignore_signal=True)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertEqual(digest(out), before)
        self.assertEqual(listing(out), ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"])
        # A single GGUF file: nothing at the target, no temporary beside it.
        g = os.path.join(d, "x.gguf")
        p = self.limited_run(["quantize", self.gguf, g, "--scheme", "f32"], 200_000, ignore_signal=True)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertEqual(listing(d), ["new"])

    def test_a_killed_run_is_cleaned_by_the_next(self):
        d = tempfile.mkdtemp(dir=self.tmp.name)
        out = os.path.join(d, "new")
        p = self.limited_run(["quantize", self.gguf, out, "--scheme", "bf16"], 200_000, ignore_signal=False)
        self.assertEqual(p.returncode, -signal.SIGXFSZ, p.stderr)
        left = listing(d)
        self.assertEqual(len(left), 1)
        self.assertTrue(left[0].startswith(".new.tmp-"), left)  # staging only, never a partial `new`
        run("quantize", self.gguf, out, "--scheme", "bf16")
        self.assertEqual(listing(d), ["new"])

    def test_sidecars_of_two_outputs_do_not_collide(self):
        d = tempfile.mkdtemp(dir=self.tmp.name)
        run("quantize", self.gguf, os.path.join(d, "a.safetensors"), "--scheme", "bf16")
        # A second model in the same folder would replace a.safetensors' config.json.
        self.refused("quantize", self.gguf, os.path.join(d, "b.safetensors"), "--scheme", "fp16",
                     names=["a.safetensors"])
        # Re-writing the same output replaces it (the usual re-run).
        run("quantize", self.gguf, os.path.join(d, "a.safetensors"), "--scheme", "fp16")
        # (with the index that lets loaders open the folder by a file not named model.safetensors)
        self.assertEqual(listing(d), ["a.safetensors", "config.json", "model.safetensors.index.json", "tokenizer.json",
                                      "tokenizer_config.json"])


if __name__ == "__main__":
    main()
