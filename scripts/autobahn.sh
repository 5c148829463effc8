#!/usr/bin/env bash
# The Autobahn TestSuite against Switchboard, in both roles, with the strict gate: every case
# must end OK or INFORMATIONAL in both the behavior and the close column (no FAILED, no
# NON-STRICT, no WRONG CODE, no UNIMPLEMENTED; the compression cases 12.* and 13.* included).
#
#   scripts/autobahn.sh [all|server|client] [CASES] [EXCLUDE]
#
#   server  wstest's fuzzing client against `switchboard echo` (permessage-deflate on)
#   client  wstest's fuzzing server against the library's client
#           (crates/switchboard/examples/autobahn_client.rs)
#   all     both roles at once (the default; each role keeps one core busy)
#   CASES / EXCLUDE: case patterns as the runners take them, e.g. '1.*,2.*' and '12.*,13.*'
#
# wstest itself is installed on first use into ~/.cache/autobahn (tests/autobahn/install.sh:
# Python 2.7 from Debian bullseye packages and pinned PyPI packages). Reports go to
# target/autobahn/{server,client}/index.html.
set -euo pipefail
cd "$(dirname "$0")/.."

ROLE="${1:-all}"
CASES="${2:-*}"
EXCLUDE="${3:-}"
OUT="$PWD/target/autobahn"
export AUTOBAHN_GATE=1 AUTOBAHN_STRICT=1 AUTOBAHN_QUIET=1

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cargo build --release --locked -p switchboard-cli -p switchboard --example autobahn_client
tests/autobahn/install.sh

server_role() {
  local port pid status
  port=$(free_port)
  target/release/switchboard echo --listen "127.0.0.1:$port" >"$OUT/server-echo.log" 2>&1 &
  pid=$!
  set +e
  AUTOBAHN_OUT="$OUT/server" AUTOBAHN_AGENT=switchboard \
    tests/autobahn/run-server-tests.sh "ws://127.0.0.1:$port" "$CASES" "$EXCLUDE"
  status=$?
  set -e
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  return "$status"
}

client_role() {
  local port exclude=()
  port=$(free_port)
  # The runner refuses an empty -x.
  [ -n "$EXCLUDE" ] && exclude=(-x "$EXCLUDE")
  AUTOBAHN_OUT="$OUT/client" \
    tests/autobahn/run-client-tests.sh -p "$port" -a switchboard -c "$CASES" "${exclude[@]}" -- \
    target/release/examples/autobahn_client
}

mkdir -p "$OUT"
case "$ROLE" in
  server) server_role ;;
  client) client_role ;;
  all)
    # Both roles at once, each with its own log; the summaries are printed in order.
    server_role >"$OUT/server.out" 2>&1 &
    server_pid=$!
    client_role >"$OUT/client.out" 2>&1 &
    client_pid=$!
    set +e
    wait "$server_pid"; server_status=$?
    wait "$client_pid"; client_status=$?
    set -e
    for role in server client; do
      echo "--- autobahn, $role role"
      sed -n '/^Autobahn|TestSuite summary/,$p' "$OUT/$role.out" | grep -v '^HTML report' || tail -n 20 "$OUT/$role.out"
    done
    [ "$server_status" = 0 ] && [ "$client_status" = 0 ]
    ;;
  *) echo "usage: scripts/autobahn.sh [all|server|client] [CASES] [EXCLUDE]" >&2; exit 2 ;;
esac
