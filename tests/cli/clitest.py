"""Helpers for CLI tests: run the built bitsmith binary and check its output.

Each tests/cli/test_*.py is run by CTest as `python3 test_x.py`; exit 77 means a clean skip.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

BIN = os.environ.get("BITSMITH_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "build", "bitsmith"))
SHARED = os.environ.get("BITSMITH_SHARED_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared"))
SKIP = 77


def run(*args, check=True, stdin=None):
    """Runs bitsmith with args; returns CompletedProcess (text mode)."""
    p = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, input=stdin, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError(f"bitsmith {' '.join(map(str, args))} exited {p.returncode}:\n{p.stderr}")
    return p


def run_json(*args):
    p = run(*args, "--json")
    return json.loads(p.stdout)


LLAMA_BIN = os.environ.get("LLAMA_CPP_BIN", os.path.expanduser("~/.cache/bitsmith/llama.cpp/build/bin"))


def llama_perplexity(model, text, ctx, chunks):
    """llama.cpp's own perplexity of a GGUF (llama-perplexity, F32 KV cache, flash attention off),
    or None when the peer is not built (scripts/peers/build_llamacpp.sh). Retried: llama.cpp's
    logger can drop its last lines at exit."""
    exe = os.path.join(LLAMA_BIN, "llama-perplexity")
    if not os.path.exists(exe):
        return None
    env = dict(os.environ, LD_LIBRARY_PATH=LLAMA_BIN)
    with tempfile.TemporaryFile(mode="w+") as log:
        for _ in range(3):
            log.seek(0)
            log.truncate()
            subprocess.run([exe, "-m", str(model), "-f", str(text), "-c", str(ctx), "--chunks", str(chunks),
                            "-ctk", "f32", "-ctv", "f32", "-fa", "off", "-t", "2"], stdout=log,
                           stderr=subprocess.STDOUT, env=env, timeout=600, check=True)
            log.seek(0)
            out = log.read()
            m = re.search(r"Final estimate: PPL = ([0-9.]+)", out)
            if m:
                return float(m.group(1))
    raise AssertionError(f"llama-perplexity printed no final estimate for {model}:\n{out[-2000:]}")


def require_module(name):
    """Exits with the skip code when an optional Python package is missing."""
    try:
        return __import__(name)
    except ImportError:
        print(f"SKIP: Python package '{name}' is not installed")
        sys.exit(SKIP)


# The Hugging Face venv (scripts/peers/setup_hf_venv.sh: torch CPU, transformers,
# compressed-tensors) that real-loader tests run tests/interop/hf_probe.py under.
HF_VENV = os.environ.get("BITSMITH_HF_VENV", os.path.join(os.path.expanduser("~"), ".cache", "bitsmith", "venv-hf"))
HF_PYTHON = os.path.join(HF_VENV, "bin", "python")
HF_PROBE = os.path.join(os.environ.get("BITSMITH_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..")),
                        "tests", "interop", "hf_probe.py")


def hf_venv_problem():
    """Why the HF venv cannot be used (a line for the skip message), or None when it can."""
    if not os.path.exists(HF_PYTHON):
        return f"no HF venv at {HF_VENV} (run scripts/peers/setup_hf_venv.sh)"
    p = subprocess.run([HF_PYTHON, "-c", "import torch, transformers, compressed_tensors"], capture_output=True, text=True)
    if p.returncode != 0:
        return f"the HF venv at {HF_VENV} cannot import torch/transformers/compressed_tensors: {p.stderr.strip()[-300:]}"
    return None


def run_hf_probe(job, tmp):
    """Runs hf_probe.py on `job` (its docstring gives the format) in the HF venv; its JSON result."""
    jf = os.path.join(tmp, "hf_job.json")
    with open(jf, "w") as f:
        json.dump(job, f)
    p = subprocess.run([HF_PYTHON, HF_PROBE, jf], capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        raise AssertionError(f"hf_probe.py exited {p.returncode}:\n{p.stderr[-4000:]}")
    return json.loads(p.stdout)


def main():
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
