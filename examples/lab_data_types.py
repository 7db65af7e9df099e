# %% [markdown]
# # The data-types lab with bitsmith
# The course lab on number formats, done with bitsmith's Python package: how each format stores
# pi, the INT8 and INT4 codes and scales of 16 weights, FP8 E4M3 against E5M2, NVFP4 against INT4,
# the memory a model needs in each, and the signal-to-noise ratio of every scheme.
# Run it as a script (`python examples/lab_data_types.py`; `--check` also asserts the facts the
# text states) or open it as a notebook: the `# %%` lines are cells (Jupyter with jupytext, VS Code).

# %%
import math
import sys

import numpy as np

try:
    import bitsmith
except ImportError as e:  # CTest runs this; without the package it is a skip, not a failure
    print(f"SKIP: the bitsmith package is not installed (pip install ./python): {e}")
    sys.exit(77)

CHECK = "--check" in sys.argv


def check(condition, what):
    if CHECK and not condition:
        raise SystemExit(f"lab_data_types: check failed: {what}")


def table(rows, columns):
    """A plain text table of records (pandas.DataFrame(rows) shows the same in a notebook)."""
    widths = [max(len(c), *(len(f"{r[c]}") for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for r in rows:
        print("  ".join(f"{r[c]}".ljust(w) for c, w in zip(columns, widths)))
    print()


# %% [markdown]
# ## 1. How each format stores pi

# %%
pi = np.array([math.pi], np.float32)
rows = []
for f in bitsmith.formats():
    codes, values = bitsmith.cast(pi, f["name"])
    v = float(values[0])
    rows.append({"format": f["name"], "bits": f["bits"], "code": hex(int(codes[0])), "value": f"{v:.8g}",
                 "abs_error": f"{abs(v - math.pi):.3g}"})
table(rows, ["format", "bits", "code", "value", "abs_error"])
stored = {r["format"]: float(r["value"]) for r in rows}
check(stored["bfloat16"] == 3.140625, "bf16 keeps 8 significant bits: pi -> 3.140625")
check(stored["float8_e4m3fn"] == 3.25 and stored["float4_e2m1fn"] == 3.0, "e4m3 pi = 3.25, e2m1 pi = 3")

# %% [markdown]
# ## 2. INT8 and INT4 codes and scales of 16 weights
# Symmetric integers: scale = amax / qmax, code = round(w / scale), w' = code x scale.

# %%
w16 = np.random.default_rng(0).standard_normal((1, 16)).astype(np.float32)
q8 = bitsmith.quantize(w16, "int8")            # one float32 scale per row: amax / 127
q4 = bitsmith.quantize(w16, "int4_g16_sym")    # one fp16 scale per group of 16: amax / 7
for name, q in (("INT8", q8), ("INT4", q4)):
    scale = float(q.scales.reshape(-1)[0]) if q.scales is not None else q.tensor_scale
    print(f"{name}: scale {scale:.6g}, codes {q.codes.reshape(-1).tolist()}")
    print(f"      max |w - w'| = {np.max(np.abs(q.dequantize() - w16)):.4g} (at most scale / 2 = {scale / 2:.4g})")
    check(np.allclose(q.codes * np.float32(scale), q.dequantize(), rtol=0, atol=1e-7), f"{name}: w' = code x scale")
    check(np.max(np.abs(q.dequantize() - w16)) <= scale / 2 * 1.001, f"{name}: error within half a step")
check(np.abs(q8.codes).max() == 127 and np.abs(q4.codes).max() == 7, "the largest weight gets code qmax")
print()

# %% [markdown]
# ## 3. FP8: E4M3 against E5M2
# E4M3 spends a bit on precision (max 448), E5M2 on range (max 57344).

# %%
props = {f["name"]: f for f in bitsmith.formats()}
w = bitsmith.synthetic("normal", (40, 256), 42)
rows = []
for name in ("float8_e4m3fn", "float8_e5m2"):
    _, values = bitsmith.cast(w, name)
    err = values - w
    snr = 10 * math.log10(float(np.sum(w.astype(np.float64) ** 2) / np.sum(err.astype(np.float64) ** 2)))
    rows.append({"format": name, "max": props[name]["max"], "epsilon": props[name]["epsilon"],
                 "min_subnormal": props[name]["min_subnormal"], "snr_db": f"{snr:.2f}"})
table(rows, ["format", "max", "epsilon", "min_subnormal", "snr_db"])
check(float(rows[0]["snr_db"]) > float(rows[1]["snr_db"]) + 5, "E4M3 is more precise than E5M2 on N(0,1) weights")
check(props["float8_e4m3fn"]["max"] == 448 and props["float8_e5m2"]["max"] == 57344, "FP8 maxima")

# %% [markdown]
# ## 4. NVFP4 against INT4
# NVFP4: E2M1 values in blocks of 16 with an E4M3 scale each and one float32 tensor scale.

# %%
q = bitsmith.quantize(w, "nvfp4")
print(q)
print("first block's codes:", q.codes[0, :16].tolist(), " its scale:", q.scales[0, 0], " tensor scale:", q.tensor_scale)
lab = bitsmith.error(w, ["nvfp4", "mxfp4", "int4_g16_sym", "int4_g32", "int4_g128", "q4_0", "q4_k"])
table([{k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in r.items()} for r in lab],
      ["scheme", "bits_per_weight", "rmse", "snr_db"])
snr = {r["scheme"]: r["snr_db"] for r in lab}
check(snr["nvfp4"] > snr["mxfp4"], "NVFP4's finer E4M3 scales beat MXFP4's E8M0 ones")
check(snr["nvfp4"] > snr["int4_g128"], "NVFP4 (blocks of 16) beats INT4 with groups of 128")

# %% [markdown]
# ## 5. Memory: what a 7B and a 70B model need in each scheme

# %%
for params in ("7B", "70B"):
    mem = bitsmith.memory(params, schemes=["fp16", "fp8_e4m3", "int8", "int4_g128", "nvfp4", "q4_k"])
    print(f"{params} parameters:")
    table([{"scheme": r["scheme"], "bits/weight": f"{r['bits_per_weight']:.4g}", "GB": f"{r['bytes'] / 1e9:.2f}",
            "naive GB": f"{r['naive_bytes'] / 1e9:.2f}", **{d: ("fits" if ok else "no") for d, ok in r["fits"].items()}}
           for r in mem["results"]], ["scheme", "bits/weight", "GB", "naive GB", *mem["results"][0]["fits"].keys()])
    check(all(r["bytes"] >= r["naive_bytes"] for r in mem["results"]), "scales cost bytes on top of the elements")

# %% [markdown]
# ## 6. SNR of every scheme on the same weights
# About 6 dB per bit: each bit halves the error's amplitude.

# %%
everything = [r for r in bitsmith.error(w, "all") if "error" not in r]
everything.sort(key=lambda r: -r["snr_db"])
table([{"scheme": r["scheme"], "bits/weight": f"{r['bits_per_weight']:.4g}", "snr_db": f"{r['snr_db']:.2f}"}
       for r in everything], ["scheme", "bits/weight", "snr_db"])
by = {r["scheme"]: r for r in everything}
check(by["int8"]["snr_db"] - by["int4_g128"]["snr_db"] > 15, "4 more bits: well over 15 dB more SNR")
if CHECK:
    print("lab_data_types: all checks passed")
