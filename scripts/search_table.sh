#!/usr/bin/env bash
# Issue 5's comparison: for each seed, `arq run` runs the ARQ search (DDPG, certified-radius
# reward via IRS), HAQ's accuracy-reward search and random search under the default budget
# (1/64 of FP32 BOPs), then fine-tunes FP32-W4A4 and each search's best policy and certifies
# them FRESH on 500 test points with n = 10,000. Writes docs/results/search/*.json and the
# mean +- std table docs/results/search_table.md. Usage: scripts/search_table.sh [SEEDS...]
# (default 1 2 3); about 25 minutes per seed on one core, seeds run two at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin arq
OUT=docs/results/search
mkdir -p $OUT
FRAG='v=1&n=10000&points=500&stride=4&cbatch=1000&episodes=40&warmup=15&spoints=100&np=500&sft=20&fft=300'
export OUT FRAG
run() {
  target/release/arq run --quiet --json --methods arq,haq,random --url "#$FRAG&seed=$1" \
    --log "$OUT/episodes-seed$1.jsonl" > "$OUT/run-seed$1.json"
}
export -f run
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3)
printf '%s\n' "${seeds[@]}" | xargs -P 2 -I{} bash -c 'run {}'
python3 scripts/results_table.py run $OUT/run-seed*.json > docs/results/search_table.md
cat docs/results/search_table.md
