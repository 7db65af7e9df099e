"""bitsmith imatrix writes llama.cpp's legacy .dat imatrix (read back here with struct, from
the layout of llama.cpp's save_imatrix_legacy) holding mean x^2 per input column, and
quantize --method imatrix --imatrix FILE uses it."""
import os
import struct
import tempfile
import unittest

from clitest import SHARED, main, run, run_json

MODEL = os.path.join(SHARED, "models", "stories260K", "stories260K.bin")
CALIB = os.path.join(SHARED, "data", "tinyshakespeare.txt")


def read_dat(path):
    b = open(path, "rb").read()
    (n,), o = struct.unpack_from("<i", b, 0), 4
    out = {}
    for _ in range(n):
        (ln,) = struct.unpack_from("<i", b, o); o += 4
        name = b[o:o + ln].decode(); o += ln
        ncall, nval = struct.unpack_from("<ii", b, o); o += 8
        vals = struct.unpack_from(f"<{nval}f", b, o); o += 4 * nval
        out[name] = [v / ncall for v in vals]
    (chunks,) = struct.unpack_from("<i", b, o)
    return out, chunks


class Imatrix(unittest.TestCase):
    def test_file_and_method(self):
        if not os.path.exists(MODEL):
            self.skipTest("stories260K missing")
        with tempfile.TemporaryDirectory() as t:
            dat = os.path.join(t, "im.dat")
            j = run_json("imatrix", MODEL, "--text", CALIB, "-o", dat, "--calib-samples", "8", "--calib-seqlen", "64")
            self.assertEqual(j["chunks"], 8)
            vals, chunks = read_dat(dat)
            self.assertEqual(chunks, 8)
            # Every decoder linear, and the tied head's input under token_embd.weight.
            self.assertEqual(len(vals), 5 * 7 + 1)
            self.assertEqual(len(vals["token_embd.weight"]), 64)
            self.assertGreater(min(vals["token_embd.weight"]), 0)
            self.assertEqual(len(vals["blk.0.attn_q.weight"]), 64)
            self.assertEqual(len(vals["blk.0.ffn_down.weight"]), 172)
            # q/k/v share one input, so one mean x^2.
            self.assertEqual(vals["blk.2.attn_q.weight"], vals["blk.2.attn_v.weight"])
            self.assertTrue(all(v >= 0 for v in vals["blk.1.ffn_up.weight"]))
            self.assertGreater(sum(vals["blk.1.ffn_up.weight"]), 0)
            out = os.path.join(t, "m.gguf")
            q = run_json("quantize", MODEL, out, "--scheme", "q4_0", "--method", "imatrix", "--imatrix", dat)
            # Every linear of the decoder and the tied head found its entry.
            self.assertEqual([n for n in q["method_notes"] if "imatrix entry" in n], [])
            p = run("imatrix", MODEL, "--text", os.devnull, "-o", os.path.join(t, "x.dat"), check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn("0 tokens", p.stderr)


if __name__ == "__main__":
    main()
