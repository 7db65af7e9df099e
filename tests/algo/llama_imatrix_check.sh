#!/usr/bin/env bash
# llama.cpp's llama-imatrix and bitsmith on the same model and tokens: stories260K converted to
# an F32 GGUF by bitsmith, 8 chunks of 128 tokens of tinyshakespeare (tokenized by llama-tokenize),
# llama-imatrix --output-format dat; bitsmith must read that file and find the values of its own
# imatrix (algo_oracle_dump imatrix); the same for its GGUF imatrix, and bitsmith's GGUF/.dat files
# used by llama-quantize. Exit 77 (skipped) without ~/.cache/bitsmith/llama.cpp.
# Usage: llama_imatrix_check.sh BITSMITH ALGO_ORACLE_DUMP SHARED_DIR WORK_DIR
set -euo pipefail
BS=$1 DUMP=$2 SHARED=$3 W=$4
L=${LLAMA_CPP_BIN:-$HOME/.cache/bitsmith/llama.cpp/build/bin}
if [ ! -x "$L/llama-imatrix" ] || [ ! -x "$L/llama-tokenize" ]; then
  echo "SKIP: no llama-imatrix in $L"
  exit 77
fi
export LD_LIBRARY_PATH=$L${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
mkdir -p "$W"
"$BS" quantize "$SHARED/models/stories260K/stories260K.bin" "$W/s260.gguf" --scheme f32 > /dev/null
head -c 20000 "$SHARED/data/tinyshakespeare.txt" > "$W/text.txt"
"$L/llama-tokenize" -m "$W/s260.gguf" -f "$W/text.txt" --ids --log-disable 2> /dev/null > "$W/ids.txt"
"$L/llama-imatrix" -m "$W/s260.gguf" -f "$W/text.txt" -c 128 --chunks 8 --no-ppl -t 2 \
    --output-format dat -o "$W/llama.dat" > "$W/llama-imatrix.log" 2>&1
"$DUMP" imatrix "$W/s260.gguf" "$W/ids.txt" 128 8 "$W/llama.dat"

# The GGUF imatrix (llama-imatrix's default format) read by bitsmith: the same values.
"$L/llama-imatrix" -m "$W/s260.gguf" -f "$W/text.txt" -c 128 --chunks 8 --no-ppl -t 2 \
    -o "$W/llama-imatrix.gguf" > "$W/llama-imatrix-gguf.log" 2>&1
"$DUMP" imatrix "$W/s260.gguf" "$W/ids.txt" 128 8 "$W/llama-imatrix.gguf"

# bitsmith's imatrix in both formats used by llama-quantize: every entry loaded, and the two
# files give Q4_0 models with identical tensors (8 x 128 tokens: sums / counts are exact either way).
"$BS" imatrix "$W/s260.gguf" --text "$W/text.txt" --calib-samples 8 --calib-seqlen 128 -o "$W/bs.gguf" > /dev/null
"$BS" imatrix "$W/s260.gguf" --text "$W/text.txt" --calib-samples 8 --calib-seqlen 128 -o "$W/bs.dat" > /dev/null
for f in bs.gguf bs.dat; do
  "$L/llama-quantize" --imatrix "$W/$f" "$W/s260.gguf" "$W/q-$f.gguf" Q4_0 2 > "$W/quantize-$f.log" 2>&1
  # 35 decoder linears and the tied head (token_embd.weight), which llama-imatrix leaves out.
  if ! grep -q "loaded 36 importance matrix entries" "$W/quantize-$f.log"; then
    echo "llama-quantize did not load 36 entries from bitsmith's $f:"; grep -i imatrix "$W/quantize-$f.log"; exit 1
  fi
done
# (The headers differ: llama-quantize records the imatrix file's name; the tensors must not.)
python3 - "$W/q-bs.gguf.gguf" "$W/q-bs.dat.gguf" <<'PY'
import sys
import gguf
a, b = (gguf.GGUFReader(p) for p in sys.argv[1:3])
ta, tb = ({t.name: t for t in r.tensors} for r in (a, b))
assert ta.keys() == tb.keys(), "different tensors"
diff = [n for n in ta if ta[n].tensor_type != tb[n].tensor_type or bytes(ta[n].data) != bytes(tb[n].data)]
assert not diff, f"tensors differ between the GGUF and .dat imatrix: {diff[:5]}"
print(f"llama-quantize: {len(ta)} tensors identical with bitsmith's GGUF and .dat imatrix")
PY
# bitsmith reads its own GGUF imatrix back to the values it wrote in .dat.
"$BS" quantize "$W/s260.gguf" "$W/ours-gguf.gguf" --scheme q4_0 --method imatrix --imatrix "$W/bs.gguf" > /dev/null
"$BS" quantize "$W/s260.gguf" "$W/ours-dat.gguf" --scheme q4_0 --method imatrix --imatrix "$W/bs.dat" > /dev/null
cmp "$W/ours-gguf.gguf" "$W/ours-dat.gguf"
echo "llama.cpp GGUF and .dat imatrix files: read by bitsmith; bitsmith's GGUF and .dat loaded by llama-quantize"
