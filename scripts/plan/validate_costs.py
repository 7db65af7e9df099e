#!/usr/bin/env python3
"""How much the allocation changes when the planner uses the proxy (or the hybrid estimate)
instead of the exact KL divergence (docs/plan.md): given measurements of one model taken with
--costs exact and others, for each budget it allocates with each kind of cost, scores every choice
by the exact costs (the summed KLD of the tensors' chosen options) and counts the tensors whose
scheme differs from the exact allocation's. Optionally (--model/--text) it writes each planned
file and measures its real KL divergence with `bitsmith eval`.

  scripts/plan/validate_costs.py --exact E.json --other proxy=P.json --other hybrid=H.json \\
      --model MODEL [--tokenizer T] --bpw 7.2,7.5,8 [--text EVAL.txt --workdir DIR]
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BITSMITH = os.environ.get("BITSMITH_BIN", os.path.join(HERE, "..", "..", "build", "bitsmith"))


def run(*args):
    p = subprocess.run([BITSMITH, *map(str, args)], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"bitsmith {' '.join(map(str, args))}: {p.stderr}")
    return p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exact", required=True)
    ap.add_argument("--other", action="append", default=[], help="NAME=measurements.json")
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokenizer", default="")
    ap.add_argument("--bpw", required=True)
    ap.add_argument("--text", default="")
    ap.add_argument("--ctx", default="128")
    ap.add_argument("--chunks", default="40")
    ap.add_argument("--workdir", default="")
    a = ap.parse_args()
    tok = ["--tokenizer", a.tokenizer] if a.tokenizer else []
    exact = json.load(open(a.exact))
    cost = {(t["name"], o["scheme"]): o["kld"] for t in exact["tensors"] for o in t["options"]}
    sources = [("exact", a.exact, "kld"), ("proxy", a.exact, "proxy")]
    for spec in a.other:
        name, path = spec.split("=", 1)
        sources.append((name, path, "kld"))
    doc = json.loads(run("plan", a.model, *tok, "--measurements", a.exact, "--json"))
    print(f"proxy vs exact Spearman over {doc['proxy_pairs']} options: {doc['proxy_spearman']:.3f}")
    print("| bpw budget | costs | summed exact KLD of the choice | tensors differing from exact | eval KLD |")
    print("|---|---|---|---|---|")
    for b in [float(x) for x in a.bpw.split(",")]:
        base = None
        for name, path, kind in sources:
            alloc = json.loads(run("plan", a.model, *tok, "--measurements", path, "--target-bpw", b, "--cost", kind,
                                   "--json"))["allocation"]
            choice = {t["name"]: t["scheme"] for t in alloc["tensors"]}
            if base is None:
                base = choice
            summed = sum(max(cost[(n, s)], 0.0) for n, s in choice.items())
            differ = sum(1 for n in choice if choice[n] != base[n])
            real = ""
            if a.text and a.workdir:
                os.makedirs(a.workdir, exist_ok=True)
                out = os.path.join(a.workdir, f"{name}-{b}.gguf")
                ref = os.path.join(a.workdir, "f32.gguf")
                if not os.path.exists(ref):
                    run("quantize", a.model, *tok, ref, "--scheme", "f32")
                run("plan", a.model, *tok, "--measurements", path, "--target-bpw", b, "--cost", kind, "-o", out)
                ev = json.loads(run("eval", out, "--ref", ref, "--text", a.text, "--ctx", a.ctx, "--max-chunks",
                                    a.chunks, "--json"))
                real = f"{ev['kld']:.5f}"
            print(f"| {b} | {name} | {summed:.5f} | {differ}/{len(choice)} | {real} |")


if __name__ == "__main__":
    main()
