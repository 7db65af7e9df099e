"""advise() and devices(): the documents `bitsmith advise --json` and `advise --list-devices --json`
print, from the same library call (plan::advise_with)."""
import json
import os

import pytest


def test_devices_equal_cli(bitsmith, cli):
    assert bitsmith.devices() == cli("advise", "--list-devices")["devices"]


def test_advise_params_equals_cli(bitsmith, cli):
    for extra, kwargs in [(["--params", "70B", "--device", "h100"], {"params": "70B", "device": "h100"}),
                          (["--params", "8B", "--memory", "24GB", "--task", "qlora", "--lora-rank", "8"],
                           {"params": 8e9, "memory": "24GB", "task": "qlora", "lora_rank": 8}),
                          (["--params", "7B", "--device", "rtx-4090", "--priority", "quality", "--context", "8192",
                            "--kv-cache", "fp8", "--schemes", "bf16,fp8_e4m3,int4_g128"],
                           {"params": "7B", "device": "rtx-4090", "priority": "quality", "context": 8192,
                            "kv_cache": "fp8", "schemes": ["bf16", "fp8_e4m3", "int4_g128"]})]:
        doc = cli("advise", *extra)
        py = bitsmith.advise(**kwargs)
        if kwargs["params"] == 8e9:  # the CLI's "8B" and Python's 8e9 are one count
            doc["model"]["source"] = py["model"]["source"]
        assert py == json.loads(json.dumps(doc)), extra


def test_advise_model_and_config_equal_cli(bitsmith, cli, stories260k, tmp_path):
    doc = cli("advise", stories260k, "--device", "cpu=8GB", "--schemes", "q8_0,q4_k_m")
    py = bitsmith.advise(bitsmith.open(stories260k), device="cpu=8GB", schemes="q8_0,q4_k_m")
    assert py == doc
    # Exact bits per weight from the model's shapes: q4_k_m is a mix, not 4.5.
    rows = {r["scheme"]: r for r in py["alternatives"]}
    assert rows["q8_0"]["bits_per_weight"] > 8.5 and rows["q4_k_m"]["bits_per_weight"] != 4.5
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576,
                                  "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
                                  "num_key_value_heads": 3, "vocab_size": 49152, "max_position_embeddings": 8192,
                                  "rms_norm_eps": 1e-5, "rope_theta": 100000.0, "tie_word_embeddings": True}))
    assert bitsmith.advise(config, device="h100") == cli("advise", config, "--device", "h100")


def test_advise_errors(bitsmith, stories260k, tmp_path):
    with pytest.raises(ValueError, match="--device"):
        bitsmith.advise(params="70B")
    with pytest.raises(ValueError, match="not both"):
        bitsmith.advise(stories260k, params="70B", device="h100")
    with pytest.raises(ValueError, match="inference only"):
        bitsmith.advise(params="70B", device="h100", task="training", kv_cache="fp8")
    with pytest.raises(ValueError, match="recipe"):
        bitsmith.advise(params="70B", device="h100", schemes="q4_k_m")
    bad = tmp_path / "config.json"
    bad.write_text('{"hidden_size": 64}')
    with pytest.raises(OSError, match="intermediate_size"):
        bitsmith.advise(bad, device="h100")
    with pytest.raises(OSError, match="missing.gguf"):
        bitsmith.advise(tmp_path / "missing.gguf", device="h100")


def test_advise_measures_with_calib_equal_cli(bitsmith, cli, stories260k, tmp_path):
    # advise(calib=...) measures the model itself (algo::advise_measured, the CLI's code) and the
    # recommendation is the planned mix, as `bitsmith advise MODEL --calib` prints it.
    calib = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(stories260k))), "data", "tinyshakespeare.txt")
    args = dict(device="tiny=1.0008GB", context=256, calib=calib, candidates="q4_0,q5_0,q8_0", calib_samples=2,
                calib_seqlen=64)
    py = bitsmith.advise(stories260k, **args)
    doc = cli("advise", stories260k, "--device", "tiny=1.0008GB", "--context", "256", "--calib", calib,
              "--candidates", "q4_0,q5_0,q8_0", "--calib-samples", "2", "--calib-seqlen", "64")
    assert py == json.loads(json.dumps(doc))
    assert py["recommendation"] == "planned mix"
    assert py["planned_mix"]["costs"] == "hybrid"
    # Held-out fitting, the same from both (imatrix statistics from 3 segments apart from the 2 scored).
    held = bitsmith.advise(stories260k, **args, method="imatrix", fit_samples=3)
    doc = cli("advise", stories260k, "--device", "tiny=1.0008GB", "--context", "256", "--calib", calib,
              "--candidates", "q4_0,q5_0,q8_0", "--calib-samples", "2", "--calib-seqlen", "64", "--method", "imatrix",
              "--fit-samples", "3")
    assert held == json.loads(json.dumps(doc))
    with pytest.raises(ValueError, match="rtn uses none"):
        bitsmith.advise(stories260k, **args, fit_samples=3)
    with pytest.raises(ValueError, match="MODEL file"):
        bitsmith.advise(params="70B", device="h100", calib=calib)
