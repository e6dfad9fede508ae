#!/usr/bin/env bash
# Issue 11's first measurement: how well the search's reward tells policies apart, for several
# IRS settings, on the shipped lenet (sigma 0.25). Each run evaluates every uniform policy within
# the budget and 6 random ones exactly as a search episode does, under seeds 1, 2, 3, and
# reports signal (spread across policies) against noise (spread across seeds); `--validate`
# also measures each policy as the final table does (fft fine-tuning, fresh CERTIFY on the
# reported points). Writes docs/results/reward_resolution/*.md. About 15 minutes on one core.
# Usage: scripts/reward_resolution.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin arq
OUT=docs/results/reward_resolution
mkdir -p $OUT
run() { # name fragment [flags...]
  local name=$1 frag=$2
  shift 2
  target/release/arq resolution --quiet --seeds 1,2,3 --random 6 --url "#v=1&$frag" "$@" > "$OUT/$name.md"
  tail -n 3 "$OUT/$name.md"
}
B128='budget=0.0078125'
run b128-np100-g0.99 "$B128" --validate
run b128-np100-g1 "$B128&gamma=1" --validate
run b128-np300-g0.99 "$B128&np=300"
run b128-np300-g1 "$B128&np=300&gamma=1" --validate
run b128-np1000-g0.99 "$B128&np=1000" --validate
run b128-np1000-g1 "$B128&np=1000&gamma=1" --validate
run b128-haq "$B128" --method haq --validate
run b64-np100-g0.99 "np=100"
run b64-np300-g1 "np=300&gamma=1"
