"""NVFP4 for vLLM: the projections vLLM fuses (q/k/v -> qkv_proj, gate/up -> gate_up_proj) keep
one weight_global_scale per fused layer, so bitsmith must give each fused group one global scale.
A loader that applies vLLM's rule (one global scale per fused group, the first shard's) must
dequantize every projection exactly as a per-projection loader does, for RTN, GPTQ and AWQ."""
import os
import sys
import tempfile
import unittest

import clitest
from clitest import SHARED, run

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "oracles"))
np = clitest.require_module("numpy")
clitest.require_module("ml_dtypes")
import io_oracles  # noqa: E402

MODEL = os.path.join(SHARED, "models", "stories260K", "stories260K.bin")
CALIB = os.path.join(SHARED, "data", "tinyshakespeare.txt")
GROUPS = {"qkv": ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
          "gate_up": ("mlp.gate_proj", "mlp.up_proj")}


def dequantize(arrays, base, global_scale):
    return io_oracles.decode_nvfp4_ct(arrays[base + ".weight_packed"], arrays[base + ".weight_scale"], global_scale)


class FusedGlobalScales(unittest.TestCase):
    def check(self, *method):
        with tempfile.TemporaryDirectory() as t:
            out = os.path.join(t, "nv")
            run("quantize", MODEL, out, "--scheme", "nvfp4", *method)
            header, arrays = io_oracles.read_safetensors_raw(os.path.join(out, "model.safetensors"))
            layers = sorted({int(k.split(".")[2]) for k in header if k.startswith("model.layers.")})
            self.assertEqual(len(layers), 5)
            distinct_own = 0
            for layer in layers:
                for group, members in GROUPS.items():
                    bases = [f"model.layers.{layer}.{m}" for m in members]
                    scales = [arrays[b + ".weight_global_scale"].item() for b in bases]
                    vllm = scales[0]  # one global scale for the fused layer
                    for b, s in zip(bases, scales):
                        self.assertEqual(s, vllm, f"{b}: {s} != {vllm} ({method or 'rtn'})")
                        np.testing.assert_array_equal(dequantize(arrays, b, vllm), dequantize(arrays, b, s))
                    # The group's scale comes from the group's amax: at least one member's own
                    # amax is below it (so a per-projection writer would have differed).
                    w = [dequantize(arrays, b, s) for b, s in zip(bases, scales)]
                    distinct_own += len({float(np.abs(x).max()) for x in w}) > 1
            self.assertGreater(distinct_own, 0)

    def test_rtn(self):
        self.check()

    def test_gptq(self):
        self.check("--method", "gptq", "--calib", CALIB, "--calib-samples", "8", "--calib-seqlen", "64")

    def test_awq(self):
        self.check("--method", "awq", "--calib", CALIB, "--calib-samples", "8", "--calib-seqlen", "64")


if __name__ == "__main__":
    clitest.main()
