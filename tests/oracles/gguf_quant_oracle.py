"""Oracle data for bitsmith's GGUF block types (the CTest fixture gguf.oracle_generate).

Usage: gguf_quant_oracle.py OUT_DIR

Writes, for tests/gguf/gguf_oracle_test.cc to compare against:
  legacy.f32            float32 [ROWS x COLS] inputs: normal, heavy tails, all-zero blocks,
                        denormals, single large values, ties at rounding boundaries
  legacy.<type>.q       gguf.quants.quantize bytes of legacy.f32 (q4_0 q4_1 q5_0 q5_1 q8_0,
                        gguf_mxfp4 where the package has MXFP4)
  legacy.gguf_mxfp4.ggml.q  the same from ggml's own library (ggml_oracle.py), when built
  deq.<type>.q / .f32   random blocks of every GGUF type and gguf.quants.dequantize of them
  kq.<set>.f32          inputs for the K-quant / iq4_nl error comparison (normal, laplace,
                        student_t, and stories: the stories260K weights when shared/ has them)
                        and, when ggml's own
  kq.<set>.<type>.rmse  library is built (tests/oracles/ggml_oracle.py), the RMSE of ggml's
                        reference quantizer on them (text, one float)
  shape.txt             "ROWS COLS" of legacy.f32
  done                  written last; the test skips when it is absent

Exits 77 (CTest: skipped) when numpy or gguf is not installed.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import numpy as np
    from gguf import GGMLQuantizationType as T
    from gguf import quants
except ImportError as e:  # a clean skip, with the reason
    print(f"SKIP: gguf oracle needs numpy and gguf (pip install gguf): {e}")
    sys.exit(77)

ROWS, COLS = 48, 256
LEGACY = {"q4_0": T.Q4_0, "q4_1": T.Q4_1, "q5_0": T.Q5_0, "q5_1": T.Q5_1, "q8_0": T.Q8_0}
ALL = dict(LEGACY, q2_k=T.Q2_K, q3_k=T.Q3_K, q4_k=T.Q4_K, q5_k=T.Q5_K, q6_k=T.Q6_K,
           iq4_nl=T.IQ4_NL)
if hasattr(T, "MXFP4"):  # gguf >= 0.17
    ALL["gguf_mxfp4"] = T.MXFP4
# Byte offsets of the fp16 scale fields in each block (ggml-common.h): kept finite in the
# random blocks so every decoded value is a number.
FP16_FIELDS = {"q4_0": [0], "q4_1": [0, 2], "q5_0": [0], "q5_1": [0, 2], "q8_0": [0],
               "q2_k": [80, 82], "q3_k": [108], "q4_k": [0, 2], "q5_k": [0, 2], "q6_k": [208],
               "iq4_nl": [0], "gguf_mxfp4": []}


def legacy_inputs(rng: np.random.Generator) -> np.ndarray:
    x = np.zeros((ROWS, COLS), dtype=np.float32)
    for r in range(ROWS):
        kind = r % 8
        if kind == 0:
            x[r] = rng.standard_normal(COLS)
        elif kind == 1:
            x[r] = rng.standard_t(2, COLS) * 0.05          # heavy tails
        elif kind == 2:
            x[r] = rng.standard_normal(COLS)
            x[r, 32:96] = 0.0                              # two all-zero blocks
        elif kind == 3:
            x[r] = rng.standard_normal(COLS) * 1e-41       # denormals (inverse scale overflows)
        elif kind == 4:
            x[r] = rng.standard_normal(COLS) * 1e-3
            x[r, rng.integers(0, COLS, 4)] = [250.0, -250.0, 31.0, -7.0]  # single large values
        elif kind == 5:
            # Ties: with max -8 (Q4_0: d = 1) or 127 (Q8_0: d = 1) values k + 0.5 sit exactly on
            # rounding boundaries of the x/d + 8.5 truncation and of roundf.
            blk = (rng.integers(-16, 16, COLS) + 0.5).astype(np.float32) * 0.5
            blk[::32] = -8.0
            x[r] = blk
        elif kind == 6:
            blk = rng.integers(-254, 254, COLS).astype(np.float32) * 0.5
            blk[::32] = 127.0
            x[r] = blk
        else:
            # Q4_1/Q5_1 ties: min 0, max 15 (or 31) gives d = 1, and k + 0.5 are boundaries.
            blk = rng.integers(0, 30, COLS).astype(np.float32) * 0.5
            blk[::32], blk[1::32] = 0.0, 15.0
            x[r] = blk
    return x


def random_blocks(name: str, rng: np.random.Generator, nblocks: int) -> np.ndarray:
    qtype = ALL[name]
    block, size = quants.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, (nblocks, size), dtype=np.uint8)
    for off in FP16_FIELDS[name]:
        d = (rng.standard_normal(nblocks) * 0.05).astype(np.float16)
        d[::7] = np.float16(6e-5)   # some subnormal scales
        raw[:, off:off + 2] = d.view(np.uint8).reshape(nblocks, 2)
    return raw


def stories260k_weights() -> np.ndarray | None:
    """All float32 weights of shared/models/stories260K/stories260K.bin (llama2.c: a 7 x int32
    header, then the tensors), as rows of 4096 (the tail that does not fill a row dropped);
    None when the model is not there ($BITSMITH_SHARED_DIR or ../shared next to the repo)."""
    import os
    shared = Path(os.environ.get("BITSMITH_SHARED_DIR",
                                 Path(__file__).resolve().parents[3] / "shared"))
    path = shared / "models" / "stories260K" / "stories260K.bin"
    if not path.is_file():
        return None
    w = np.fromfile(path, dtype=np.float32, offset=28)
    return w[: (w.size // 4096) * 4096].reshape(-1, 4096)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    (out / "done").unlink(missing_ok=True)
    rng = np.random.default_rng(20240601)

    x = legacy_inputs(rng)
    x.tofile(out / "legacy.f32")
    (out / "shape.txt").write_text(f"{ROWS} {COLS}\n")
    with np.errstate(all="ignore"):  # denormal blocks overflow 1/d, as in ggml's C
        for name, qtype in LEGACY.items():
            quants.quantize(x, qtype).tofile(out / f"legacy.{name}.q")

    if "gguf_mxfp4" in ALL:  # ggml's reference rule, as the gguf package writes it
        with np.errstate(all="ignore"):
            quants.quantize(x, ALL["gguf_mxfp4"]).tofile(out / "legacy.gguf_mxfp4.q")

    for name, qtype in ALL.items():
        block, _ = quants.GGML_QUANT_SIZES[qtype]
        nblocks = 64 * 256 // block  # 4 rows of 4096 values
        raw = random_blocks(name, rng, nblocks)
        raw.tofile(out / f"deq.{name}.q")
        quants.dequantize(raw, qtype).astype(np.float32).tofile(out / f"deq.{name}.f32")

    # Error comparison sets (16 rows x 4096): N(0,1), Laplace, Student-t(3) heavy tails.
    sets = {
        "normal": rng.standard_normal((16, 4096)),
        "laplace": rng.laplace(size=(16, 4096)) * 0.02,
        "student_t": rng.standard_t(3, (16, 4096)),
    }
    stories = stories260k_weights()
    if stories is not None:
        sets["stories"] = stories
    ggml = None
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        import ggml_oracle
        if ggml_oracle.available():
            ggml = ggml_oracle
    except ImportError:
        pass
    if ggml is not None and "mxfp4" in ggml.supported_types():
        (out / "legacy.gguf_mxfp4.ggml.q").write_bytes(ggml.quantize("mxfp4", x))
    for set_name, data in sets.items():
        data = data.astype(np.float32)
        data.tofile(out / f"kq.{set_name}.f32")
        if ggml is None:
            continue
        for name in ["q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "iq4_nl"]:
            gname = name.replace("_k", "_K")
            back = ggml.dequantize(gname, ggml.quantize(gname, data), data.shape)
            rmse = float(np.sqrt(np.mean((back.astype(np.float64) - data) ** 2)))
            (out / f"kq.{set_name}.{name}.rmse").write_text(f"{rmse:.9g}\n")
    if ggml is None:
        print("note: ggml library not built; the K-quant error comparison will skip")
    (out / "done").write_text("ok\n")
    print(f"gguf oracle data written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
