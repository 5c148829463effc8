#!/usr/bin/env bash
# The end-to-end benchmark suite: `switchboard echo` against echo servers on other WebSocket
# libraries (bench/) and a raw TCP echo, all driven by `switchboard bench` on loopback.
#
# Modes (docs/benchmarks.md, "End-to-end suite", says how to read the results):
#   echo         every server x message size x connections x pipeline: messages/s (median and
#                min-max over the repetitions), server CPU time per message, p99 latency, and
#                the ratios to the best peer and to raw TCP
#   capped       the echo cells again with the server held to a share of its CPU (a cgroup
#                CPU quota, CAPPED_QUOTA percent of a core), so that the server, not the load
#                generator, is the bottleneck and messages/s ranks the servers: unconfined, the
#                load generator saturates its core first in the pipelined cells
#   paced        every server at the same fixed rate (`switchboard bench --echo-rate`), so that
#                their CPU time per message compares under the same work: at saturation the
#                load generator is the bottleneck, and the work each server gets differs
#   idle         server memory per idle connection at IDLE_CONNECTIONS connections
#   compression  a JSON price-ticker stream with permessage-deflate: messages/s and bytes on
#                the wire for switchboard, sockudo-ws and Python websockets
#
# Each server runs pinned to CPU 0 (`taskset -c 0`) with SERVER_THREADS runtime workers, the
# load generator pinned to CPU 1 with one worker. Servers start afresh for every run, and the
# order of the servers rotates from one cell and repetition to the next, so slow drifts of a
# shared machine spread over all of them.
#
# Usage: scripts/bench-suite.sh [--quick] [--reps N] [--duration SECONDS] [MODE...]
#   MODE is echo, capped, paced, idle, compression, or all five (default: echo).
#   --quick   1 repetition of 2 s after 0.5 s of warm-up, on a subset of cells, 10,000 idle
#             connections: a smoke run that checks every server works, not a measurement.
#
# Environment (flags win): REPS (3), DURATION (10, seconds), WARMUP (2), SIZES ("16 1024 65536"),
# CONNECTIONS ("10 500"), PIPELINES ("1 16"), or CELLS instead of those three (a list of
# SIZE:CONNECTIONS:PIPELINE), SERVERS (all of them, space-separated), SERVER_THREADS (1),
# PACED_CELLS (SIZE:CONNECTIONS:PIPELINE:RATE, default "16:10:16:800000 16:500:16:800000
# 1024:10:16:600000 1024:500:16:600000 16:10:1:80000 16:500:1:80000"), PACED_SERVERS (all),
# IDLE_CONNECTIONS ("10000 50000"), IDLE_DURATION (5), IDLE_SERVERS, COMPRESSION_SERVERS,
# COMPRESSION_CELLS (PAYLOAD:SIZE:CONNECTIONS:PIPELINE, default "ticker:1:10:16
# ticker:4096:10:16"), CAPPED_CELLS (CELLS), CAPPED_SERVERS (SERVERS), CAPPED_QUOTA (50, percent
# of one core), CAPPED_PERIOD_US (10000, the quota's period), BENCH_OUT (target/bench-suite),
# CARGO_TARGET_DIR.
#
# Output: a markdown report on stdout, and under BENCH_OUT/DATE/ every run's `switchboard bench
# --json` report (raw/), the runs' index (runs.jsonl), report.md and summary.json.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

say() { printf 'bench-suite: %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

all_servers="switchboard fastwebsockets tokio-websockets tokio-tungstenite sockudo-ws raw-tcp"
quick=0
modes=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --reps) REPS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    echo|capped|paced|idle|compression) modes+=("$1") ;;
    all) modes+=(echo capped paced idle compression) ;;
    *) fail "unknown argument '$1' (try --help)" ;;
  esac
  shift
