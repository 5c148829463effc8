#!/usr/bin/env bash
# Fuzz the protocol core with cargo-fuzz (libFuzzer + AddressSanitizer).
#
#   scripts/fuzz.sh smoke               every target for FUZZ_SECONDS (default 10) seconds
#   scripts/fuzz.sh run TARGET SECONDS  one target, longer; prints libFuzzer's final stats
#   scripts/fuzz.sh list                the targets
#
# cargo-fuzz needs nightly-only compiler flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain
# accept them, so no second toolchain is needed. Corpora grow in crates/proto/fuzz/corpus
# (not committed); each target starts from the seeds in crates/proto/fuzz/seeds/TARGET.
# The oracle is the targets' own: no panic, no sanitizer report, no timeout (-timeout=10 s per
# input) and no more than 2 GiB of memory (-rss_limit_mb).
set -euo pipefail
cd "$(dirname "$0")/../crates/proto"

export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/fuzz/target}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

targets() { cargo fuzz list; }

run_target() {
  local target=$1 seconds=$2
  local corpus="fuzz/corpus/$target"
  mkdir -p "$corpus"
  local seeds=()
  [ -d "fuzz/seeds/$target" ] && seeds=("fuzz/seeds/$target")
  echo "fuzz.sh: $target for ${seconds}s"
  local log status
  log=$(mktemp)
  set +e
  cargo fuzz run -O "$target" "$corpus" "${seeds[@]}" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1
  status=$?
  set -e
  grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || true
  if [ "$status" != 0 ]; then
    tail -n 40 "$log" >&2
    echo "fuzz.sh: $target FAILED (exit $status); the crashing input is in fuzz/artifacts/$target" >&2
  fi
  rm -f "$log"
  return "$status"
}

case "${1:-smoke}" in
  list) targets ;;
  smoke)
    cargo fuzz build -O
    failed=0 passed=0
    for target in $(targets); do
      if run_target "$target" "${FUZZ_SECONDS:-10}"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    done
    echo "fuzz: $passed passed, $failed failed"
    [ "$failed" = 0 ]
    ;;
  run)
    [ $# -eq 3 ] || { echo "usage: fuzz.sh run TARGET SECONDS" >&2; exit 2; }
    run_target "$2" "$3"
    ;;
  *) echo "usage: fuzz.sh [smoke | run TARGET SECONDS | list]" >&2; exit 2 ;;
esac
