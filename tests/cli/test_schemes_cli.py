"""bitsmith schemes: the registry as a table and as JSON."""
import clitest


class SchemesCli(clitest.unittest.TestCase):
    def test_json_lists_every_scheme_with_true_bits(self):
        doc = clitest.run_json("schemes")
        by_name = {s["name"]: s for s in doc["schemes"]}
        for name in ("fp16", "bf16", "fp8_e4m3", "fp8_e4m3_channel", "fp8_e4m3_block128", "fp8_e5m2",
                     "int8", "int8_tensor", "int4_g128", "int4_g128_sym", "nvfp4", "mxfp4",
                     "mxfp4_rceil", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp8_e4m3", "mxfp8_e5m2", "mxint8"):
            self.assertIn(name, by_name)
        self.assertEqual(by_name["nvfp4"]["bits_per_weight"], 4.5)
        self.assertEqual(by_name["nvfp4"]["scale_format"], "float8_e4m3fn")
        self.assertEqual(by_name["nvfp4"]["block_cols"], 16)
        self.assertEqual(by_name["mxfp4"]["bits_per_weight"], 4.25)
        self.assertEqual(by_name["int4_g128"]["bits_per_weight"], 4.25)
        self.assertEqual(by_name["fp8_e4m3_block128"]["block"], "128x128")
        for s in doc["schemes"]:
            self.assertTrue(s["description"])

    def test_table(self):
        out = clitest.run("schemes").stdout
        self.assertIn("nvfp4", out)
        self.assertIn("float8_e8m0fnu", out)
        self.assertIn("int<b>_g<g>", out)

    def test_help(self):
        self.assertIn("--json", clitest.run("schemes", "--help").stdout)


if __name__ == "__main__":
    clitest.main()
