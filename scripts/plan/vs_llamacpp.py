#!/usr/bin/env python3
"""bitsmith's planned mixes against llama.cpp's fixed mixes at the same file size, judged by
llama-perplexity --kl-divergence itself on text not used for calibration (docs/plan.md).

For each llama.cpp mix (made by llama-quantize with an imatrix from the calibration text), the
planned GGUF of the same or smaller size (`bitsmith plan --measurements M --target-bytes SIZE`),
and bitsmith's uniform recipe of that mix (same mix, GPTQ act-order): mean KLD, 99% KLD and top-1
agreement against the reference over the evaluation text, and the ratios. Prints a Markdown table
and writes every number as JSON.

  scripts/plan/vs_llamacpp.py --ref REF.gguf --calib CALIB.txt --text EVAL.txt --measurements M.json \\
      --mixes Q3_K_M,Q4_K_M,Q5_K_M --workdir DIR [--chunks 20] [--bpw 4.6,5,5.5,...]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BITSMITH = os.environ.get("BITSMITH_BIN", os.path.join(HERE, "..", "..", "build", "bitsmith"))
LLAMA_BIN = os.environ.get("LLAMA_CPP_BIN", os.path.expanduser("~/.cache/bitsmith/llama.cpp/build/bin"))


def sh(args, log=None):
    env = dict(os.environ, LD_LIBRARY_PATH=LLAMA_BIN)
    with tempfile.TemporaryFile(mode="w+") as f:
        p = subprocess.run(args, stdout=f, stderr=subprocess.STDOUT, env=env)
        f.seek(0)
        out = f.read()
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(args)}\n{out[-3000:]}")
    return out


def perplexity(args, chunks, needs):
    exe = os.path.join(LLAMA_BIN, "llama-perplexity")
    for _ in range(3):  # llama.cpp's logger thread can drop its last lines at exit
        out = sh([exe, *args, "-c", "512", "--chunks", str(chunks), "-fa", "off", "-t", "2"])
        if needs in out:
            return out
    sys.exit(f"llama-perplexity never printed '{needs}'")


def kld_stats(model, base, chunks):
    out = perplexity(["-m", model, "--kl-divergence-base", base, "--kl-divergence"], chunks, "Same top p:")
    num = lambda pat: float(re.search(pat, out).group(1))
    return {"kld": num(r"Mean\s+KLD:\s+([0-9.]+)"), "kld_99": num(r"99\.0%\s+KLD:\s+([0-9.]+)"),
            "top1": num(r"Same top p:\s+([0-9.]+)"), "ppl": num(r"Mean\s+PPL\(Q\)\s*:\s+([0-9.]+)")}


def bpw(path):
    info = json.loads(sh([BITSMITH, "inspect", path, "--json"]))
    return info["bytes"] * 8 / info["parameters"]


def write_flags(a, imatrix):
    """plan -o's write method: the shared imatrix file, or GPTQ act-order on the calibration text."""
    if a.write_method == "gptq":
        return ["--write-method", "gptq", *gptq_flags(a), "--calib", a.calib]
    if a.write_method == "imatrix-bitsmith":
        return ["--write-method", "imatrix", "--imatrix", bitsmith_imatrix(a)]
    return ["--write-method", "imatrix", "--imatrix", imatrix]


def gptq_flags(a):
    """GPTQ's options for planned and uniform files: act-order, the weighted group search, the refit."""
    return (["--act-order"] + (["--weighted-params"] if a.weighted_params else [])
            + (["--refit-params"] if a.refit_params else []))


def gptq_tag(a):
    """The file-name tag of those options."""
    return ("-weighted" if a.weighted_params else "") + ("-refit" if a.refit_params else "")