done
[ ${#modes[@]} -gt 0 ] || modes=(echo)

if [ "$quick" = 1 ]; then
  REPS=${REPS:-1} DURATION=${DURATION:-2} WARMUP=${WARMUP:-0.5}
  IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-10000} IDLE_DURATION=${IDLE_DURATION:-2}
  # size:connections:pipeline
  CELLS=${CELLS:-"16:10:1 1024:500:16 65536:10:16"}
  PACED_CELLS=${PACED_CELLS:-"16:500:16:400000"}
fi
REPS=${REPS:-3} DURATION=${DURATION:-10} WARMUP=${WARMUP:-2}
SIZES=${SIZES:-"16 1024 65536"} CONNECTIONS=${CONNECTIONS:-"10 500"} PIPELINES=${PIPELINES:-"1 16"}
if [ -z "${CELLS:-}" ]; then
  CELLS=""
  for size in $SIZES; do for c in $CONNECTIONS; do for p in $PIPELINES; do
    CELLS+="$size:$c:$p "
  done; done; done
fi
SERVERS=${SERVERS:-$all_servers}
SERVER_THREADS=${SERVER_THREADS:-1}
# size:connections:pipeline:messages per second. The rates are ones switchboard, raw TCP and
# the peers that answer a burst with one write all sustain here (about half their most).
PACED_CELLS=${PACED_CELLS:-"16:10:16:800000 16:500:16:800000 1024:10:16:600000 \
1024:500:16:600000 16:10:1:80000 16:500:1:80000"}
PACED_SERVERS=${PACED_SERVERS:-$SERVERS}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-"10000 50000"} IDLE_DURATION=${IDLE_DURATION:-5}
IDLE_SERVERS=${IDLE_SERVERS:-$all_servers}
COMPRESSION_SERVERS=${COMPRESSION_SERVERS:-"switchboard sockudo-ws python-websockets"}
# payload:size:connections:pipeline; a ticker message of size 1 holds one update (~200 B).
COMPRESSION_CELLS=${COMPRESSION_CELLS:-"ticker:1:10:16 ticker:4096:10:16"}
CAPPED_CELLS=${CAPPED_CELLS:-$CELLS} CAPPED_SERVERS=${CAPPED_SERVERS:-$SERVERS}
CAPPED_QUOTA=${CAPPED_QUOTA:-50} CAPPED_PERIOD_US=${CAPPED_PERIOD_US:-10000}

stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="${BENCH_OUT:-$root/target/bench-suite}/$stamp"
mkdir -p "$out/raw" "$out/logs"
runs="$out/runs.jsonl"
: >"$runs"

# --- build -----------------------------------------------------------------------------------
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
say "building switchboard and the peers (release) into $CARGO_TARGET_DIR"
cargo build --release --locked --quiet -p switchboard-cli --bin switchboard
# The peers' workspace shares the target directory, so common dependencies build once.
cargo build --release --locked --quiet --manifest-path bench/Cargo.toml
bin="$CARGO_TARGET_DIR/release"
switchboard="$bin/switchboard"

venv=target/interop-venv
python_ready() { "$venv/bin/python" -c 'import websockets' 2>/dev/null; }
if [[ " ${modes[*]} " == *" compression "* && " $COMPRESSION_SERVERS " == *" python-websockets "* ]] \
  && ! python_ready; then
  # The venv of the interop tests (scripts/test.sh interop), made the same way.
  say "creating $venv for the Python websockets server"
  rm -rf "$venv"
  if ! { python3 -m venv "$venv" && "$venv/bin/python" -m pip install --quiet \
    --disable-pip-version-check -r tests/interop/requirements.txt; }; then
    say "no Python websockets: its compression rows will be missing"
  fi
fi

# --- pinning and limits ----------------------------------------------------------------------
server_cpu=() client_cpu=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  server_cpu=(taskset -c 0) client_cpu=(taskset -c 1)
else
  say "WARNING: no taskset or fewer than 2 CPUs: server and load generator are not pinned"
fi
# Idle connections need a descriptor each, in the server and in the load generator.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fd_limit=$(ulimit -n)

