"""bitsmith error: the lab comparison, .npy input checked against metrics computed here with
numpy from bitsmith's own dequantized bytes' definition (nvfp4 oracle in tests/oracles)."""
import os
import sys
import tempfile

import clitest

np = clitest.require_module("numpy")
clitest.require_module("ml_dtypes")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "oracles"))
import nvfp4_oracle  # noqa: E402


class ErrorCli(clitest.unittest.TestCase):
    def test_lab_default_one_table(self):
        doc = clitest.run_json("error")
        self.assertEqual(doc["input"], {"synthetic": "normal", "seed": 42, "shape": [40, 256]})
        names = [r["scheme"] for r in doc["results"]]
        for n in ("int8", "int4_g128", "fp8_e4m3", "nvfp4", "mxfp4"):
            self.assertIn(n, names)
        by = {r["scheme"]: r for r in doc["results"]}
        # More bits, less error: the ordering the lab demonstrates.
        self.assertLess(by["int8"]["mse"], by["fp8_e4m3"]["mse"])
        self.assertLess(by["fp8_e4m3"]["mse"], by["nvfp4"]["mse"])
        self.assertLess(by["nvfp4"]["mse"], by["mxfp4"]["mse"])
        for r in doc["results"]:
            self.assertAlmostEqual(r["rmse"] ** 2, r["mse"], places=12)
            self.assertGreater(r["cosine"], 0.99)
        text = clitest.run("error").stdout
        self.assertIn("SNR dB", text)
        self.assertIn("nvfp4", text)

    def test_npy_input_matches_numpy_oracle(self):
        rng = np.random.default_rng(3)
        x = rng.standard_normal((8, 64)).astype(np.float32)
        with tempfile.TemporaryDirectory() as d:
            for dtype in (np.float32, np.float16):
                path = os.path.join(d, "w.npy")
                np.save(path, x.astype(dtype))
                doc = clitest.run_json("error", "--scheme", "nvfp4", "--input", path, "--histogram", "8")
                xf = x.astype(dtype).astype(np.float32)
                _, _, _, deq = nvfp4_oracle.quantize(xf)
                e = deq.astype(np.float64) - xf
                r = doc["results"][0]
                self.assertEqual(doc["input"]["shape"], [8, 64])
                self.assertAlmostEqual(r["mse"], float(np.mean(e * e)), places=12)
                self.assertAlmostEqual(r["max_abs_error"], float(np.max(np.abs(e))), places=12)
                snr = 10 * np.log10(np.sum(xf.astype(np.float64) ** 2) / np.sum(e * e))
                self.assertAlmostEqual(r["snr_db"], float(snr), places=9)
                # 8 * 64 weights, codes 4 bits + 4 e4m3 scale bytes per row: 4.5 bits
                self.assertEqual(r["bits_per_weight"], 4.5)
                self.assertEqual(sum(r["histogram"]["counts"]), 8 * 64)
            np.save(os.path.join(d, "v.npy"), x.reshape(-1))
            self.assertEqual(clitest.run_json("error", "--scheme", "int8", "--input",
                                              os.path.join(d, "v.npy"))["input"]["shape"], [1, 512])

    def test_errors(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "odd.npy")
            np.save(path, np.ones((2, 100), np.float32))
            p = clitest.run("error", "--scheme", "mxfp4", "--input", path, check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn("not a multiple of the block size 32", p.stderr)
            bad = np.ones((2, 64), np.float32)
            bad[1, 9] = np.nan
            np.save(path, bad)
            p = clitest.run("error", "--scheme", "nvfp4", "--input", path, check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn("row 1, column 9", p.stderr)
            ok = clitest.run_json("error", "--scheme", "nvfp4", "--input", path, "--allow-nonfinite")
            self.assertIn("mse", ok["results"][0])
            np.save(path, np.ones((2, 2), np.int32))
            self.assertEqual(clitest.run("error", "--input", path, check=False).returncode, 1)
        self.assertEqual(clitest.run("error", "--scheme", "nope", check=False).returncode, 2)
        self.assertEqual(clitest.run("error", "--shape", "4by4", check=False).returncode, 2)
        self.assertEqual(clitest.run("error", "--synthetic", "cauchy", check=False).returncode, 2)

    def test_synthetic_options(self):
        a = clitest.run_json("error", "--scheme", "int4_g128", "--synthetic", "student_t",
                             "--shape", "16x128", "--seed", "7")
        b = clitest.run_json("error", "--scheme", "int4_g128", "--synthetic", "student_t",
                             "--shape", "16x128", "--seed", "7")
        self.assertEqual(a, b)
        self.assertEqual(a["input"]["shape"], [16, 128])


if __name__ == "__main__":
    clitest.main()
