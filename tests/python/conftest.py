"""Fixtures of the Python package's tests: the installed bitsmith package (the whole suite skips
without it), the CLI binary and the C++ dump tool to compare against, the shared models."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("BITSMITH_SOURCE_DIR", os.path.join(HERE, "..", ".."))
BIN = os.environ.get("BITSMITH_BIN", os.path.join(SOURCE, "build", "bitsmith"))
DUMP = os.environ.get("BITSMITH_QUANT_DUMP", os.path.join(SOURCE, "build", "tests", "quant_oracle_dump"))
SHARED = os.environ.get("BITSMITH_SHARED_DIR", os.path.join(SOURCE, "..", "shared"))
# The numpy + ml_dtypes oracles written from REFERENCE.md (independent of the C++).
sys.path.insert(0, os.path.join(SOURCE, "tests", "oracles"))


@pytest.fixture(scope="session")
def bitsmith():
    return pytest.importorskip("bitsmith", reason="the bitsmith package is not installed (pip install ./python)")


def _need(path, what):
    if not os.path.exists(path):
        pytest.skip(f"{what} not found at {path} (build it first)")
    return path


@pytest.fixture(scope="session")
def cli():
    """cli(*args) -> the parsed --json document of `bitsmith args --json`."""
    _need(BIN, "the bitsmith CLI")

    def run(*args):
        args = [str(a) for a in args]
        p = subprocess.run([BIN, args[0], "--json", *args[1:]], capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, f"bitsmith {' '.join(map(str, args))} exited {p.returncode}: {p.stderr}"
        return json.loads(p.stdout)
    return run


@pytest.fixture(scope="session")
def dump_tool():
    return _need(DUMP, "quant_oracle_dump (tests/quant)")


@pytest.fixture(scope="session")
def stories260k():
    return _need(os.path.join(SHARED, "models", "stories260K", "stories260K.bin"), "stories260K")


def from_json_number(v):
    """The CLI writes non-finite numbers as "nan"/"inf"/"-inf"; Python gives floats."""
    return float(v) if v in ("nan", "inf", "-inf") else v


def same_record(py, cli_rec, skip=()):
    """A Python record equals the CLI's JSON record: same keys (less `skip`) and values, with
    non-finite numbers compared as floats (nan == nan)."""
    keys = set(cli_rec) - set(skip)
    assert set(py) - set(skip) == keys, f"keys differ: {sorted(set(py) ^ keys)}"
    for k in keys:
        a, b = py[k], from_json_number(cli_rec[k])
        if isinstance(a, float) and isinstance(b, (int, float)) and np.isnan(a):
            assert np.isnan(b), k
        else:
            assert a == b, f"{k}: python {a!r} != cli {b!r}"
