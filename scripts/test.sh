#!/usr/bin/env bash
# Switchboard's whole test suite: the command README.md gives and CI runs (.ci/run).
#
# On a fresh Debian 12 machine with the Rust toolchain it installs what the tests need by itself.
# Stages run in order and the script stops at the first failure:
#   lint      formatting, clippy -D warnings, rustdoc -D warnings
#   layering  the sans-I/O core depends on no async runtime
#   tests     unit, property and integration tests (nextest), then doctests
#   fuzz      every fuzz target for a few seconds (FUZZ_SECONDS, default 10)
#   autobahn  the Autobahn TestSuite, all cases, server and client roles, strict gate
#
# Usage: scripts/test.sh [STAGE...]   (default: all stages)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
fail() { printf 'test.sh: FAILED: %s\n' "$*" >&2; exit 1; }

stage_lint() {
  step "formatting"
  cargo fmt --all -- --check
  step "clippy"
  cargo clippy --workspace --all-targets --locked -- -D warnings
  step "rustdoc"
  RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
}

stage_layering() {
  step "switchboard-proto is sans-I/O: no tokio among its dependencies"
  local tree
  tree=$(cargo tree -p switchboard-proto -e normal --locked)
  if grep -Eq '^.*(tokio|async-std|mio) ' <<<"$tree"; then
    fail "switchboard-proto depends on an async runtime:"$'\n'"$tree"
  fi
  echo "ok: $(wc -l <<<"$tree") crates, none of them an async runtime"
}

stage_tests() {
  step "unit, property and integration tests"
  if ! cargo nextest --version >/dev/null 2>&1; then
    cargo install cargo-nextest --locked
  fi
  cargo nextest run --workspace --locked --no-fail-fast
  step "doctests"
  cargo test --workspace --doc --locked --quiet
}

stage_fuzz() {
  step "fuzz targets, ${FUZZ_SECONDS:-10} s each"
  scripts/fuzz.sh smoke
}

stage_autobahn() {
  step "Autobahn TestSuite, both roles (about 15-20 minutes)"
  scripts/autobahn.sh all
}

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(lint layering tests fuzz autobahn)
for stage in "${stages[@]}"; do
  case "$stage" in
    lint|layering|tests|fuzz|autobahn) "stage_$stage" ;;
    *) fail "unknown stage '$stage' (lint, layering, tests, fuzz, autobahn)" ;;
  esac
done
step "all stages passed: ${stages[*]}"
