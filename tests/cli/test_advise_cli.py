"""bitsmith advise: the seed course's examples, itemised memory, model files and config.json, bad input."""
import json
import os
import struct
import subprocess
import tempfile

import clitest

STORIES = os.path.join(clitest.SHARED, "models", "stories260K", "stories260K.bin")
CALIB = os.path.join(clitest.SHARED, "data", "tinyshakespeare.txt")
MEASURE = ["--calib", CALIB, "--candidates", "q4_0,q5_0,q8_0", "--calib-samples", "4", "--calib-seqlen", "128"]
# A device whose memory, less runtime, KV cache and workspace at 256 tokens, leaves stories260K's
# weights less than their largest options: the plan must choose.
TIGHT = ["--device", "tiny=1.0008GB", "--context", "256"]
VENV = os.environ.get("BITSMITH_HF_VENV", os.path.join(os.path.expanduser("~"), ".cache", "bitsmith", "venv-hf"))

# Counted by transformers itself: the model built from the config on the meta device, its
# parameters, and r x (in + out) over the Linear modules LoRA targets.
COUNT_WITH_TRANSFORMERS = """
import json, sys, torch, transformers
cfg = transformers.AutoConfig.for_model(**json.load(open(sys.argv[1])))
with torch.device("meta"):
    m = transformers.AutoModelForCausalLM.from_config(cfg)
names = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
lora = sum(mod.in_features + mod.out_features for n, mod in m.named_modules()
           if isinstance(mod, torch.nn.Linear) and n.split(".")[-1] in names)
print(json.dumps({"params": sum(p.numel() for p in m.parameters()), "lora_per_rank": lora}))
"""

# Llama 3.1 8B's and SmolLM2-135M's configs (the fields the shape needs), and an odd GQA shape.
CONFIGS = {
    "llama8b": {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
                "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
                "max_position_embeddings": 131072, "tie_word_embeddings": False},
    "smollm2": {"model_type": "llama", "hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
                "num_attention_heads": 9, "num_key_value_heads": 3, "vocab_size": 49152,
                "max_position_embeddings": 8192, "tie_word_embeddings": True},
    "odd": {"model_type": "llama", "hidden_size": 768, "intermediate_size": 2000, "num_hidden_layers": 7,
            "num_attention_heads": 12, "num_key_value_heads": 4, "head_dim": 80, "vocab_size": 1000,
            "max_position_embeddings": 2048, "tie_word_embeddings": False},
}


def rows(doc):
    return {r["scheme"]: r for r in doc["alternatives"]}


def stories_header():
    """llama2.c's Config: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len."""
    with open(STORIES, "rb") as f:
        return struct.unpack("7i", f.read(28))


