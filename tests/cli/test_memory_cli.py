"""bitsmith memory: true bits per weight, naive bits, device fit, parameter parsing."""
import clitest


class MemoryCli(clitest.unittest.TestCase):
    def test_70b_nvfp4_and_fp16(self):
        doc = clitest.run_json("memory", "--params", "70B", "--schemes", "nvfp4,fp16,int4_g128",
                               "--devices", "h100,rtx-4090,box=48GB")
        self.assertEqual(doc["params"], 70e9)
        rows = {r["scheme"]: r for r in doc["results"]}
        # nvfp4: 70e9 * (4 + 8/16) / 8 bytes; naive 4 bits.
        self.assertAlmostEqual(rows["nvfp4"]["bytes"], 70e9 * 4.5 / 8)
        self.assertAlmostEqual(rows["nvfp4"]["naive_bytes"], 70e9 * 4 / 8)
        self.assertEqual(rows["nvfp4"]["fits"], {"h100": True, "rtx-4090": False, "box": True})
        self.assertEqual(rows["fp16"]["fits"], {"h100": False, "rtx-4090": False, "box": False})
        self.assertAlmostEqual(rows["int4_g128"]["bits_per_weight"], 4.25)

    def test_param_spellings(self):
        for text, value in (("70e9", 70e9), ("7.2B", 7.2e9), ("135M", 135e6)):
            self.assertAlmostEqual(clitest.run_json("memory", "--params", text)["params"], value)

    def test_default_devices_and_table(self):
        out = clitest.run("memory", "--params", "8B").stdout
        for dev in ("dgx-spark", "h100", "h200", "rtx-4090"):
            self.assertIn(dev, out)

    def test_recipes_with_a_model_are_the_written_bytes(self):
        import os
        import tempfile
        model = os.path.join(clitest.SHARED, "models", "stories260K", "stories260K.bin")
        doc = clitest.run_json("memory", "--model", model, "--schemes", "q4_k_m,q8_0")
        rows = {r["scheme"]: r for r in doc["results"]}
        with tempfile.TemporaryDirectory() as d:
            for name, flag in (("q4_k_m", "--recipe"), ("q8_0", "--scheme")):
                out = os.path.join(d, name + ".gguf")
                clitest.run("quantize", model, out, flag, name)
                self.assertAlmostEqual(rows[name]["bytes"], clitest.run_json("inspect", out)["bytes"], delta=1e-6)
        # Without a model a recipe's bits are unknown: a usage error that says why.
        p = clitest.run("memory", "--params", "7B", "--schemes", "q4_k_m", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--model", p.stderr)
        self.assertEqual(clitest.run("memory", "--params", "7B", "--model", model, check=False).returncode, 2)

    def test_bad_usage_exits_2(self):
        self.assertEqual(clitest.run("memory", "--params", "7Q", check=False).returncode, 2)
        self.assertEqual(clitest.run("memory", "--params", "7B", "--schemes", "nope", check=False).returncode, 2)
        self.assertEqual(clitest.run("memory", "--params", "7B", "--devices", "x=12XB", check=False).returncode, 2)
        self.assertEqual(clitest.run("memory", check=False).returncode, 2)


if __name__ == "__main__":
    clitest.main()
