"""evaluate() and compare(): the documents `bitsmith eval --json` / `compare --json` print, from
the same run; progress callbacks (plain and tqdm); errors as ValueError/OSError."""
import io
import os

import pytest

from conftest import SHARED, same_record

VOLATILE = ("tokens_per_second",)


@pytest.fixture(scope="module")
def text():
    path = os.path.join(SHARED, "data", "tinyshakespeare.txt")
    if not os.path.exists(path):
        pytest.skip(f"Tiny Shakespeare not found at {path}")
    return path


def test_evaluate_equals_cli(bitsmith, cli, stories260k, text):
    for extra, kwargs in [([], {}),
                          (["--scheme", "int4_g32"], {"scheme": "int4_g32"}),
                          (["--scheme", "q4_0", "--rule", "attn_v=q8_0"], {"scheme": "q4_0", "rules": ["attn_v=q8_0"]}),
                          (["--scheme", "q8_0", "--linears-only", "--act-scheme", "fp8_e4m3"],
                           {"scheme": "q8_0", "linears_only": True, "act_scheme": "fp8_e4m3"})]:
        doc = cli("eval", stories260k, "--text", text, "--ctx", 128, "--max-chunks", 3, *extra)
        py = bitsmith.evaluate(stories260k, text, ctx=128, max_chunks=3, **kwargs)
        same_record(py, doc, skip=VOLATILE)
        assert py["chunks"] == 3 and py["ctx"] == 128
        if kwargs:
            assert py["kld"] > 0 and py["verdict"] in ("excellent", "good", "acceptable", "too aggressive")
        else:
            assert "kld" not in py  # nothing quantized and no ref: perplexity only


def test_evaluate_ref_and_progress(bitsmith, stories260k, text):
    seen = []
    doc = bitsmith.evaluate(stories260k, text, ref=stories260k, ctx=64, max_chunks=4, progress=seen.append)
    # The same file as its own reference: KL divergence exactly 0, every top token equal.
    assert doc["kld"] == 0 and doc["top1_agreement"] == 1 and doc["ppl_ratio"] == 1
    assert [p.chunks_done for p in seen] == [1, 2, 3, 4] and all(p.chunks_total == 4 for p in seen)
    assert seen[-1].tokens_done == 4 * 64 * 2 and seen[-1].stage == stories260k


def test_compare_equals_cli_and_eval(bitsmith, cli, stories260k, text):
    args = ["--ctx", 128, "--max-chunks", 2]
    doc = cli("compare", stories260k, "--text", text, "--schemes", "q8_0,int4_g32", "--recipe", "q4_k_m", *args)
    py = bitsmith.compare(stories260k, text, ["q8_0", "int4_g32"], recipes="q4_k_m", ctx=128, max_chunks=2)
    same_record(py, doc, skip=VOLATILE)
    for a, b in zip(py["results"], doc["results"]):
        same_record(a, b)
    assert [r["scheme"] for r in py["results"]] == ["q8_0", "int4_g32", "q4_k_m"]
    # A compare row is the eval of the same scheme: same KL divergence.
    one = bitsmith.evaluate(stories260k, text, scheme="int4_g32", ctx=128, max_chunks=2)
    assert one["kld"] == pytest.approx(py["results"][1]["kld"], rel=1e-9)


def test_compare_tqdm(bitsmith, stories260k, text):
    tqdm = pytest.importorskip("tqdm")
    with tqdm.tqdm(file=io.StringIO()) as bar:
        bitsmith.compare(stories260k, text, "q8_0", ctx=64, max_chunks=3, progress=bar)
        assert bar.n == 3 and bar.total == 3


def test_errors(bitsmith, stories260k, text, tmp_path):
    with pytest.raises(OSError, match="missing.bin"):
        bitsmith.evaluate(tmp_path / "missing.bin", text)
    with pytest.raises(ValueError, match="exceeds the model's context"):
        bitsmith.evaluate(stories260k, text, ctx=100000)
    with pytest.raises(ValueError, match="matches no weight matrix"):
        bitsmith.evaluate(stories260k, text, scheme="q8_0", rules=["no_such_tensor=q4_0"], max_chunks=1)
    with pytest.raises(ValueError, match="nope"):
        bitsmith.evaluate(stories260k, text, scheme="nope")
    with pytest.raises(ValueError, match="static activation"):
        bitsmith.evaluate(stories260k, text, static_activations=True, max_chunks=1)
    with pytest.raises(ValueError, match="at least one scheme"):
        bitsmith.compare(stories260k, text)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        bitsmith.evaluate(stories260k, empty)

    def boom(p):
        raise RuntimeError("stop here")
    with pytest.raises(RuntimeError, match="stop here"):
        bitsmith.evaluate(stories260k, text, scheme="q8_0", ctx=64, max_chunks=2, progress=boom)
