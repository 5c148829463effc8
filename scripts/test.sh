#!/usr/bin/env bash
# Switchboard's whole test suite: the command README.md gives and CI runs (.ci/run).
#
# On a fresh Debian 12 machine with the Rust toolchain it installs what the tests need by itself.
# Stages run in order and the script stops at the first failure:
#   lint      formatting, clippy -D warnings, rustdoc -D warnings
#   layering  the sans-I/O core depends on no async runtime
#   tests     unit, property and integration tests (nextest), then doctests; the hub on
#             Redis runs against redis-server instances the tests start themselves
#   interop   our server and client against Python websockets, websocket-client and Node ws
#   browser   the chat page of switchboard serve in chromium (playwright-core)
#   fuzz      every fuzz target for a few seconds (FUZZ_SECONDS, default 10)
#   autobahn  the Autobahn TestSuite, all cases, server and client roles, strict gate
#
# Usage: scripts/test.sh [STAGE...]   (default: all stages)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
fail() { printf 'test.sh: FAILED: %s\n' "$*" >&2; exit 1; }

# Debian packages a stage needs, with sudo when not root.
apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@"
}

# Node.js and npm from Debian, if missing.
ensure_node() {
  if ! command -v node >/dev/null; then
    apt_install nodejs npm
  elif ! command -v npm >/dev/null; then
    apt_install npm
  fi
  echo "node $(node --version), npm $(npm --version 2>/dev/null)"
}

# redis-server from Debian, if missing: the hub's multi-node tests start their own instances
# on free loopback ports (crates/cli/tests/serve_redis.rs), never a shared one.
ensure_redis() {
  command -v redis-server >/dev/null || apt_install redis-server
  redis-server --version
}

stage_lint() {
  step "formatting"
  cargo fmt --all -- --check
  step "clippy (default features, then every feature: hyper, axum, native roots)"
  cargo clippy --workspace --all-targets --locked -- -D warnings
  cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
  step "rustdoc"
  RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features --locked --quiet
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
  ensure_redis
  if ! cargo nextest --version >/dev/null 2>&1; then
    cargo install cargo-nextest --locked
  fi
  cargo nextest run --workspace --all-features --locked --no-fail-fast
  step "doctests"
  cargo test --workspace --doc --all-features --locked --quiet
}

stage_interop() {
  # Third-party peers against our echo server and our client (tests/interop/README.md).
  # Installs what is missing: Python packages into a venv under target/ (the system Python is
  # left alone), Node packages with `npm ci`, and python3-venv or Node.js from Debian.
  local dir=tests/interop venv=target/interop-venv
  step "interop: Python peers (websockets, websocket-client, pytest) in $venv"
  command -v python3 >/dev/null || apt_install python3
  if ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
    rm -rf "$venv"
    if ! python3 -m venv "$venv" 2>/dev/null; then
      # Debian's python3 ships venv without ensurepip: that is the python3-venv package.
      rm -rf "$venv"
      apt_install python3-venv
      python3 -m venv "$venv"
    fi
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$dir/requirements.txt"
  step "interop: Node peer (ws) with npm ci"
  ensure_node
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  step "interop: building switchboard (the echo server) and the interop_client example"
  # One invocation, so that both builds share one feature resolution and one set of crates.
  cargo build --release --locked -p switchboard-cli -p switchboard \
    --bin switchboard --example interop_client
  step "interop: pytest"
  local release
  release="$(realpath "${CARGO_TARGET_DIR:-target}")/release"
  (cd "$dir" && SWITCHBOARD_BIN="$release/switchboard" \
    SWITCHBOARD_INTEROP_CLIENT="$release/examples/interop_client" \
    PYTHONDONTWRITEBYTECODE=1 "../../$venv/bin/python" -m pytest -v)
}

stage_browser() {
  # The chat page (crates/hub/assets/chat/) in Debian's chromium, driven by playwright-core,
  # against switchboard serve (tests/browser/README.md). Installs chromium from Debian when
  # it is missing and this is root or CI; playwright-core uses it instead of its own browsers.
  local dir=tests/browser chromium="${CHROMIUM:-/usr/bin/chromium}"
  step "browser: chromium"
  if [ ! -x "$chromium" ]; then
    if [ -z "${CHROMIUM:-}" ] && { [ "$(id -u)" = 0 ] || [ -n "${CI:-}" ]; }; then
      apt_install chromium
    else
      fail "no chromium at $chromium: apt-get install chromium, or point CHROMIUM at one"
    fi
  fi
  "$chromium" --version 2>/dev/null
  step "browser: playwright-core with npm ci"
  ensure_node
  if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    echo "note: playwright-core asks for Node.js 20 or later; trying with $(node --version)"
  fi
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  step "browser: building switchboard"
  cargo build --release --locked -p switchboard-cli --bin switchboard
  step "browser: node --test"
  local release
  release="$(realpath "${CARGO_TARGET_DIR:-target}")/release"
  (cd "$dir" && SWITCHBOARD_BIN="$release/switchboard" CHROMIUM="$chromium" node --test)
}

stage_fuzz() {
  step "fuzz targets, ${FUZZ_SECONDS:-10} s each"
  scripts/fuzz.sh smoke
}

stage_autobahn() {
  step "Autobahn TestSuite, both roles (about 7 minutes)"
  scripts/autobahn.sh all
}

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(lint layering tests interop browser fuzz autobahn)
for stage in "${stages[@]}"; do
  case "$stage" in
    lint|layering|tests|interop|browser|fuzz|autobahn) "stage_$stage" ;;
    *) fail "unknown stage '$stage' (lint, layering, tests, interop, browser, fuzz, autobahn)" ;;
  esac
done
step "all stages passed: ${stages[*]}"