# --- CPU quota (capped mode) ------------------------------------------------------------------
# make_cgroup: creates a cgroup with a CPU quota of CAPPED_QUOTA percent of one core and sets
# quota_cgroup, on the cgroup v2 `cpu.max` or the v1 `cpu.cfs_quota_us` interface; returns 1
# (with the reason in quota_problem) where neither is writable.
quota_cgroup="" quota_problem=""
# The cgroup v2 parent whose children the script gave the CPU controller to, to take it back.
cpu_enabled_in=""
make_cgroup() {
  local quota=$((CAPPED_PERIOD_US * CAPPED_QUOTA / 100)) dir
  for base in /sys/fs/cgroup /sys/fs/cgroup/unified; do
    if grep -qw cpu "$base/cgroup.controllers" 2>/dev/null; then
      if ! grep -qw cpu "$base/cgroup.subtree_control" 2>/dev/null; then
        echo +cpu >"$base/cgroup.subtree_control" 2>/dev/null || continue
        cpu_enabled_in=$base
      fi
      dir="$base/switchboard-bench-$$"
      if mkdir -p "$dir" 2>/dev/null \
        && echo "$quota $CAPPED_PERIOD_US" >"$dir/cpu.max" 2>/dev/null; then
        quota_cgroup=$dir
        return 0
      fi
      rmdir "$dir" 2>/dev/null || true
      remove_cgroup
    fi
  done
  dir=/sys/fs/cgroup/cpu/switchboard-bench-$$
  if [ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ] && mkdir -p "$dir" 2>/dev/null \
    && echo "$CAPPED_PERIOD_US" >"$dir/cpu.cfs_period_us" 2>/dev/null \
    && echo "$quota" >"$dir/cpu.cfs_quota_us" 2>/dev/null; then
    quota_cgroup=$dir
    return 0
  fi
  rmdir "$dir" 2>/dev/null || true
  quota_problem="no writable cgroup CPU controller (needs root, and cgroup v2 cpu.max or v1 \
cpu.cfs_quota_us)"
  return 1
}
# remove_cgroup: removes the quota's cgroup and, if the script enabled it, the v2 CPU
# controller for its siblings (refused, harmlessly, while other cgroups there still use it).
remove_cgroup() {
  [ -n "$quota_cgroup" ] && rmdir "$quota_cgroup" 2>/dev/null || true
  quota_cgroup=""
  [ -n "$cpu_enabled_in" ] && echo -cpu >"$cpu_enabled_in/cgroup.subtree_control" 2>/dev/null \
    || true
  cpu_enabled_in=""
}

# --- servers ---------------------------------------------------------------------------------
server_pid="" server_addr=""
# The cgroup servers start in, when capped.
server_cgroup=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
trap 'stop_server; remove_cgroup' EXIT
trap 'stop_server; remove_cgroup; exit 130' INT TERM

# start_server NAME LOG [--deflate]: starts NAME pinned to the server CPU, waits for its
# listening line, and sets server_pid and server_addr.
start_server() {
  local name=$1 log=$2 cmd
  local extra=("${@:3}")
  case "$name" in
    switchboard) cmd=("$switchboard" echo --threads "$SERVER_THREADS") ;;
    python-websockets) cmd=("$venv/bin/python" bench/websockets_echo.py "${extra[@]}") ;;
    fastwebsockets|tokio-websockets|tokio-tungstenite|sockudo-ws|raw-tcp)
      cmd=("$bin/$name-echo" --threads "$SERVER_THREADS" "${extra[@]}") ;;
    *) fail "unknown server '$name'" ;;
  esac
  # Emptied here, not by the child's redirection: a child not yet running would leave the
  # last run's listening line in place, and its stale address would be read below.
  : >"$log"
  "${server_cpu[@]}" "${cmd[@]}" --listen 127.0.0.1:0 >>"$log" 2>&1 &
  server_pid=$!
  # Moving the process moves all its threads, and the ones it starts later are born there.
  if [ -n "$server_cgroup" ] && ! echo "$server_pid" >"$server_cgroup/cgroup.procs"; then
    stop_server
    fail "could not move $name into $server_cgroup"
  fi
  local waited=0
  until server_addr=$(sed -n 's/.*listening on \(ws:\/\/\|tcp:\/\/\)\{0,1\}//p' "$log" | head -1) \
    && [ -n "$server_addr" ]; do
    if ! kill -0 "$server_pid" 2>/dev/null || [ $waited -ge 100 ]; then
      cat "$log" >&2
      fail "$name did not start"
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
}

