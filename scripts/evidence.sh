#!/usr/bin/env bash
# Issue 11's evidence: the whole pipeline (`arq run --methods arq,haq,random`: three searches,
# then the final table with FP32, the best uniform policy within the budget and each search's
# best, certified FRESH on 500 test points, with paired bootstrap intervals) for several seeds
# at one budget. Writes docs/results/evidence/<model>-b<budget>-n<N>-e<episodes>/run-seed<S>.json and the
# mean +- sd table <dir>.md.
# Usage: scripts/evidence.sh MODEL BUDGET N SEEDS...   e.g. scripts/evidence.sh lenet 0.0052083 10000 1 2 3 4 5
# SEARCH overrides the searches' settings (default episodes=30&warmup=10&spoints=100), POINTS the
# final table's test points (default 500; another count is named in the output directory),
# METHODS the searches (default arq,haq,random; another list is named in the directory too).
# Cost (lenet, one core): about 11 minutes per seed at n = 10,000, 4 at n = 2,000; seeds run
# two at a time, one thread each.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 4 ] || { echo "usage: $0 MODEL BUDGET N SEEDS..." >&2; exit 2; }
MODEL=$1 BUDGET=$2 N=$3
shift 3
cargo build --release --bin arq
# the seeds run a copy: a rebuild while they run cannot mix two engines in one table
BIN=$(mktemp /tmp/arq-evidence.XXXXXX)
cp target/release/arq "$BIN" && chmod +x "$BIN"
trap 'rm -f "$BIN"' EXIT
POINTS=${POINTS:-500}
SEARCH=${SEARCH:-episodes=30&warmup=10&spoints=100}
EPISODES=$(sed -n 's/.*episodes=\([0-9]*\).*/\1/p' <<< "$SEARCH")
OUT=docs/results/evidence/$MODEL-b$BUDGET-n$N-e$EPISODES
[ "$POINTS" = 500 ] || OUT=$OUT-p$POINTS
METHODS=${METHODS:-arq,haq,random}
[ "$METHODS" = arq,haq,random ] || OUT=$OUT-${METHODS//,/-}
mkdir -p "$OUT"
FRAG="v=1&model=$MODEL&n=$N&points=$POINTS&stride=4&cbatch=1000&np=300&gamma=1&budget=$BUDGET&$SEARCH&sft=20&fft=300"
export OUT FRAG BIN METHODS
# a run that fails or is killed leaves only its .tmp (never an empty run-seed file the table
# would read)
run() {
  RAYON_NUM_THREADS=1 "$BIN" run --quiet --json --methods "$METHODS" \
    --url "#$FRAG&seed=$1" --log "$OUT/episodes-seed$1.jsonl" > "$OUT/run-seed$1.json.tmp" &&
    mv "$OUT/run-seed$1.json.tmp" "$OUT/run-seed$1.json"
}
export -f run
printf '%s\n' "$@" | xargs -P 2 -I{} bash -c 'run {}'
python3 scripts/evidence_table.py "$OUT" > "$OUT.md"
cat "$OUT.md"
