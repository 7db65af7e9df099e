"""open(), Model.tensor(), memory(), quantize_model(): the CLI's JSON (inspect, memory, quantize),
the checkpoint's own bytes, and the GGUF file read back with the gguf package."""
import io
import os

import numpy as np
import pytest

from conftest import same_record

VOLATILE = ("seconds", "input_gb_per_s", "output", "extra_files", "input")


def test_open_equals_inspect(bitsmith, cli, stories260k):
    m = bitsmith.open(stories260k)
    doc = cli("inspect", stories260k)
    same_record(m.inspect(), doc)
    assert m.hyperparameters == doc["hyperparameters"]
    assert m.tokenizer == doc["tokenizer"]
    assert m.format == "llama2c" and "token_embd.weight" in m and "nope" not in m


def test_tensor_is_the_checkpoints_float32(bitsmith, stories260k):
    m = bitsmith.open(stories260k)
    hp = m.hyperparameters
    # llama2.c: a header of 7 int32, then the token embedding [vocab, dim] as float32.
    header = np.fromfile(stories260k, dtype=np.int32, count=7)
    assert header[0] == hp["dim"] and abs(header[5]) == hp["vocab_size"]
    emb = np.fromfile(stories260k, dtype=np.float32, count=hp["vocab_size"] * hp["dim"], offset=28)
    t = m.tensor("token_embd.weight")
    assert t.dtype == np.float32 and t.shape == (hp["vocab_size"], hp["dim"]) and not t.flags.writeable
    np.testing.assert_array_equal(t, emb.reshape(t.shape))
    del m
    np.testing.assert_array_equal(t, emb.reshape(t.shape))  # the array keeps the file mapped
    with pytest.raises(KeyError, match="blk.99"):
        bitsmith.open(stories260k).tensor("blk.99.attn_q.weight")


def test_tokenizer_equals_llama2c_encoder(bitsmith, stories260k):
    oracle = pytest.importorskip("llama2c_tokenizer")
    m = bitsmith.open(stories260k)
    tokens, scores = oracle.read_tokenizer(os.path.join(os.path.dirname(stories260k), "tok512.bin"),
                                           m.tokenizer["tokens"])
    for text in ["Once upon a time, there was a little girl.", "Lily's cat sat. 12 + 3 = 15!", "héllo wörld"]:
        ids = m.encode(text)
        assert ids == oracle.encode(text.encode(), tokens, scores), text
        assert m.decode(ids) == text
    assert m.encode("a b", add_bos=False) == m.encode("a b")[1:]
    with pytest.raises(ValueError, match="outside the vocabulary"):
        m.decode([100000])


def test_open_errors(bitsmith, tmp_path):
    with pytest.raises(OSError, match="missing.gguf"):
        bitsmith.open(tmp_path / "missing.gguf")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 16)
    with pytest.raises(OSError, match="bad.gguf"):
        bitsmith.open(bad)


def test_memory_equals_cli(bitsmith, cli, stories260k):
    doc = cli("memory", "--params", "7B", "--schemes", "nvfp4,q4_k,fp16", "--devices", "h100,my-gpu=48GB")
    py = bitsmith.memory("7B", schemes=["nvfp4", "q4_k", "fp16"], devices="h100,my-gpu=48GB")
    assert py == doc
    doc = cli("memory", "--model", stories260k, "--schemes", "q4_k_m,q8_0")
    assert bitsmith.memory(model=stories260k, schemes="q4_k_m,q8_0") == doc
    assert bitsmith.memory(model=bitsmith.open(stories260k), schemes="q4_k_m,q8_0") == doc
    with pytest.raises(ValueError, match="recipe"):
        bitsmith.memory("7B", schemes=["q4_k_m"])
    with pytest.raises(ValueError, match="one of them"):
        bitsmith.memory()


def test_quantize_model_equals_cli_and_its_bytes_equal_quantize(bitsmith, cli, stories260k, tmp_path):
    gguf = pytest.importorskip("gguf")
    seen = []
    py_out, cli_out = tmp_path / "py.gguf", tmp_path / "cli.gguf"
    rep = bitsmith.quantize_model(stories260k, py_out, scheme="q8_0", progress=seen.append)
    doc = cli("quantize", stories260k, cli_out, "--scheme", "q8_0")
    same_record(rep, doc, skip=VOLATILE)
    assert rep["output"] == str(py_out)
    assert [p.name for p in seen] == [t["name"] for t in rep["tensors"]] and seen[-1].index == seen[-1].count
    assert py_out.read_bytes() == cli_out.read_bytes()
    # Each tensor in the file: the bytes bitsmith.quantize gives for its planned scheme.
    m = bitsmith.open(stories260k)
    planned = {t["name"]: t["scheme"] for t in rep["tensors"]}
    reader = gguf.GGUFReader(str(py_out))
    checked = 0
    for t in reader.tensors:
        w = m.tensor(t.name)
        if planned[t.name] in ("f32", "fp32"):
            np.testing.assert_array_equal(np.asarray(t.data).reshape(w.shape), w, err_msg=t.name)
        else:
            q = bitsmith.quantize(w, planned[t.name])
            np.testing.assert_array_equal(np.asarray(t.data).reshape(-1).view(np.uint8), q.data.reshape(-1), err_msg=t.name)
        checked += 1
    assert checked == len(rep["tensors"])


