"""Helpers for CLI tests: run the built bitsmith binary and check its output.

Each tests/cli/test_*.py is run by CTest as `python3 test_x.py`; exit 77 means a clean skip.
"""
import json
import os
import subprocess
import sys
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


def require_module(name):
    """Exits with the skip code when an optional Python package is missing."""
    try:
        return __import__(name)
    except ImportError:
        print(f"SKIP: Python package '{name}' is not installed")
        sys.exit(SKIP)


def main():
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