class AdviseCli(clitest.unittest.TestCase):
    def test_seventy_billion_on_dgx_spark(self):
        doc = clitest.run_json("advise", "--params", "70B", "--device", "dgx-spark")
        r = rows(doc)
        # 70B in 16 bits: 140 GB of weights, which does not fit 128 GB.
        self.assertEqual(r["bf16"]["weight_bytes"], 140e9)
        self.assertFalse(r["bf16"]["fits"])
        # Every 4-bit format fits with room for its KV cache (and more).
        for name in ("nvfp4", "mxfp4", "int4_g128", "q4_k"):
            self.assertTrue(r[name]["fits"], name)
            self.assertGreater(r[name]["kv_cache_bytes"], 1e9)
            self.assertGreater(r[name]["headroom_bytes"], 40e9)
        self.assertIsNotNone(doc["recommendation"])
        self.assertTrue(r[doc["recommendation"]]["fits"])
        self.assertIn("does not fit", doc["reasoning"])
        # The total is the sum of the counted items.
        for alt in doc["alternatives"]:
            self.assertAlmostEqual(alt["total_bytes"], sum(i["bytes"] for i in alt["items"] if i["counted"]), delta=1)
        # 4.5 bits per weight for nvfp4 (scales counted), not 4.
        self.assertEqual(r["nvfp4"]["weight_bytes"], 70e9 * 4.5 / 8)

    def test_training_needs_several_times_the_weights(self):
        train = clitest.run_json("advise", "--params", "70B", "--device", "dgx-spark", "--task", "training")
        alt = train["alternatives"][0]
        self.assertGreaterEqual(alt["total_bytes"], 8 * 140e9)  # bf16 weights+grads, fp32 master, AdamW
        self.assertFalse(alt["fits"])
        self.assertIsNone(train["recommendation"])
        qlora = clitest.run_json("advise", "--params", "70B", "--device", "dgx-spark", "--task", "qlora")
        self.assertEqual(qlora["recommendation"], "nf4")
        lora = clitest.run_json("advise", "--params", "8B", "--device", "h100", "--task", "lora", "--lora-rank", "16")
        items = {i["label"]: i["bytes"] for i in rows(lora)["bf16"]["items"]}
        # Rank 16 on all linear layers of a Llama 3 8B: 41,943,040 adapter parameters (PEFT's count), fp32.
        self.assertEqual(items["adapters (fp32)"], 41943040 * 4)

    def test_kv_cache_is_exact(self):
        for kv, nbytes in (("fp16", 2), ("fp8", 1), ("q8_0", 34 / 32)):
            doc = clitest.run_json("advise", "--params", "70B", "--device", "h200", "--context", "8192",
                                   "--batch", "3", "--kv-cache", kv)
            self.assertEqual(doc["model"]["layers"], 80)
            self.assertEqual(doc["model"]["kv_heads"], 8)
            self.assertEqual(doc["model"]["head_dim"], 128)
            for alt in doc["alternatives"]:
                self.assertEqual(alt["kv_cache_bytes"], 2 * 80 * 8 * 128 * 8192 * 3 * nbytes)

    def test_priority_changes_the_choice(self):
        pick = {p: clitest.run_json("advise", "--params", "70B", "--device", "dgx-spark", "--priority", p)["recommendation"]
                for p in ("quality", "balanced", "memory")}
        self.assertEqual(pick["quality"], "fp8_e4m3")
        self.assertEqual(pick["memory"], "mxfp4")
        self.assertEqual(clitest.run_json("advise", "--params", "70B", "--device", "h100")["recommendation"], "int4_g128")

    def test_emulated_formats_are_flagged(self):
        r = rows(clitest.run_json("advise", "--params", "8B", "--device", "h100"))
        self.assertEqual(r["nvfp4"]["path"], "emulated")
        self.assertEqual(r["fp8_e4m3"]["path"], "native")
        self.assertEqual(rows(clitest.run_json("advise", "--params", "8B", "--device", "a100"))["fp8_e4m3"]["path"],
                         "emulated")
        self.assertEqual(rows(clitest.run_json("advise", "--params", "8B", "--device", "b200"))["nvfp4"]["path"],
                         "native")

    def test_model_file(self):
        dim, hidden, layers, heads, kv_heads, vocab, seq = stories_header()
        kv_dim = kv_heads * dim // heads
        params = vocab * dim + layers * (2 * dim + 2 * dim * dim + 2 * dim * kv_dim + 3 * dim * hidden) + dim
        doc = clitest.run_json("advise", STORIES, "--device", "rtx-4090", "--schemes", "q8_0,fp8_e4m3", "--batch", "2")
        self.assertEqual(doc["model"]["params"], params)
        self.assertEqual(doc["request"]["context"], seq)  # the model's context, shorter than 4096
        r = rows(doc)
        self.assertEqual(r["q8_0"]["kv_cache_bytes"], 2 * layers * kv_heads * (dim // heads) * seq * 2 * 2)
        # Weights at the bits quantize really writes (fallbacks, F32 norms).
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "q8.gguf")
            clitest.run("quantize", STORIES, out, "--scheme", "q8_0")
            self.assertAlmostEqual(r["q8_0"]["weight_bytes"], clitest.run_json("inspect", out)["bytes"], delta=1e-6)
        # Human output: the table, the recommendation and its items.
        out = clitest.run("advise", STORIES, "--device", "cpu").stdout
        self.assertIn("Recommendation:", out)
        self.assertIn("KV cache", out)

    def test_config_json(self):
        with tempfile.TemporaryDirectory() as d:
            # The config.json quantize writes beside a safetensors output has the model's shape.
            clitest.run("quantize", STORIES, os.path.join(d, "x.safetensors"), "--scheme", "int8")
            written = clitest.run_json("advise", os.path.join(d, "config.json"), "--device", "h100")
            from_model = clitest.run_json("advise", STORIES, "--device", "h100")
            for key in ("params", "layers", "hidden", "ffn", "heads", "kv_heads", "head_dim", "vocab", "context_length"):
                self.assertEqual(written["model"][key], from_model["model"][key], key)
            # A handwritten one: Llama 3.1 8B's config has 8,030,261,248 parameters.
            cfg = os.path.join(d, "llama8b.json")
            with open(cfg, "w") as f:
                json.dump({"model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336,
                           "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
                           "vocab_size": 128256, "max_position_embeddings": 131072, "tie_word_embeddings": False}, f)
            doc = clitest.run_json("advise", cfg, "--memory", "32GB", "--bandwidth", "1792GB/s")
            self.assertEqual(doc["model"]["params"], 8030261248)
            self.assertEqual(doc["device"]["bandwidth_bytes_per_s"], 1792e9)
            self.assertIsNotNone(rows(doc)["bf16"]["decode_tokens_per_s_bound"])
            self.assertIsNone(rows(doc)["bf16"]["prefill_tokens_per_s_bound"])  # no compute figures given
            # A config without the widths is a failed read (exit 1), named.
            bad = os.path.join(d, "bad.json")
            with open(bad, "w") as f:
                json.dump({"hidden_size": 64}, f)
            p = clitest.run("advise", bad, "--device", "h100", check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn("intermediate_size", p.stderr)

    def test_shapes_against_transformers(self):
        vpy = os.path.join(VENV, "bin", "python")
        if not os.path.exists(vpy):
            self.skipTest(f"no HF venv at {VENV} (scripts/peers/setup_hf_venv.sh)")
        with tempfile.TemporaryDirectory() as d:
            for name, cfg in CONFIGS.items():
                path = os.path.join(d, name + ".json")
                with open(path, "w") as f:
                    json.dump(cfg, f)
                p = subprocess.run([vpy, "-c", COUNT_WITH_TRANSFORMERS, path], capture_output=True, text=True, timeout=600)
                if p.returncode != 0:
                    self.skipTest(f"transformers could not build {name}: {p.stderr.strip()[-300:]}")
                ref = json.loads(p.stdout.strip().splitlines()[-1])
                doc = clitest.run_json("advise", path, "--device", "h100", "--task", "lora", "--lora-rank", "8")
                self.assertEqual(doc["model"]["params"], ref["params"], name)
                items = {i["label"]: i["bytes"] for i in doc["alternatives"][0]["items"]}
                self.assertEqual(items["adapters (fp32)"], 8 * ref["lora_per_rank"] * 4, name)

    def test_device_table_and_memory_uses_it(self):
        names = {d["name"] for d in clitest.run_json("advise", "--list-devices")["devices"]}
        for n in ("dgx-spark", "b200", "h200", "h100", "a100", "rtx-5090", "rtx-4090", "l40s", "cpu"):
            self.assertIn(n, names)
        fits = clitest.run_json("memory", "--params", "70B", "--schemes", "fp16", "--devices", "a100,b200")["results"][0]["fits"]
        self.assertEqual(fits, {"a100": False, "b200": True})

    def test_calib_measures_and_recommends_the_planned_mix(self):
        with tempfile.TemporaryDirectory() as d:
            m = os.path.join(d, "m.json")
            doc = clitest.run_json("advise", STORIES, *TIGHT, *MEASURE, "--measurements", m)
            self.assertEqual(doc["recommendation"], "planned mix")
            self.assertTrue(rows(doc)["planned mix"]["fits"])
            alloc = doc["planned_mix"]["allocation"]
            self.assertEqual(doc["planned_mix"]["costs"], "hybrid")  # advise's default
            self.assertEqual(doc["planned_mix"]["calib_tokens"], 4 * 128)
            # A mix: matrices with a choice took different schemes, and the largest options do not fit.
            with open(m) as f:
                meas = json.load(f)
            chosen = {t["name"]: t["scheme"] for t in alloc["tensors"]}
            choosable = [t for t in meas["tensors"] if len(t["options"]) > 1]
            self.assertGreater(len({chosen[t["name"]] for t in choosable}), 1, chosen)
            largest = sum(t["options"][-1]["bytes"] for t in meas["tensors"]) + meas["fixed_bytes"]
            self.assertLess(alloc["bytes"], largest)
            self.assertLessEqual(alloc["bytes"], alloc["budget_bytes"])
            self.assertLessEqual(alloc["lower_bound"], alloc["summed_cost"] + 1e-12)
            kinds = {k["kind"]: k for k in alloc["by_kind"]}
            self.assertEqual(sum(k["tensors"] for k in kinds.values()), len(alloc["tensors"]))
            self.assertIn("ffn_down", kinds)
            # The same measurement as `bitsmith plan --costs hybrid`, and the same allocation as
            # `bitsmith plan --measurements` of it on the same device.
            m2 = os.path.join(d, "m2.json")
            clitest.run("plan", STORIES, *MEASURE, "--costs", "hybrid", "-o", m2)
            with open(m2) as f:
                self.assertEqual(json.load(f)["tensors"], meas["tensors"])
            planned = clitest.run_json("plan", STORIES, "--measurements", m, *TIGHT)["allocation"]
            self.assertEqual(planned, alloc)
            # Resumed from the kept measurements: the same advice without measuring again.
            self.assertEqual(clitest.run_json("advise", STORIES, *TIGHT, *MEASURE, "--measurements", m), doc)
            # Human output: the recommendation, the per-kind choices and the bound.
            out = clitest.run("advise", STORIES, *TIGHT, *MEASURE, "--measurements", m).stdout
            self.assertIn("Recommendation: planned mix", out)
            self.assertIn("Planned mix, per tensor kind", out)
            self.assertIn("lower bound", out)

    def test_calib_default_candidates_follow_the_output_format(self):
        with tempfile.TemporaryDirectory() as d:
            m = os.path.join(d, "m.json")
            doc = clitest.run_json("advise", STORIES, *TIGHT, "--calib", CALIB, "--calib-samples", "2",
                                   "--calib-seqlen", "64", "--measurements", m)
            with open(m) as f:
                config = json.load(f)["config"]
        self.assertEqual(doc["recommendation"], "planned mix")
        # llama2.c plans for GGUF: llama.cpp's types, k-quants to q8_0 (64-wide rows take the
        # legacy types and iq4_nl by llama.cpp's fallbacks).
        self.assertEqual(config["format"], "gguf")
        self.assertEqual(config["candidates"], ["q2_k", "q3_k", "q4_0", "q4_1", "iq4_nl", "q4_k", "q5_0", "q5_1",
                                                "q5_k", "q6_k", "q8_0"])
        schemes = {t["scheme"] for t in doc["planned_mix"]["allocation"]["tensors"]}
        self.assertTrue(schemes <= {"q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1", "q8_0", "fp16"}, schemes)

    def test_bad_input_exits_2_with_one_line(self):
        cases = [
            (["--params", "70B", "--device", "tpu"], "dgx-spark"),  # unknown device: the names
            (["--params", "70B", "--device", "h100-sxm"], "did you mean 'h100'"),
            (["--params", "70B", "--device", "h100", "--kv-cache", "int4"], "fp16, fp8, q8_0"),
            (["--params", "70B", "--device", "h100", "--context", "0"], "at least 1"),
            (["--params", "seventy", "--device", "h100"], "parameter count"),
            (["--params", "70", "--device", "h100"], "70B"),
            (["--params", "70B", "--memory", "0GB"], "positive"),
            (["--params", "70B", "--memory", "-8GB"], "positive"),
            (["--device", "h100"], "--params"),
            (["--params", "70B"], "--device"),
            (["--params", "70B", "--device", "h100", "--task", "pretraining"], "inference, training"),
            (["--params", "70B", "--device", "h100", "--priority", "speed"], "quality, balanced, memory"),
            (["--params", "70B", "--device", "h100", "--task", "training", "--kv-cache", "fp8"], "inference only"),
            (["--params", "70B", "--device", "h100", "--lora-rank", "8"], "lora"),
            (["--params", "70B", "--device", "h100", "--schemes", "q4_k_m"], "recipe"),
            (["--params", "70B", "--device", "h100", "--measurements", "x.json"], "MODEL file"),
            (["--params", "70B", STORIES, "--device", "h100"], "not both"),
            (["--params", "70B", "--device", "h100", "--calib", CALIB], "MODEL file"),
            ([STORIES, "--device", "h100", "--candidates", "q4_0"], "--calib"),
            ([STORIES, "--device", "h100", "--calib", CALIB, "--calib-seqlen", "100000"], "context"),
            ([STORIES, "--device", "h100", "--calib", CALIB, "--task", "lora"], "inference"),
            ([STORIES, "--device", "h100", "--calib", CALIB, "--candidates", "q4_0,zz_9"], "zz_9"),
            ([STORIES, "--device", "tpu", "--calib", CALIB], "dgx-spark"),
        ]
        with tempfile.TemporaryDirectory() as d:
            # A llama2.c checkpoint alone, without its tok512.bin beside it: nothing to tokenize with.
            alone = os.path.join(d, "stories260K.bin")
            with open(STORIES, "rb") as src, open(alone, "wb") as dst:
                dst.write(src.read())
            cases.append(([alone, "--device", "h100", "--calib", CALIB], "tokenizer"))
            cfg = os.path.join(d, "config.json")
            with open(cfg, "w") as f:
                json.dump(CONFIGS["smollm2"], f)
            cases.append(([cfg, "--device", "h100", "--calib", CALIB], "MODEL file"))
            for args, needle in cases:
                p = clitest.run("advise", *args, check=False)
                self.assertEqual(p.returncode, 2, (args, p.stderr))
                self.assertEqual(len(p.stderr.strip().splitlines()), 1, (args, p.stderr))
                self.assertIn(needle, p.stderr, args)


if __name__ == "__main__":
    clitest.main()
