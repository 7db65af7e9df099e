"""A llama2.c model's forward pass in numpy, rewritten from llama2.c `run.c` (`forward`): RMSNorm
(eps 1e-5), RoPE on adjacent pairs (theta 10000), grouped-query causal attention, SwiGLU, a tied
or separate classifier. Nothing here imports bitsmith; the weights come from io_oracles.read_llama2c.

    cfg, w = io_oracles.read_llama2c(path)
    logits, inputs = forward(cfg, w, tokens)

`inputs` maps each linear's canonical weight name (blk.L.attn_q.weight ...) to the input it
multiplies, float32 [tokens, cols]: what a calibration pass observes of it.
"""
import numpy as np

EPS = 1e-5


def rmsnorm(x, w):
    x64 = x.astype(np.float64)
    return (x64 / np.sqrt((x64 * x64).mean(-1, keepdims=True) + EPS) * w).astype(np.float32)


def rope(x, n_heads, head):
    """x [T, n_heads * head]; rotates (x[2i], x[2i+1]) of each head by pos / 10000^(2i / head)."""
    t = x.shape[0]
    pos = np.arange(t, dtype=np.float64)[:, None]
    freq = 1.0 / 10000.0 ** (np.arange(0, head, 2, dtype=np.float64) / head)
    ang = pos * freq[None, :]  # [T, head / 2]
    cos, sin = np.cos(ang), np.sin(ang)
    v = x.reshape(t, n_heads, head // 2, 2).astype(np.float64)
    a, b = v[..., 0], v[..., 1]
    out = np.stack([a * cos[:, None, :] - b * sin[:, None, :], a * sin[:, None, :] + b * cos[:, None, :]], -1)
    return out.reshape(x.shape).astype(np.float32)


def forward(cfg, w, tokens):
    d, heads, kvh, head, layers = cfg["dim"], cfg["heads"], cfg["kv_heads"], cfg["head"], cfg["layers"]
    t = len(tokens)
    x = w["token_embd.weight"][np.asarray(tokens)].astype(np.float32)
    inputs = {}
    mask = np.triu(np.full((t, t), -np.inf), 1)
    for l in range(layers):
        p = f"blk.{l}."
        xn = rmsnorm(x, w[p + "attn_norm.weight"])
        for n in ("attn_q", "attn_k", "attn_v"):
            inputs[p + n + ".weight"] = xn
        q = rope(xn @ w[p + "attn_q.weight"].T, heads, head)
        k = rope(xn @ w[p + "attn_k.weight"].T, kvh, head)
        v = xn @ w[p + "attn_v.weight"].T
        att = np.empty((t, heads * head), np.float32)
        for h in range(heads):
            g = h // (heads // kvh)
            qh, kh, vh = (m[:, s * head:(s + 1) * head].astype(np.float64) for m, s in ((q, h), (k, g), (v, g)))
            sc = qh @ kh.T / np.sqrt(head) + mask
            sc = np.exp(sc - sc.max(-1, keepdims=True))
            att[:, h * head:(h + 1) * head] = (sc / sc.sum(-1, keepdims=True)) @ vh
        inputs[p + "attn_output.weight"] = att
        x = x + att @ w[p + "attn_output.weight"].T
        xn = rmsnorm(x, w[p + "ffn_norm.weight"])
        inputs[p + "ffn_gate.weight"] = inputs[p + "ffn_up.weight"] = xn
        gate = xn @ w[p + "ffn_gate.weight"].T
        hidden = (gate / (1.0 + np.exp(-gate))) * (xn @ w[p + "ffn_up.weight"].T)
        inputs[p + "ffn_down.weight"] = hidden.astype(np.float32)
        x = x + hidden @ w[p + "ffn_down.weight"].T
    x = rmsnorm(x, w["output_norm.weight"])
    out = w["token_embd.weight"] if cfg["shared"] else w["output.weight"]
    return (x @ out.T).astype(np.float32), inputs