# record KEY=VALUE...: appends one run to runs.jsonl (values are numbers or plain words).
record() {
  local json="{" sep="" pair
  for pair in "$@"; do
    local key=${pair%%=*} value=${pair#*=}
    if [[ "$value" =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; then
      json+="$sep\"$key\": $value"
    else
      json+="$sep\"$key\": \"$value\""
    fi
    sep=", "
  done
  printf '%s}\n' "$json" >>"$runs"
}

# bench NAME FILE ARGS...: runs `switchboard bench` pinned to the client CPU against the
# running server, its JSON report into FILE; returns its exit code.
bench() {
  local name=$1 file=$2
  shift 2
  local target=("ws://$server_addr")
  [ "$name" = raw-tcp ] && target=(--raw-tcp "$server_addr")
  local bound
  bound=$(awk -v d="$DURATION" -v w="$WARMUP" -v i="$IDLE_DURATION" 'BEGIN { print int(d + w + i + 120) }')
  timeout "$bound" "${client_cpu[@]}" "$switchboard" bench "${target[@]}" -t 1 --quiet --json \
    --server-pid "$server_pid" "$@" >"$file" 2>>"$out/logs/bench.stderr"
}

# rotate N WORDS...: the words starting from the N-th (mod their count), wrapping around.
rotate() {
  local n=$1
  shift
  local words=("$@") i
  for ((i = 0; i < ${#words[@]}; i++)); do
    printf '%s ' "${words[$(((i + n) % ${#words[@]}))]}"
  done
}

# --- modes -----------------------------------------------------------------------------------
# saturate MODE CELLS SERVERS: every server as fast as the load generator drives it, in every
# cell (SIZE:CONNECTIONS:PIPELINE), REPS times, recorded under MODE.
saturate() {
  local mode=$1 rep cell index=0 name size connections pipeline file status
  local cells servers
  read -ra cells <<<"$2"
  read -ra servers <<<"$3"
  local total=$((REPS * ${#cells[@]} * ${#servers[@]})) done=0
  say "$mode: ${#cells[@]} cells x ${#servers[@]} servers x $REPS repetitions of ${DURATION} s \
(+${WARMUP} s warm-up): $total runs"
  for ((rep = 1; rep <= REPS; rep++)); do
    for cell in "${cells[@]}"; do
      IFS=: read -r size connections pipeline <<<"$cell"
      index=$((index + 1))
      for name in $(rotate $((index + rep)) "${servers[@]}"); do
        done=$((done + 1))
        file="$out/raw/$mode-s$size-c$connections-p$pipeline-$name-rep$rep.json"
        start_server "$name" "$out/logs/$name.log"
        status=0
        bench "$name" "$file" -c "$connections" -s "$size" -p "$pipeline" \
          -d "${DURATION}s" --warmup "${WARMUP}s" || status=$?
        stop_server
        say "[$done/$total] $mode $name ${size} B x $connections conns x pipeline $pipeline, \
rep $rep: exit $status"
        record mode="$mode" server="$name" size="$size" connections="$connections" \
          pipeline="$pipeline" rep="$rep" exit="$status" file="raw/${file##*/}"
      done
    done
  done
}

run_echo() {
  saturate echo "$CELLS" "$SERVERS"
}

run_capped() {
  if ! make_cgroup; then
    say "capped: skipped: $quota_problem"
    record mode=capped skipped="$quota_problem"
    return
  fi
  say "capped: servers held to $CAPPED_QUOTA% of a core in $quota_cgroup \
(period $CAPPED_PERIOD_US µs)"
  server_cgroup=$quota_cgroup
  saturate capped "$CAPPED_CELLS" "$CAPPED_SERVERS"
  server_cgroup=""
  remove_cgroup
}

run_paced() {
  local rep cell index=0 name size connections pipeline rate file status
  local cells servers
  read -ra cells <<<"$PACED_CELLS"
  read -ra servers <<<"$PACED_SERVERS"
  local total=$((REPS * ${#cells[@]} * ${#servers[@]})) done=0
  say "paced: ${#cells[@]} cells x ${#servers[@]} servers x $REPS repetitions of ${DURATION} s \
(+${WARMUP} s warm-up): $total runs"
  for ((rep = 1; rep <= REPS; rep++)); do
    for cell in "${cells[@]}"; do
      IFS=: read -r size connections pipeline rate <<<"$cell"
      index=$((index + 1))
      for name in $(rotate $((index + rep)) "${servers[@]}"); do
        done=$((done + 1))
        file="$out/raw/paced-s$size-c$connections-p$pipeline-r$rate-$name-rep$rep.json"
        start_server "$name" "$out/logs/$name.log"
        status=0
        bench "$name" "$file" -c "$connections" -s "$size" -p "$pipeline" \
          --echo-rate "$rate" -d "${DURATION}s" --warmup "${WARMUP}s" || status=$?
        stop_server
        say "[$done/$total] paced $name ${size} B x $connections conns x pipeline $pipeline \
at $rate msg/s, rep $rep: exit $status"
        record mode=paced server="$name" size="$size" connections="$connections" \
          pipeline="$pipeline" rate="$rate" rep="$rep" exit="$status" file="raw/${file##*/}"
      done
    done
  done
}

run_idle() {
  local count name file status
  for count in $IDLE_CONNECTIONS; do
    # The server and the load generator each hold a descriptor per connection, plus a few.
    if [ $((count + 256)) -gt "$fd_limit" ]; then
      say "idle: skipping $count connections: the descriptor limit here is $fd_limit \
(ulimit -Hn), and each side needs one per connection"
      record mode=idle connections="$count" skipped="descriptor limit $fd_limit"
      continue
    fi
    local servers
    read -ra servers <<<"$IDLE_SERVERS"
    for name in $(rotate "$count" "${servers[@]}"); do
      file="$out/raw/idle-c$count-$name.json"
      start_server "$name" "$out/logs/$name.log"
      status=0
      bench "$name" "$file" --idle -c "$count" -d "${IDLE_DURATION}s" || status=$?
      stop_server
      say "idle $name, $count connections: exit $status"
      record mode=idle server="$name" connections="$count" exit="$status" \
        file="raw/${file##*/}"
    done
  done
}

run_compression() {
  local rep cell index=0 name payload size connections pipeline file status
  local servers=()
  local names
  read -ra names <<<"$COMPRESSION_SERVERS"
  for name in "${names[@]}"; do
    if [ "$name" = python-websockets ] && ! python_ready; then
      record mode=compression server="$name" skipped="no Python websockets in $venv"
      continue
    fi
    servers+=("$name")
  done
  for ((rep = 1; rep <= REPS; rep++)); do
    local cells
    read -ra cells <<<"$COMPRESSION_CELLS"
    for cell in "${cells[@]}"; do
      IFS=: read -r payload size connections pipeline <<<"$cell"
      index=$((index + 1))
      for name in $(rotate $((index + rep)) "${servers[@]}"); do
        file="$out/raw/deflate-$payload$size-c$connections-p$pipeline-$name-rep$rep.json"
        # switchboard echo accepts permessage-deflate by default; the others are asked to.
        local extra=(--deflate)
        [ "$name" = switchboard ] && extra=()
        start_server "$name" "$out/logs/$name.log" "${extra[@]}"
        status=0
        bench "$name" "$file" --deflate --payload "$payload" -s "$size" -c "$connections" \
          -p "$pipeline" -d "${DURATION}s" --warmup "${WARMUP}s" || status=$?
        stop_server
        say "compression $name $payload/$size x $connections x pipeline $pipeline, rep $rep: \
exit $status"
        record mode=compression server="$name" payload="$payload" size="$size" \
          connections="$connections" pipeline="$pipeline" rep="$rep" exit="$status" \
          file="raw/${file##*/}"
      done
    done
  done
}

# --- what the report needs to say how it was made ---------------------------------------------
lock_version() { awk -v n="$1" '$0 == "name = \"" n "\"" { getline; gsub(/version = |"/, ""); print; exit }' bench/Cargo.lock; }
python_version=$("$venv/bin/python" -c 'import websockets; print(websockets.__version__)' 2>/dev/null || echo none)
cat >"$out/meta.json" <<EOF
{
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "commit": "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo '+changes')",
  "quick": $quick,
  "modes": "${modes[*]}",
  "reps": $REPS,
  "duration_s": $DURATION,
  "warmup_s": $WARMUP,
  "server_threads": $SERVER_THREADS,
  "capped_quota_percent": $CAPPED_QUOTA,
  "capped_period_us": $CAPPED_PERIOD_US,
  "idle_duration_s": $IDLE_DURATION,
  "pinned": $([ ${#server_cpu[@]} -gt 0 ] && echo true || echo false),
  "cpus": $(nproc),
  "cpu_model": "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1 | tr -d '"')",
  "kernel": "$(uname -sr)",
  "load_average_before": "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)",
  "fd_limit": $fd_limit,
  "versions": {
    "fastwebsockets": "$(lock_version fastwebsockets)",
    "tokio-websockets": "$(lock_version tokio-websockets)",
    "tokio-tungstenite": "$(lock_version tokio-tungstenite)",
    "sockudo-ws": "$(lock_version sockudo-ws)",
    "python-websockets": "$python_version",
    "rustc": "$(rustc --version | cut -d' ' -f2)"
  }
}
EOF

for mode in "${modes[@]}"; do
  "run_$mode"
done

python3 scripts/bench-report.py "$out" | tee "$out/report.md"
say "results in $out (report.md, summary.json, runs.jsonl, raw/)"
