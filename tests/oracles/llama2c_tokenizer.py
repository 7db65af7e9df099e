#!/usr/bin/env python3
"""Oracle: llama2.c's run.c encoder, reimplemented from its published algorithm.

Usage: llama2c_tokenizer.py TOKENIZER_BIN VOCAB_SIZE < texts
Each input line is one text, hex-encoded UTF-8 bytes (so newlines and any byte survive);
each output line is the token ids of that text, BOS first, separated by spaces.

The algorithm (karpathy/llama2.c run.c `encode`): BOS; a dummy-prefix " " token when the text
is not empty; each UTF-8 character (a lead byte and up to 3 continuation bytes) looked up as a
token, or else each of its bytes as token byte+3; then repeatedly merge the adjacent pair whose
concatenated text is a token with the highest score (the first such pair on ties), until none.
Quadratic, which is fine for the short test texts.
"""
import struct
import sys


def read_tokenizer(path, vocab_size):
    with open(path, "rb") as f:
        data = f.read()
    off = 4  # max_token_length
    tokens, scores = [], []
    for _ in range(vocab_size):
        score, n = struct.unpack_from("<fi", data, off)
        off += 8
        tokens.append(data[off:off + n])
        scores.append(score)
        off += n
    return tokens, scores


def encode(text: bytes, tokens, scores):
    lookup = {}
    for i, t in enumerate(tokens):
        lookup.setdefault(t, i)
    ids = [1]
    if text:
        ids.append(lookup[b" "])
    i = 0
    while i < len(text):
        j = i + 1
        while j < len(text) and (text[j] & 0xC0) == 0x80 and j - i < 4:
            j += 1
        ch = text[i:j]
        if ch in lookup:
            ids.append(lookup[ch])
        else:
            ids.extend(b + 3 for b in ch)
        i = j
    while True:
        best, best_id, best_idx = -1e10, -1, -1
        for k in range(len(ids) - 1):  # run.c tries every pair, BOS included
            merged = tokens[ids[k]] + tokens[ids[k + 1]]
            t = lookup.get(merged)
            if t is not None and scores[t] > best:
                best, best_id, best_idx = scores[t], t, k
        if best_idx < 0:
            break
        ids[best_idx:best_idx + 2] = [best_id]
    return ids


def main():
    tokens, scores = read_tokenizer(sys.argv[1], int(sys.argv[2]))
    for line in sys.stdin:
        line = line.strip()
        text = bytes.fromhex(line) if line else b""
        print(" ".join(map(str, encode(text, tokens, scores))))


if __name__ == "__main__":
    main()
