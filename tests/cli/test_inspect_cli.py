"""bitsmith inspect on the three formats: JSON document, totals, metadata of every GGUF value
type written by the gguf package, errors naming the file."""
import os
import shutil
import struct
import tempfile
import unittest

import clitest
from clitest import run, run_json, SHARED

np = clitest.require_module("numpy")
gguf = clitest.require_module("gguf")

MODEL = os.path.join(SHARED, "models", "stories260K", "stories260K.bin")


class InspectTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="bitsmith_inspect_")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_llama2c_json(self):
        d = run_json("inspect", MODEL)
        self.assertEqual(d["format"], "llama2c")
        self.assertEqual(d["architecture"], "llama")
        hp = d["hyperparameters"]
        self.assertEqual((hp["dim"], hp["hidden_dim"], hp["n_layers"], hp["n_heads"], hp["n_kv_heads"]), (64, 172, 5, 8, 4))
        # 512*64 embedding + 5 layers * (2*64 norms + 64*64*2 + 32*64*2 + 3*172*64) + 64; RoPE tables excluded.
        self.assertEqual(d["parameters"], 512 * 64 + 5 * (2 * 64 + 2 * 64 * 64 + 2 * 32 * 64 + 3 * 172 * 64) + 64)
        self.assertEqual(d["bytes"], 4 * d["parameters"])
        self.assertEqual(d["bits_per_weight"], 32.0)
        self.assertEqual(d["tokenizer"]["tokens"], 512)
        self.assertEqual(len(d["tensors"]), 47)
        t0 = d["tensors"][0]
        self.assertEqual(t0, {"name": "token_embd.weight", "shape": [512, 64], "dtype": "F32", "bytes": 131072})

    def test_gguf_every_metadata_type(self):
        path = os.path.join(self.tmp, "types.gguf")
        w = gguf.GGUFWriter(path, "llama")
        w.add_uint8("t.u8", 200); w.add_int8("t.i8", -5); w.add_uint16("t.u16", 60000); w.add_int16("t.i16", -300)
        w.add_uint32("t.u32", 4000000000); w.add_int32("t.i32", -7); w.add_float32("t.f32", 0.5)
        w.add_uint64("t.u64", 2 ** 40); w.add_int64("t.i64", -2 ** 40); w.add_float64("t.f64", 0.25)
        w.add_bool("t.bool", True); w.add_string("t.str", "héllo"); w.add_array("t.arr", [1, 2, 3])
        w.add_array("t.sarr", ["a", "b"])
        w.add_context_length(16); w.add_embedding_length(32); w.add_block_count(0); w.add_feed_forward_length(64)
        w.add_head_count(4)
        w.add_tensor("token_embd.weight", np.arange(32 * 8, dtype=np.float32).reshape(8, 32))
        w.add_tensor("output.weight", np.ones((8, 32), np.float16))
        w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
        d = run_json("inspect", path, "--metadata")
        m = d["metadata"]
        self.assertEqual((m["t.u8"], m["t.i8"], m["t.u16"], m["t.i16"]), ("200", "-5", "60000", "-300"))
        self.assertEqual((m["t.u32"], m["t.i32"], m["t.u64"], m["t.i64"]), ("4000000000", "-7", str(2 ** 40), str(-2 ** 40)))
        self.assertEqual((m["t.f32"], m["t.f64"], m["t.bool"], m["t.str"]), ("0.5", "0.25", "true", '"héllo"'))
        self.assertEqual(m["t.arr"], "[3 x i32]")
        self.assertEqual(m["t.sarr"], "[2 x string]")
        shapes = {t["name"]: (t["shape"], t["dtype"], t["bytes"]) for t in d["tensors"]}
        self.assertEqual(shapes["token_embd.weight"], ([8, 32], "F32", 1024))
        self.assertEqual(shapes["output.weight"], ([8, 32], "F16", 512))
        self.assertEqual(d["hyperparameters"]["vocab_size"], 8)
        self.assertFalse(d["hyperparameters"]["tied_embeddings"])

    def test_human_table_and_errors(self):
        p = run("inspect", MODEL)
        self.assertIn("blk.4.ffn_down.weight", p.stdout)
        self.assertIn("260032 parameters", p.stdout)
        bad = os.path.join(self.tmp, "bad.gguf")
        with open(bad, "wb") as f:
            f.write(b"GGUF" + struct.pack("<I", 99) + b"\0" * 16)
        p = run("inspect", bad, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(bad, p.stderr)
        self.assertIn("version 99", p.stderr)
        self.assertEqual(run("inspect", check=False).returncode, 2)
        self.assertEqual(run("inspect", "--help").returncode, 0)


if __name__ == "__main__":
    clitest.main()