def test_quantize_model_with_tqdm_and_errors(bitsmith, stories260k, tmp_path):
    tqdm = pytest.importorskip("tqdm")
    bar = tqdm.tqdm(file=io.StringIO())
    rep = bitsmith.quantize_model(stories260k, tmp_path / "o", recipe="q4_k_m", format="safetensors", progress=bar)
    assert bar.n == bar.total == len(rep["tensors"]) and rep["format"] == "safetensors"
    # Written as Hugging Face lays it out (half-split RoPE); the shape of the model is the same.
    out_hp, src_hp = bitsmith.open(tmp_path / "o").hyperparameters, bitsmith.open(stories260k).hyperparameters
    assert {k: out_hp[k] for k in ("dim", "n_layers", "n_heads", "vocab_size")} == \
        {k: src_hp[k] for k in ("dim", "n_layers", "n_heads", "vocab_size")}
    with pytest.raises(ValueError, match="one of them"):
        bitsmith.quantize_model(stories260k, tmp_path / "x.gguf")
    with pytest.raises(ValueError):
        bitsmith.quantize_model(stories260k, tmp_path / "x.gguf", scheme="nvfp4")  # GGUF cannot hold nvfp4
    assert not os.path.exists(tmp_path / "x.gguf")

    def boom(p):
        raise RuntimeError("stop here")
    with pytest.raises(RuntimeError, match="stop here"):
        bitsmith.quantize_model(stories260k, tmp_path / "y.gguf", scheme="q8_0", progress=boom)


def test_quantize_model_dry_run_equals_cli(bitsmith, cli, stories260k, tmp_path):
    out = tmp_path / "never.gguf"
    rep = bitsmith.quantize_model(stories260k, out, recipe="q4_k_m", dry_run=True)
    doc = cli("quantize", stories260k, out, "--recipe", "q4_k_m", "--dry-run")
    same_record(rep, doc, skip=VOLATILE)
    assert rep["dry_run"] is True and rep["tensors"] == doc["tensors"] and not out.exists()
    # A dry run checks the request as a real run does: GPTQ without a calibration text fails now.
    with pytest.raises(ValueError, match="needs calibration text"):
        bitsmith.quantize_model(stories260k, out, scheme="q4_0", method="gptq", dry_run=True)


def test_quantize_model_with_gptq_equals_cli(bitsmith, cli, stories260k, tmp_path):
    text = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(stories260k))), "data", "wikitext2_test.txt")
    if not os.path.exists(text):
        pytest.skip(f"calibration text not found at {text}")
    py_out, cli_out = tmp_path / "py", tmp_path / "cli"  # safetensors folders
    rep = bitsmith.quantize_model(stories260k, py_out, scheme="int4_g32", method="gptq", calib=text,
                                  calib_samples=4, calib_seqlen=64, act_order=True)
    doc = cli("quantize", stories260k, cli_out, "--scheme", "int4_g32", "--method", "gptq", "--calib", text,
              "--calib-samples", 4, "--calib-seqlen", 64, "--act-order")
    same_record(rep, doc, skip=VOLATILE)
    assert rep["method"] == "gptq"
    assert (py_out / "model.safetensors").read_bytes() == (cli_out / "model.safetensors").read_bytes()
    # GPTQ's bytes are not RTN's (the method really ran).
    rtn = bitsmith.quantize_model(stories260k, tmp_path / "rtn", scheme="int4_g32")
    assert (tmp_path / "rtn" / "model.safetensors").read_bytes() != (py_out / "model.safetensors").read_bytes()
    assert rtn["method"] == "rtn"
    for kwargs, words in [(dict(method="gptq", imatrix=text), "imatrix"), (dict(calib=text), "does nothing"),
                          (dict(act_order=True), "GPTQ settings"), (dict(method="gptq"), "calibration text")]:
        with pytest.raises(ValueError, match=words):
            bitsmith.quantize_model(stories260k, tmp_path / "bad", scheme="int4_g32", **kwargs)


