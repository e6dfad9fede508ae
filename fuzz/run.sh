#!/usr/bin/env bash
# Runs libFuzzer targets (cargo-fuzz, nightly) for a bounded time and prints, per target, the
# executions, executions per second and crashes. Used by `make fuzz` and `make fuzz-smoke`.
#
#   fuzz/run.sh RUNS SECONDS [TARGET...]     (default: every target)
#
# Each target stops after RUNS executions or SECONDS seconds, whichever comes first. It reads
# the committed corpus fuzz/corpus/<target>/ and writes new inputs to fuzz/target/corpus/<target>/
# (git-ignored; `make fuzz-cmin` folds them back, minimised). A crash leaves its input in
# fuzz/artifacts/<target>/; copy it to fuzz/regressions/<target>/ so that the stable suite
# (tests/fuzz_corpus.rs) replays it. Exit status 1 when any target crashed.
set -uo pipefail
cd "$(dirname "$0")"

runs=${1:?runs}
seconds=${2:?seconds}
shift 2
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fragment policy checkpoint dataset)

# No sanitizer: the parsers are safe Rust, so AddressSanitizer finds nothing that a panic
# does not, at a third of the speed; -a keeps debug assertions and overflow checks on.
flags=(--sanitizer none --debug-assertions)

echo "building the fuzz targets (cargo +nightly fuzz build)"
cargo +nightly fuzz build "${flags[@]}" || exit 1
bin=target/$(rustc +nightly -vV | sed -n 's/^host: //p')/release

failed=0
printf '%-11s %12s %9s %8s %8s\n' target executions exec/s seconds crashes
for t in "${targets[@]}"; do
  mkdir -p "target/corpus/$t" "artifacts/$t"
  # crash-, leak-, oom- and timeout- inputs are failures; libFuzzer's slow-unit- files are
  # timing reports (a descheduled process writes one too), not failures, and are not written
  before=$(find "artifacts/$t" -type f ! -name 'slow-unit-*' | wc -l)
  log="target/fuzz-$t.log"
  start=$(date +%s)
  # the binary `cargo fuzz run` would start, without its rebuild check
  "$bin/$t" -artifact_prefix="artifacts/$t/" -runs="$runs" -max_total_time="$seconds" \
    -print_final_stats=1 -report_slow_units=1000000 "target/corpus/$t" "corpus/$t" >"$log" 2>&1
  rc=$?
  secs=$(($(date +%s) - start))
  after=$(find "artifacts/$t" -type f ! -name 'slow-unit-*' | wc -l)
  crashes=$((after - before))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  if [ $rc -ne 0 ] && [ $crashes -eq 0 ]; then crashes=1; fi
  printf '%-11s %12s %9s %8s %8s\n' "$t" "${execs:-?}" "${rate:-?}" "$secs" "$crashes"
  if [ $crashes -ne 0 ]; then
    failed=1
    echo "  $t crashed; log: fuzz/$log; inputs: fuzz/artifacts/$t/" >&2
    grep -m 5 -E 'panicked|ERROR|SUMMARY' "$log" | sed 's/^/  /' >&2
  fi
done
exit $failed
