#!/usr/bin/env python3
"""Token ids of texts by llama.cpp's own tokenizer (llama-cpp-python, vocab_only), the oracle
for bitsmith's byte-level BPE tokenizer (tests/infer/tokenizer_bpe_test.cc).

    bpe_llama_tokens.py MODEL.gguf < hex_lines      one text per line, hex-encoded UTF-8;
                                                    prints one line of ids per text
    bpe_llama_tokens.py MODEL.gguf --file TEXT      the ids of the whole file on one line

No BOS is added and special tokens are not parsed (tokenize(add_bos=False, special=False)),
as llama.cpp's tools tokenize plain text. Exit 77 when llama_cpp is not installed.
"""
import sys


def main() -> int:
    try:
        import llama_cpp
    except ImportError:
        print("SKIP: Python package 'llama_cpp' is not installed", file=sys.stderr)
        return 77
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    llm = llama_cpp.Llama(model_path=sys.argv[1], vocab_only=True, verbose=False)

    def ids(data: bytes) -> str:
        if not data:
            return ""
        return " ".join(map(str, llm.tokenize(data, add_bos=False, special=False)))

    if len(sys.argv) > 3 and sys.argv[2] == "--file":
        with open(sys.argv[3], "rb") as f:
            print(ids(f.read()))
        return 0
    for line in sys.stdin:
        print(ids(bytes.fromhex(line.strip())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
