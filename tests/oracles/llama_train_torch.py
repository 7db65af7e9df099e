"""PyTorch autograd as the oracle of bitsmith's backward pass (llm.c's test_gpt2 check, on a
llama2.c checkpoint): the same Llama decoder built in torch from the checkpoint's weights (float64,
llama2.c's `model.py`: RMSNorm eps 1e-5, RoPE on adjacent pairs with theta 10000, grouped-query
causal attention, SwiGLU, tied or separate classifier), the mean cross-entropy of one batch,
`loss.backward()`, and every parameter's gradient compared with the one bitsmith wrote.
Nothing here imports bitsmith; the weights come from io_oracles.read_llama2c.

    llama_train_torch.py --check DUMP_EXE MODEL TOKENIZER WORKDIR [--tolerance T]

DUMP_EXE is tests/train/train_grad_dump_main.cc. Prints the loss of both, and per tensor the
largest |bitsmith - torch| relative to that tensor's largest torch gradient; exits 1 when one
exceeds T (default 1e-4), 77 (a skip) when torch cannot be imported, by this interpreter or by
the venv scripts/peers/setup_hf_venv.sh makes (~/.cache/bitsmith/venv-hf, or $BITSMITH_HF_VENV).
"""
import json
import os
import subprocess
import sys

SKIP = 77


def torch_or_reexec():
    try:
        import torch  # noqa: F401
        return
    except ImportError:
        pass
    venv = os.environ.get("BITSMITH_HF_VENV", os.path.expanduser("~/.cache/bitsmith/venv-hf"))
    py = os.path.join(venv, "bin", "python")
    # (a venv's python is a symlink to the system one: the guard variable, not the path, stops a loop)
    if os.path.exists(py) and not os.environ.get("BITSMITH_TORCH_REEXEC"):
        p = subprocess.run([py, "-c", "import torch, numpy"], capture_output=True)
        if p.returncode == 0:
            os.environ["BITSMITH_TORCH_REEXEC"] = "1"
            os.execv(py, [py] + sys.argv)
    print(f"SKIP: torch cannot be imported here nor in {venv} (scripts/peers/setup_hf_venv.sh makes it)")
    sys.exit(SKIP)


def rmsnorm(x, w, eps=1e-5):
    return x * (x.pow(2).mean(-1, keepdim=True) + eps).rsqrt() * w


def rope(x, theta=10000.0):
    """x [B, T, H, hd]: rotates adjacent pairs (2i, 2i+1) by pos * theta^(-2i/hd)."""
    import torch
    b, t, h, hd = x.shape
    freq = theta ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    ang = torch.arange(t, dtype=torch.float64)[:, None] * freq[None, :]  # [T, hd/2]
    cos, sin = (a[None, :, None, :].to(x.dtype) for a in (ang.cos(), ang.sin()))
    a, bb = x[..., 0::2], x[..., 1::2]
    return torch.stack([a * cos - bb * sin, a * sin + bb * cos], -1).reshape(x.shape)


def loss_of(cfg, w, tokens, targets):
    import torch
    import torch.nn.functional as F
    d, heads, kvh, hd = cfg["dim"], cfg["heads"], cfg["kv_heads"], cfg["head"]
    b, t = tokens.shape
    x = w["token_embd.weight"][tokens]  # float64 for the oracle, float32 for the speed comparison
    mask = torch.full((t, t), float("-inf"), dtype=x.dtype).triu(1)
    for l in range(cfg["layers"]):
        p = f"blk.{l}."
        xn = rmsnorm(x, w[p + "attn_norm.weight"])
        q = rope((xn @ w[p + "attn_q.weight"].T).view(b, t, heads, hd))
        k = rope((xn @ w[p + "attn_k.weight"].T).view(b, t, kvh, hd))
        v = (xn @ w[p + "attn_v.weight"].T).view(b, t, kvh, hd)
        k = k.repeat_interleave(heads // kvh, dim=2)  # query head h reads kv head h // group
        v = v.repeat_interleave(heads // kvh, dim=2)
        q, k, v = (m.transpose(1, 2) for m in (q, k, v))  # [B, H, T, hd]
        s = q @ k.transpose(-1, -2) / hd ** 0.5 + mask
        att = (s.softmax(-1) @ v).transpose(1, 2).reshape(b, t, heads * hd)
        x = x + att @ w[p + "attn_output.weight"].T
        xn = rmsnorm(x, w[p + "ffn_norm.weight"])
        x = x + (F.silu(xn @ w[p + "ffn_gate.weight"].T) * (xn @ w[p + "ffn_up.weight"].T)) @ w[p + "ffn_down.weight"].T
    x = rmsnorm(x, w["output_norm.weight"])
    out = w["token_embd.weight"] if cfg["shared"] else w["output.weight"]
    logits = x @ out.T
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-1)


def main():
    args = sys.argv[1:]
    if len(args) < 5 or args[0] != "--check":
        print(__doc__)
        return 2
    torch_or_reexec()
    import numpy as np
    import torch
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import io_oracles

    exe, model, tokenizer, work = args[1:5]
    tol = float(args[args.index("--tolerance") + 1]) if "--tolerance" in args else 1e-4
    os.makedirs(work, exist_ok=True)
    p = subprocess.run([exe, model, tokenizer, work], capture_output=True, text=True)
    if p.returncode != 0:
        print(f"{exe} exited {p.returncode}:\n{p.stderr}")
        return 1
    ours = json.loads(p.stdout)
    cfg, weights = io_oracles.read_llama2c(model)
    w = {n: torch.tensor(np.array(a, dtype=np.float64), requires_grad=True) for n, a in weights.items()}
    tokens = torch.tensor(np.load(os.path.join(work, "tokens.npy")).astype(np.int64))
    targets = torch.tensor(np.load(os.path.join(work, "targets.npy")).astype(np.int64))
    torch.set_num_threads(1)
    loss = loss_of(cfg, w, tokens, targets)
    loss.backward()
    loss_err = abs(ours["loss"] - loss.item()) / abs(loss.item())
    print(f"loss: bitsmith {ours['loss']:.7f}  torch (float64) {loss.item():.7f}  relative error {loss_err:.3g}")
    worst, worst_name, failed = 0.0, "", []
    if sorted(ours["tensors"]) != sorted(w):
        print(f"tensor lists differ: bitsmith {sorted(ours['tensors'])} torch {sorted(w)}")
        return 1
    for name in ours["tensors"]:
        g_ours = np.load(os.path.join(work, f"grad.{name}.npy")).astype(np.float64)
        g_ref = w[name].grad.numpy()
        top = np.abs(g_ref).max()
        err = np.abs(g_ours - g_ref).max() / top if top > 0 else np.abs(g_ours).max()
        print(f"  {name:28s} max |d| / max |g| = {err:.3g}  (max |g| {top:.3g})")
        if err > worst:
            worst, worst_name = err, name
        if not err <= tol:
            failed.append(name)
    print(f"max relative gradient error vs torch: {worst:.3g} ({worst_name}); tolerance {tol:g}")
    if loss_err > tol or failed:
        print(f"FAILED: {failed or 'loss'}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
