"""Runs under the Hugging Face venv (scripts/peers/setup_hf_venv.sh), driven by
tests/cli/test_hf_loaders_cli.py: loads each bitsmith output folder with transformers'
AutoModelForCausalLM / AutoTokenizer exactly as a user would, and reports what it got.

    python hf_probe.py JOB.json  ->  one JSON document on stdout

JOB: {"texts": [str, ...], "token_ids": [[int, ...], ...],
      "models": [{"name": str, "path": folder, "dtype": "float32", "upcast": bool, "ct_decompress": bool,
                  "f32_unpack": bool, "logits": out.npz}]}
f32_unpack: transformers loads the model as usual (compressed-tensors' quantized forward, which
fake-quantizes activations where the config has input_activations), then compressed-tensors
decompresses its weights with nvfp4 codes unpacked to float32 instead of bfloat16 (the default
dtype of its unpack_fp4_from_uint8), so the weights are the file's exact values.
For each model: {"name", "ok", "error", "quant_method", "tokens": [[ids of each text]]}; the
logits of every token_ids sequence go to "logits" (.npz, arr_i float32 [len_i, vocab]).
"""
import json
import os
import sys
import traceback
import warnings

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

warnings.filterwarnings("ignore")
transformers.logging.set_verbosity_error()
torch.manual_seed(0)


def ct_dense_model(path):
    """The model as compressed-tensors' own compressors decompress it (the format vLLM reads),
    in float32: each config group's weights through its format's decompress(), into a plain
    transformers model built from config.json without its quantization_config."""
    from compressed_tensors.compressors import BaseCompressor
    from compressed_tensors.quantization import QuantizationConfig
    from safetensors.torch import load_file
    from transformers import AutoConfig

    with open(os.path.join(path, "config.json")) as f:
        cfg = json.load(f)
    qc = QuantizationConfig.model_validate(cfg.pop("quantization_config"))
    sd = {}
    for name in sorted(os.listdir(path)):
        if name.endswith(".safetensors"):
            sd.update(load_file(os.path.join(path, name)))
    dense = {k: v for k, v in sd.items()}
    for group in qc.config_groups.values():
        compressor = BaseCompressor.get_value_from_registry(group.format or qc.format)
        for base in group.targets:
            local = {k[len(base) + 1:]: dense.pop(k) for k in list(dense) if k.startswith(base + ".")}
            # as transformers loads a float32 model: fp16/bf16 scales become float32 parameters
            local = {k: v.float() if k == "weight_scale" and v.dtype in (torch.float16, torch.bfloat16) else v
                     for k, v in local.items()}
            dense[base + ".weight"] = compressor.decompress(local, group)["weight"].float()
    config = AutoConfig.for_model(**cfg)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict({k: v.float() for k, v in dense.items()}, strict=False)
    if unexpected or set(missing) - {"lm_head.weight"}:
        raise ValueError(f"state dict does not fit: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    return model


def probe(m, job):
    r = {"name": m["name"], "ok": False}
    try:
        tok = AutoTokenizer.from_pretrained(m["path"])
        r["tokens"] = [tok(t)["input_ids"] for t in job["texts"]]
        dtype = m.get("dtype", "float32")
        if m.get("ct_decompress"):
            # transformers' own load is tried and reported, the logits come from ct's compressors
            try:
                AutoModelForCausalLM.from_pretrained(m["path"], dtype=torch.float32)
                r["transformers_error"] = None
            except Exception as e:
                r["transformers_error"] = f"{type(e).__name__}: {str(e)[:300]}"
            model = ct_dense_model(m["path"])
        else:
            model = AutoModelForCausalLM.from_pretrained(m["path"], dtype=dtype if dtype == "auto" else getattr(torch, dtype))
        model.eval()
        qc = json.load(open(os.path.join(m["path"], "config.json"))).get("quantization_config")
        qm = qc.get("quant_method") if isinstance(qc, dict) else getattr(qc, "quant_method", None)
        qm = getattr(qm, "value", qm)  # an enum in transformers' config classes
        r["quant_method"] = str(qm) if qm is not None else None
        r["loaded_dtype"] = str(next(model.parameters()).dtype)
        # what compressed-tensors attached to the linears: the activation quantization it runs
        acts = set()
        for mod in model.modules():
            a = getattr(getattr(mod, "quantization_scheme", None), "input_activations", None)
            if a is not None:
                acts.add(f"{a.strategy.value if hasattr(a.strategy, 'value') else a.strategy}"
                         f"/{getattr(a.dynamic, 'value', a.dynamic)}/{a.num_bits}bit")
        r["input_activations"] = sorted(acts)
        out = []
        with torch.no_grad():
            if m.get("upcast"):
                # compressed-tensors decompresses nvfp4 and MX weights to bfloat16 whatever the
                # model's dtype (its unpack_fp4_from_uint8 / decompress_mx_scale), so a float32
                # model fails its first forward (float != BFloat16). Decompress as that forward
                # would, then run those bf16 weights in float32 (transformers refuses .float() on a
                # quantized model).
                model.hf_quantizer.compressor.decompress_model(model)
                torch.nn.Module.float(model)
            if m.get("f32_unpack"):
                import compressed_tensors.compressors.nvfp4.base as nvfp4_base
                unpack = nvfp4_base.unpack_fp4_from_uint8
                nvfp4_base.unpack_fp4_from_uint8 = lambda a, rows, cols, dtype=None: unpack(a, rows, cols, dtype=torch.float32)
                try:
                    model.hf_quantizer.compressor.decompress_model(model)
                finally:
                    nvfp4_base.unpack_fp4_from_uint8 = unpack
                r["weight_dtypes"] = sorted({str(p.dtype) for n, p in model.named_parameters() if n.endswith(".weight")})
            for ids in job["token_ids"]:
                logits = model(torch.tensor([ids])).logits[0]
                out.append(logits.float().numpy())
        np.savez(m["logits"], *[x.astype(np.float32) for x in out])
        r["ok"] = True
    except Exception as e:  # reported, and the test decides whether it was expected
        r["error"] = f"{type(e).__name__}: {e}"
        r["traceback"] = traceback.format_exc()[-3000:]
    return r


def main():
    job = json.load(open(sys.argv[1]))
    res = {"versions": {"torch": torch.__version__, "transformers": transformers.__version__}}
    try:
        import compressed_tensors
        res["versions"]["compressed_tensors"] = compressed_tensors.__version__
    except ImportError:
        pass
    res["models"] = [probe(m, job) for m in job["models"]]
    json.dump(res, sys.stdout)


if __name__ == "__main__":
    main()
