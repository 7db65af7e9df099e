"""bitsmith cast: codes and values against REFERENCE.md and hand-derived encodings."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import clitest  # noqa: E402


def cast(fmt, *values, opts=()):
    # --json goes before "--": after it every word is a VALUE.
    return json.loads(clitest.run("cast", "--to", fmt, *opts, "--json", "--", *values).stdout)


class Cast(unittest.TestCase):
    def test_pi_in_each_format(self):
        pi = "3.141592653589793"
        for fmt, code, value in [("bf16", 0x4049, 3.140625), ("fp16", 0x4248, 3.140625),
                                 ("e4m3", 0x45, 3.25), ("e5m2", 0x42, 3.0), ("e2m1", 0x5, 3.0),
                                 ("float6_e2m3fn", 0x15, 3.25), ("int8", 3, 3.0)]:
            doc = cast(fmt, pi)
            self.assertEqual(set(doc), {"format", "mode", "rounding", "results"})
            (r,) = doc["results"]
            self.assertEqual(set(r), {"input", "code", "value"})
            self.assertEqual((r["code"], r["value"]), (code, value), fmt)

    def test_document_header(self):
        doc = cast("fp4", "1", opts=("--mode", "ieee", "--rounding", "rtz"))
        self.assertEqual((doc["format"], doc["mode"], doc["rounding"]), ("float4_e2m1fn", "ieee", "rtz"))

    def test_negative_special_and_hex_inputs(self):
        doc = cast("e4m3", "-1.5", "inf", "-inf", "nan", "0x1.8p1", "-0")
        got = [(r["input"], r["code"], r["value"]) for r in doc["results"]]
        self.assertEqual(got, [(-1.5, 0xBC, -1.5), ("inf", 0x7E, 448), ("-inf", 0xFE, -448),
                               ("nan", 0x7F, "nan"), (3.0, 0x44, 3.0), (0, 0x80, 0)])

    def test_overflow_modes(self):
        # e4m3fn: 464 ties to 448; 465 is past the rounding boundary: NaN as a plain cast.
        ieee = cast("e4m3", "464", "465", opts=("--mode", "ieee"))["results"]
        self.assertEqual([r["code"] for r in ieee], [0x7E, 0x7F])
        sat = cast("e4m3", "465", "1e9")["results"]
        self.assertEqual([r["value"] for r in sat], [448, 448])
        fp16 = cast("fp16", "65520", "inf", opts=("--mode", "ieee"))["results"]
        self.assertEqual([r["value"] for r in fp16], ["inf", "inf"])

    def test_midpoints_round_to_even(self):
        res = cast("e2m1", "0.25", "0.75", "1.25", "1.75", "2.5", "3.5", "5")["results"]
        self.assertEqual([r["value"] for r in res], [0, 1, 1, 2, 2, 4, 4])

    def test_rtz_and_stochastic(self):
        self.assertEqual(cast("bf16", "3.141592653589793", opts=("--rounding", "rtz"))["results"][0]["value"],
                         3.140625)
        xs = ["2.6"] * 64
        a = cast("e2m1", *xs, opts=("--rounding", "stochastic", "--seed", "7"))["results"]
        b = cast("e2m1", *xs, opts=("--rounding", "stochastic", "--seed", "7"))["results"]
        self.assertEqual(a, b)  # reproducible
        values = {r["value"] for r in a}
        self.assertEqual(values, {2.0, 3.0})  # both neighbours occur, nothing else

    def test_integers_saturate(self):
        res = cast("int4", "7.6", "-9", "2.5", "nan")["results"]
        self.assertEqual([(r["code"], r["value"]) for r in res], [(7, 7), (8, -8), (2, 2), (0, 0)])

    def test_human_output(self):
        out = clitest.run("cast", "--to", "e4m3", "--", "3.14159").stdout
        self.assertIn("0x45", out)
        self.assertIn("3.25", out)

    def test_bad_usage_exits_2_with_one_line(self):
        for args in (("cast", "--to", "float7", "1"), ("cast", "--to", "e4m3", "abc"),
                     ("cast", "--to", "e4m3"), ("cast", "1"), ("cast", "--to", "e4m3", "--mode", "wrap", "1"),
                     ("cast", "--to", "e4m3", "--rounding", "up", "1"), ("cast", "--to", "e4m3", "--", "1.5x")):
            p = clitest.run(*args, check=False)
            self.assertEqual(p.returncode, 2, args)
            self.assertEqual(p.stdout, "", args)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, (args, p.stderr))
            self.assertNotIn("Traceback", p.stderr)

    def test_help(self):
        self.assertIn("--rounding", clitest.run("cast", "--help").stdout)


if __name__ == "__main__":
    clitest.main()
