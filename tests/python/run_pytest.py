"""CTest's entry to the Python package's tests: pytest over this folder, run from a temporary
directory so that `import bitsmith` finds the installed package, not the source tree. Exits 77
(CTest's skip) when the package or pytest is not installed."""
import os
import sys
import tempfile

SKIP = 77

try:
    import pytest
except ImportError:
    print("SKIP: pytest is not installed (scripts/setup.sh installs it)")
    sys.exit(SKIP)
try:
    import bitsmith  # noqa: F401
except ImportError as e:
    print(f"SKIP: the bitsmith Python package is not installed (pip install ./python): {e}")
    sys.exit(SKIP)

here = os.path.dirname(os.path.abspath(__file__))
with tempfile.TemporaryDirectory() as cwd:
    os.chdir(cwd)
    sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", here, *sys.argv[1:]]))
