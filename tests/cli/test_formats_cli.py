"""bitsmith formats / formats --probe / formats show: fields and values against REFERENCE.md."""
import math
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import clitest  # noqa: E402

FIELDS = {"name", "aliases", "bits", "exponent_bits", "mantissa_bits", "bias", "max", "min_normal",
          "min_subnormal", "epsilon", "finite_values", "has_inf", "has_nan"}


class FormatsList(unittest.TestCase):
    def setUp(self):
        self.rows = {r["name"]: r for r in clitest.run_json("formats")["formats"]}

    def test_exact_fields_every_row(self):
        for row in self.rows.values():
            self.assertEqual(set(row), FIELDS, row["name"])

    def test_every_format_of_the_issue_is_listed(self):
        names = ["float32", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2", "float6_e3m2fn",
                 "float6_e2m3fn", "float4_e2m1fn", "float8_e8m0fnu"]
        names += [f"{s}int{b}" for s in ("", "u") for b in range(2, 9)]
        self.assertEqual(set(names), set(self.rows))

    def test_reference_table_values(self):
        # REFERENCE.md section 1: max finite, min normal, min subnormal.
        want = {
            "float16": (65504, 2**-14, 2**-24, True, True),
            "bfloat16": (3.3895313892515355e38, 2**-126, 2**-133, True, True),
            "float8_e4m3fn": (448, 2**-6, 2**-9, False, True),
            "float8_e5m2": (57344, 2**-14, 2**-16, True, True),
            "float6_e3m2fn": (28, 2**-2, 2**-4, False, False),
            "float6_e2m3fn": (7.5, 1, 2**-3, False, False),
            "float4_e2m1fn": (6, 1, 0.5, False, False),
            "float8_e8m0fnu": (2.0**127, 2**-127, 2**-127, False, True),
        }
        for name, (mx, mn, sub, inf, nan) in want.items():
            r = self.rows[name]
            self.assertEqual((r["max"], r["min_normal"], r["min_subnormal"], r["has_inf"], r["has_nan"]),
                             (mx, mn, sub, inf, nan), name)
        self.assertEqual(self.rows["float8_e4m3fn"]["finite_values"], 253)
        self.assertEqual(self.rows["float4_e2m1fn"]["finite_values"], 15)
        self.assertEqual(self.rows["float16"]["epsilon"], 2**-10)
        self.assertEqual(self.rows["bfloat16"]["epsilon"], 2**-7)
        self.assertEqual(self.rows["float8_e4m3fn"]["bias"], 7)
        self.assertEqual(self.rows["int4"]["max"], 7)
        self.assertEqual(self.rows["uint2"]["max"], 3)
        self.assertIn("fp4", self.rows["float4_e2m1fn"]["aliases"])

    def test_human_table(self):
        out = clitest.run("formats").stdout
        self.assertIn("float8_e4m3fn", out)
        self.assertIn("448", out)


class Probe(unittest.TestCase):
    def probe(self, x, *extra):
        doc = clitest.run_json("formats", "--probe", x, *extra)
        return doc, {r["format"]: r for r in doc["results"]}

    def test_pi(self):
        doc, r = self.probe("3.141592653589793")
        self.assertEqual(doc["input"], math.pi)
        self.assertEqual(r["bfloat16"]["value"], 3.140625)
        self.assertEqual(r["float16"]["value"], 3.140625)
        self.assertEqual(r["float8_e4m3fn"]["value"], 3.25)
        self.assertEqual(r["float8_e5m2"]["value"], 3.0)
        self.assertEqual(r["float4_e2m1fn"]["value"], 3.0)
        self.assertEqual(r["float8_e8m0fnu"]["value"], 4.0)
        self.assertAlmostEqual(r["float8_e4m3fn"]["abs_error"], 3.25 - math.pi, places=15)
        self.assertAlmostEqual(r["float8_e4m3fn"]["rel_error"], (3.25 - math.pi) / math.pi, places=15)
        for row in doc["results"]:
            self.assertEqual(set(row), {"format", "value", "abs_error", "rel_error"})

    def test_non_finite_as_strings(self):
        doc, r = self.probe("nan")
        self.assertEqual(doc["input"], "nan")
        self.assertEqual(r["float16"]["value"], "nan")
        doc, r = self.probe("inf", "--mode", "ieee")
        self.assertEqual(doc["input"], "inf")
        self.assertEqual(r["float16"]["value"], "inf")
        self.assertEqual(r["float16"]["abs_error"], 0.0)
        self.assertEqual(r["float8_e4m3fn"]["value"], "nan")  # no Inf in e4m3fn: a plain cast is NaN
        _, r = self.probe("1e6")
        self.assertEqual(r["float8_e4m3fn"]["value"], 448)  # saturate by default

    def test_negative_and_hex(self):
        _, r = self.probe("-0x1.8p1")
        self.assertEqual(r["float4_e2m1fn"]["value"], -3.0)

    def test_bad_number_is_usage_error(self):
        p = clitest.run("formats", "--probe", "pie", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1)
        self.assertIn("pie", p.stderr)


class Show(unittest.TestCase):
    def test_fp4_number_line(self):
        doc = clitest.run_json("formats", "show", "fp4")
        self.assertEqual(doc["format"], "float4_e2m1fn")
        values = [c["value"] for c in doc["codes"]]
        self.assertEqual(values, [0, 0.5, 1, 1.5, 2, 3, 4, 6, 0, -0.5, -1, -1.5, -2, -3, -4, -6])
        c7 = doc["codes"][7]
        self.assertEqual((c7["code"], c7["bits"], c7["sign"], c7["exponent"], c7["mantissa"]),
                         (7, "0 11 1", 0, 3, 1))

    def test_e4m3_has_256_codes_and_nan(self):
        doc = clitest.run_json("formats", "show", "e4m3")
        self.assertEqual(len(doc["codes"]), 256)
        self.assertEqual(doc["codes"][0x7E]["value"], 448)
        self.assertEqual(doc["codes"][0x7F]["value"], "nan")
        self.assertEqual(doc["codes"][0x7F]["bits"], "0 1111 111")
        self.assertEqual(doc["codes"][1]["value"], 2**-9)

    def test_e5m2_inf_and_int4(self):
        doc = clitest.run_json("formats", "show", "e5m2")
        self.assertEqual(doc["codes"][0x7C]["value"], "inf")
        self.assertEqual(doc["codes"][0xFC]["value"], "-inf")
        doc = clitest.run_json("formats", "show", "int4")
        self.assertEqual([c["value"] for c in doc["codes"]], list(range(8)) + list(range(-8, 0)))

    def test_human_output_and_errors(self):
        out = clitest.run("formats", "show", "e2m1").stdout
        self.assertIn("0 11 1", out)
        for args in (("formats", "show", "fp16"), ("formats", "show", "float7"), ("formats", "show")):
            p = clitest.run(*args, check=False)
            self.assertEqual(p.returncode, 2, args)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)

    def test_help(self):
        for args in (("formats", "--help"), ("formats", "show", "--help")):
            p = clitest.run(*args)
            self.assertIn("--json", p.stdout)


if __name__ == "__main__":
    clitest.main()
