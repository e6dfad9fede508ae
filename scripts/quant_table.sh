#!/usr/bin/env bash
# Issue 4's table: the shipped lenet at sigma 0.25 and 0.5 under FP32, W8A8, W4A4, W2A2 and
# "first/last 8, rest 4", without and with the noise-aware fine-tune (300 batches), each
# certified from scratch (n = 10,000, 100 test points at stride 20). Writes
# docs/results/quant_table.md and the raw JSON next to it. About 25 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin arq
OUT=docs/results/quant
mkdir -p $OUT
run() { # sigma preset qft
  target/release/arq quantize --quiet --json --preset "$2" --url "#v=1&sigma=$1&n=10000&points=100&stride=20&cbatch=1000&qft=$3" > "$OUT/lenet-s$1-$2-ft$3.json"
}
for sigma in 0.25 0.5; do
  run $sigma fp32 0 &
  run $sigma w8a8 0; wait
  for preset in w4a4 w2a2 fl8; do
    run $sigma $preset 0 &
    run $sigma $preset 300; wait
  done
  run $sigma w8a8 300
done
python3 scripts/results_table.py quant $OUT > docs/results/quant_table.md
cat docs/results/quant_table.md