def bitsmith_imatrix(a):
    """bitsmith's own imatrix on the same calibration text: llama-imatrix's entries plus the output
    head's (which llama-imatrix never records for a tied head)."""
    path = os.path.join(a.workdir, "bitsmith.imatrix.gguf")
    if not os.path.exists(path):
        sh([BITSMITH, "imatrix", a.ref, "--text", a.calib, "--calib-samples", str(a.imatrix_chunks),
            "--calib-seqlen", "256", "-o", path])
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", required=True)
    ap.add_argument("--calib", required=True)
    ap.add_argument("--text", required=True)
    ap.add_argument("--measurements", required=True)
    ap.add_argument("--mixes", default="Q3_K_M,Q4_K_M,Q5_K_M")
    ap.add_argument("--curve-mixes", default="", help="more llama.cpp mixes for the KLD-vs-bpw curve (no uniform)")
    ap.add_argument("--bpw", default="", help="planned points for the curve, bits per weight")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--chunks", type=int, default=20)
    ap.add_argument("--imatrix-chunks", type=int, default=8)
    ap.add_argument("--skip-uniform", action="store_true")
    ap.add_argument("--weighted-params", action="store_true",
                    help="GPTQ (planned --write-method gptq and the uniform mix) with --weighted-params")
    ap.add_argument("--refit-params", action="store_true",
                    help="GPTQ (planned --write-method gptq and the uniform mix) with --refit-params")
    ap.add_argument("--write-method", default="imatrix",
                    help="how planned files are written: imatrix (default: llama.cpp's imatrix file, the same as "
                         "llama-quantize's), imatrix-bitsmith (bitsmith imatrix on the same text, with the head's "
                         "entry) or gptq (--act-order, 128 x 512 calibration tokens, as the uniform mix)")
    a = ap.parse_args()
    w = lambda n: os.path.join(a.workdir, n)
    os.makedirs(a.workdir, exist_ok=True)
    imatrix = w("ref.imatrix.gguf")
    if not os.path.exists(imatrix):
        sh([os.path.join(LLAMA_BIN, "llama-imatrix"), "-m", a.ref, "-f", a.calib, "-o", imatrix, "-c", "256",
            "--chunks", str(a.imatrix_chunks), "-t", "2"])
    base = w("ref.kld-base")
    if not os.path.exists(base):
        perplexity(["-m", a.ref, "-f", a.text, "--kl-divergence-base", base], a.chunks, "Final estimate")
    rows = []
    for mix in [m for m in a.mixes.split(",") if m] + [m for m in a.curve_mixes.split(",") if m]:
        lc = w(f"llamacpp-{mix}-imatrix.gguf")
        if not os.path.exists(lc):
            sh([os.path.join(LLAMA_BIN, "llama-quantize"), "--imatrix", imatrix, a.ref, lc, mix, "2"])
        size = os.path.getsize(lc)
        row = {"mix": mix, "llamacpp": {"bytes": size, "bpw": bpw(lc), **kld_stats(lc, base, a.chunks)}}
        planned = w(f"planned-{mix}-{a.write_method}{gptq_tag(a)}.gguf")
        if not os.path.exists(planned):
            # The budget is llama.cpp's tensor bytes; both files add the same kind of metadata.
            tensor_bytes = json.loads(sh([BITSMITH, "inspect", lc, "--json"]))["bytes"]
            plan = lambda budget: sh([BITSMITH, "plan", a.ref, "--measurements", a.measurements, "--target-bytes",
                                      str(budget), "--recipe-out", w(f"planned-{mix}.recipe.json"), "-o", planned,
                                      *write_flags(a, imatrix)])
            # bitsmith's metadata may be larger than llama.cpp's: the whole file must not be. A
            # plain-rounded probe of the same plan (seconds) says by how much, before a GPTQ write.
            probe = w(f"probe-{mix}.gguf")
            sh([BITSMITH, "plan", a.ref, "--measurements", a.measurements, "--target-bytes", str(tensor_bytes),
                "-o", probe, "--write-method", "rtn"])
            over = max(0, os.path.getsize(probe) - size)
            os.remove(probe)
            plan(tensor_bytes - over)
            assert os.path.getsize(planned) <= size, f"{planned} is larger than {lc}"
        row["planned"] = {"bytes": os.path.getsize(planned), "bpw": bpw(planned), **kld_stats(planned, base, a.chunks)}
        if mix in a.mixes.split(",") and not a.skip_uniform:
            uni = w(f"bitsmith-{mix}-gptq{gptq_tag(a)}.gguf")
            if not os.path.exists(uni):
                sh([BITSMITH, "quantize", a.ref, uni, "--recipe", mix.lower(), "--method", "gptq", *gptq_flags(a),
                    "--calib", a.calib])
            row["bitsmith_mix_gptq"] = {"bytes": os.path.getsize(uni), "bpw": bpw(uni), **kld_stats(uni, base, a.chunks)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    for b in [float(x) for x in a.bpw.split(",") if x]:
        planned = w(f"planned-{b:.2f}bpw-{a.write_method}{gptq_tag(a)}.gguf")
        if not os.path.exists(planned):
            sh([BITSMITH, "plan", a.ref, "--measurements", a.measurements, "--target-bpw", str(b), "-o", planned,
                *write_flags(a, imatrix)])
        row = {"target_bpw": b, "planned": {"bytes": os.path.getsize(planned), "bpw": bpw(planned),
                                            **kld_stats(planned, base, a.chunks)}}
        rows.append(row)
        print(json.dumps(row), flush=True)
    with open(w("results.json"), "w") as f:
        json.dump(rows, f, indent=1)
    print("\n| llama.cpp mix | size (MB) | llama.cpp+imatrix KLD | bitsmith mix GPTQ KLD | planned size (MB) | planned KLD "
          "| planned / llama.cpp | planned / bitsmith mix |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "mix" not in r:
            continue
        lc, pl, un = r["llamacpp"], r["planned"], r.get("bitsmith_mix_gptq")
        print(f"| {r['mix']} | {lc['bytes'] / 1e6:.2f} ({lc['bpw']:.3f} bpw) | {lc['kld']:.5f} | "
              f"{un['kld'] if un else float('nan'):.5f} | {pl['bytes'] / 1e6:.2f} ({pl['bpw']:.3f} bpw) | {pl['kld']:.5f} | "
              f"{pl['kld'] / lc['kld']:.2f}x | {pl['kld'] / un['kld'] if un else float('nan'):.2f}x |")


if __name__ == "__main__":
    main()