def test_quantize_model_gptq_weighted_params_equals_cli(bitsmith, cli, stories260k, tmp_path):
    text = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(stories260k))), "data", "wikitext2_test.txt")
    if not os.path.exists(text):
        pytest.skip(f"calibration text not found at {text}")
    py_out, cli_out, plain = tmp_path / "py.gguf", tmp_path / "cli.gguf", tmp_path / "plain.gguf"
    bitsmith.quantize_model(stories260k, py_out, scheme="q5_1", method="gptq", calib=text, calib_samples=4,
                            calib_seqlen=64, weighted_params=True)
    cli("quantize", stories260k, cli_out, "--scheme", "q5_1", "--method", "gptq", "--calib", text,
        "--calib-samples", 4, "--calib-seqlen", 64, "--weighted-params")
    bitsmith.quantize_model(stories260k, plain, scheme="q5_1", method="gptq", calib=text, calib_samples=4,
                            calib_seqlen=64)
    assert py_out.read_bytes() == cli_out.read_bytes()
    assert py_out.read_bytes() != plain.read_bytes()  # the setting reached the library
    with pytest.raises(ValueError, match="GPTQ settings"):
        bitsmith.quantize_model(stories260k, tmp_path / "bad.gguf", scheme="q5_1", weighted_params=True)
    # refit_params the same way.
    py_refit, cli_refit = tmp_path / "py-refit.gguf", tmp_path / "cli-refit.gguf"
    bitsmith.quantize_model(stories260k, py_refit, scheme="q5_1", method="gptq", calib=text, calib_samples=4,
                            calib_seqlen=64, weighted_params=True, refit_params=True)
    cli("quantize", stories260k, cli_refit, "--scheme", "q5_1", "--method", "gptq", "--calib", text,
        "--calib-samples", 4, "--calib-seqlen", 64, "--weighted-params", "--refit-params")
    assert py_refit.read_bytes() == cli_refit.read_bytes()
    assert py_refit.read_bytes() != py_out.read_bytes()
    with pytest.raises(ValueError, match="GPTQ settings"):
        bitsmith.quantize_model(stories260k, tmp_path / "bad.gguf", scheme="q5_1", refit_params=True)


def test_quantize_model_with_static_activations_equals_cli(bitsmith, cli, stories260k, tmp_path):
    text = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(stories260k))), "data", "wikitext2_test.txt")
    if not os.path.exists(text):
        pytest.skip(f"calibration text not found at {text}")
    py_out, cli_out = tmp_path / "py", tmp_path / "cli"
    rep = bitsmith.quantize_model(stories260k, py_out, scheme="fp8_e4m3", activations="static", calib=text,
                                  calib_samples=2, calib_seqlen=64)
    doc = cli("quantize", stories260k, cli_out, "--scheme", "fp8_e4m3", "--activations", "static", "--calib", text,
              "--calib-samples", 2, "--calib-seqlen", 64)
    same_record(rep, doc, skip=VOLATILE)
    assert rep["activations"] == "static"
    assert any("input_amax" in t for t in rep["tensors"])
    assert (py_out / "model.safetensors").read_bytes() == (cli_out / "model.safetensors").read_bytes()
    with pytest.raises(ValueError, match="needs calib"):
        bitsmith.quantize_model(stories260k, tmp_path / "x", scheme="fp8_e4m3", activations="static")
    with pytest.raises(ValueError):
        bitsmith.quantize_model(stories260k, tmp_path / "y", scheme="int4_g32", activations="static", calib=text)


def test_quantize_model_with_qat_equals_cli(bitsmith, cli, stories260k, tmp_path):
    text = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(stories260k))), "data", "tinyshakespeare.txt")
    if not os.path.exists(text):
        pytest.skip(f"calibration text not found at {text}")
    py_out, cli_out = tmp_path / "py.gguf", tmp_path / "cli.gguf"
    rep = bitsmith.quantize_model(stories260k, py_out, scheme="q4_0", method="qat", calib=text, calib_samples=8,
                                  calib_seqlen=64, steps=3, distill=True)
    doc = cli("quantize", stories260k, cli_out, "--scheme", "q4_0", "--method", "qat", "--calib", text,
              "--calib-samples", 8, "--calib-seqlen", 64, "--steps", 3, "--distill")
    same_record(rep, doc, skip=VOLATILE + ("method_notes",))
    assert rep["qat"] == {"steps": 3, "lr": 3e-4, "batch": 4, "distill": True}
    assert py_out.read_bytes() == cli_out.read_bytes()  # deterministic: the same training, the same bytes
    for kwargs, words in [(dict(steps=3), "QAT options"), (dict(method="qat", steps=3), "calibration text"),
                          (dict(method="qat", calib=text, steps=0), "positive")]:
        with pytest.raises(ValueError, match=words):
            bitsmith.quantize_model(stories260k, tmp_path / "bad.gguf", scheme="q4_0", **kwargs)
