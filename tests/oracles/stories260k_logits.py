#!/usr/bin/env python3
"""Writes the per-position logits golden of stories260K (llm.c's test_gpt2 style) from the
independent numpy forward pass (llama2c_forward.py, rewritten from llama2.c's run.c; nothing
here imports bitsmith):

    tests/infer/golden/stories260k_tokens.txt  T token ids, space-separated: BOS, then a fixed
                                               prompt as llama2.c encodes it (llama2c_tokenizer.py)
    tests/infer/golden/stories260k_logits.npy  float32 [T, vocab]: the logits at every position

tests/infer/engine_test.cc (Engine.Stories260KLogitsMatchNumpyForward) runs bitsmith's engine on
the same tokens and compares every position. Regenerate only when the reference itself changes:

    python3 tests/oracles/stories260k_logits.py [SHARED_DIR]   (default ../shared)
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import io_oracles  # noqa: E402
import llama2c_forward  # noqa: E402
import llama2c_tokenizer  # noqa: E402

PROMPT = b"Once upon a time, there was a little girl named Lily. She loved to play outside"


def main():
    shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "..", "shared")
    model = os.path.join(shared, "models", "stories260K", "stories260K.bin")
    tok_path = os.path.join(shared, "models", "stories260K", "tok512.bin")
    cfg, w = io_oracles.read_llama2c(model)
    vocab, scores = llama2c_tokenizer.read_tokenizer(tok_path, 512)
    tokens = np.asarray(llama2c_tokenizer.encode(PROMPT, vocab, scores), dtype=np.int32)
    logits, _ = llama2c_forward.forward(cfg, w, tokens.tolist())
    out = os.path.join(HERE, "..", "infer", "golden")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "stories260k_tokens.txt"), "w") as f:
        f.write(" ".join(str(t) for t in tokens) + "\n")
    np.save(os.path.join(out, "stories260k_logits.npy"), logits.astype(np.float32))
    print(f"{len(tokens)} positions x {logits.shape[1]} logits, max |logit| {np.abs(logits).max():.3f}")


if __name__ == "__main__":
    main()
