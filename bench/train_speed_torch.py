"""PyTorch (CPU) training speed on the architecture `bitsmith train` runs, for the side-by-side
figure of docs/train.md: the same Llama decoder (tests/oracles/llama_train_torch.py's
`loss_of`, float32 here), the same batch x sequence, AdamW, the same thread count; tokens per
second of whole optimizer steps (forward, backward, update), after one warm-up step.

    train_speed_torch.py (--llama2c MODEL.bin | --config CONFIG.json) --batch B --seq T --threads N [--steps S]

Prints one JSON line: {"tokens_per_s": ..., "seconds_per_step": ..., "parameters": ..., "threads": N}.
Runs under the HF venv (scripts/peers/setup_hf_venv.sh) or any Python with torch and numpy.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "oracles"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llama2c")
    ap.add_argument("--config")
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--seq", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--steps", type=int, default=10)
    a = ap.parse_args()
    import numpy as np
    import torch
    import llama_train_torch as oracle
    torch.set_num_threads(a.threads)
    if a.llama2c:
        import io_oracles
        cfg, weights = io_oracles.read_llama2c(a.llama2c)
        w = {n: torch.tensor(np.array(v, dtype=np.float32), requires_grad=True) for n, v in weights.items()}
    else:
        with open(a.config) as f:
            c = json.load(f)
        d, heads = c["dim"], c["n_heads"]
        kvh = c.get("n_kv_heads", heads)
        hidden = c.get("hidden_dim", (2 * 4 * d // 3 + 31) // 32 * 32)
        hd = d // heads
        cfg = dict(dim=d, hidden=hidden, layers=c["n_layers"], heads=heads, kv_heads=kvh, vocab=c["vocab_size"],
                   shared=c.get("tied_embeddings", True), head=hd)
        g = torch.Generator().manual_seed(0)
        shapes = {"token_embd.weight": (cfg["vocab"], d), "output_norm.weight": (d,)}
        if not cfg["shared"]:
            shapes["output.weight"] = (cfg["vocab"], d)
        for l in range(cfg["layers"]):
            p = f"blk.{l}."
            shapes.update({p + "attn_norm.weight": (d,), p + "attn_q.weight": (d, d), p + "attn_k.weight": (kvh * hd, d),
                           p + "attn_v.weight": (kvh * hd, d), p + "attn_output.weight": (d, d),
                           p + "ffn_norm.weight": (d,), p + "ffn_gate.weight": (hidden, d),
                           p + "ffn_up.weight": (hidden, d), p + "ffn_down.weight": (d, hidden)})
        w = {n: (torch.ones(s) if len(s) == 1 else 0.02 * torch.randn(s, generator=g)).requires_grad_() for n, s in shapes.items()}
    opt = torch.optim.AdamW(list(w.values()), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
    gen = torch.Generator().manual_seed(1)
    times = []
    for step in range(a.steps + 1):
        tokens = torch.randint(0, cfg["vocab"], (a.batch, a.seq), generator=gen)
        targets = torch.randint(0, cfg["vocab"], (a.batch, a.seq), generator=gen)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = oracle.loss_of(cfg, w, tokens, targets)
        loss.backward()
        opt.step()
        if step > 0:  # the first step allocates and warms caches
            times.append(time.perf_counter() - t0)
    per_step = sum(times) / len(times)
    print(json.dumps({"tokens_per_s": a.batch * a.seq / per_step, "seconds_per_step": per_step,
                      "parameters": sum(v.numel() for v in w.values()), "threads": a.threads,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
