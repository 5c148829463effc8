#!/usr/bin/env bash
# Hub fan-out on one node in memory against N nodes on Redis, side by side: the same
# `switchboard bench --fanout` load against `switchboard serve` on its in-memory engine, then
# against NODES nodes sharing one redis-server (subscribers spread over the nodes, publishers
# on the first), alternating the two setups for REPS repetitions so a shared machine's drift
# falls on both. The servers (every node, and Redis) run on CPU 0, the load generator on CPU 1,
# as in scripts/bench-suite.sh. Everything listens on 127.0.0.1; every process started here is
# ended here.
#
# Usage: scripts/bench-hub.sh
# Environment: SUBSCRIBERS (10000), CHANNELS (1), RATE (publications/s per channel, 100),
# SIZE (message bytes, 64), DURATION (10, seconds), WARMUP (2), REPS (3), NODES (3),
# PUBLISH_VIA (api), BENCH_OUT (target/bench-hub).
# Output: a markdown table on stdout; every run's --json report under BENCH_OUT/DATE/.
# Needs redis-server (apt-get install redis-server) and about 3 file descriptors per subscriber.
set -euo pipefail
cd "$(dirname "$0")/.."

SUBSCRIBERS=${SUBSCRIBERS:-10000} CHANNELS=${CHANNELS:-1} RATE=${RATE:-100} SIZE=${SIZE:-64}
DURATION=${DURATION:-10} WARMUP=${WARMUP:-2} REPS=${REPS:-3} NODES=${NODES:-3}
PUBLISH_VIA=${PUBLISH_VIA:-api}
out="${BENCH_OUT:-target/bench-hub}/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
say() { printf 'bench-hub: %s\n' "$*" >&2; }

command -v redis-server >/dev/null || { say "redis-server is missing (apt-get install redis-server)"; exit 1; }
ulimit -n "$(ulimit -Hn)" || true
cargo build --release --locked -q -p switchboard-cli --bin switchboard
bin="$(realpath "${CARGO_TARGET_DIR:-target}")/release/switchboard"
tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts `switchboard serve` with config file $1 and waits until it is healthy; sets $url and
# $pid.
start_node() {
  local config=$1 log="$tmp/node-$RANDOM.out"
  taskset -c 0 "$bin" serve --listen 127.0.0.1:0 --config "$config" >"$log" 2>"$log.err" &
  pid=$!
  pids+=("$pid")
  url=""
  for _ in $(seq 100); do
    url=$(sed -n 's|^switchboard serve: listening on http://\(.*\)$|ws://\1|p' "$log")
    [ -n "$url" ] && break
    sleep 0.1
  done
  [ -n "$url" ] || { say "a node did not start: $(cat "$log.err")"; exit 1; }
  for _ in $(seq 100); do
    curl -sf "http://${url#ws://}/health" >/dev/null && break
    sleep 0.1
  done
}

config() { # $1: file, $2: engine lines
  cat >"$1" <<EOF
api_key = "bench"
[limits]
max_connections_per_ip = 1000000
max_connections = 1000000
commands_per_second = 1000000.0
command_burst = 1000000
$2
EOF
}
config "$tmp/memory.toml" ""

run() { # $1: setup name, $2: rep
  local urls=() server_pids=() redis_pid=""
  case "$1" in
    memory)
      start_node "$tmp/memory.toml"; urls+=("$url"); server_pids+=("$pid") ;;
    redis)
      local port; port=$(free_port)
      mkdir -p "$tmp/redis-$2"
      taskset -c 0 redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
        --dir "$tmp/redis-$2" >/dev/null 2>&1 &
      redis_pid=$!; pids+=("$redis_pid")
      for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
      config "$tmp/redis.toml" "[engine]
redis = [\"redis://127.0.0.1:$port/\"]"
      for _ in $(seq "$NODES"); do
        start_node "$tmp/redis.toml"; urls+=("$url"); server_pids+=("$pid")
      done ;;
  esac
  local pid_args=()
  for pid in "${server_pids[@]}" $redis_pid; do pid_args+=(--server-pid "$pid"); done
  say "$1, repetition $2: ${urls[*]}"
  SWITCHBOARD_API_KEY=bench taskset -c 1 "$bin" bench --fanout "${urls[@]}" --subscribers "$SUBSCRIBERS" \
    --channels "$CHANNELS" --rate "$RATE" -s "$SIZE" -d "${DURATION}s" --warmup "${WARMUP}s" \
    --publish-via "$PUBLISH_VIA" "${pid_args[@]}" --json -q >"$out/$1-$2.json" \
    || say "$1, repetition $2: bench exited $?"
  for pid in "${server_pids[@]}" $redis_pid; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
}

for rep in $(seq "$REPS"); do
  run memory "$rep"
  run redis "$rep"
done

python3 - "$out" "$NODES" <<'EOF'
import json, pathlib, statistics, sys
out, nodes = pathlib.Path(sys.argv[1]), sys.argv[2]
rows = {}
for path in sorted(out.glob("*.json")):
    setup = path.stem.rsplit("-", 1)[0]
    try:
        report = json.loads(path.read_text())
    except ValueError:
        continue
    rows.setdefault(setup, []).append(report)
def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None
def fmt(v, spec=",.0f"):
    return "n/a" if v is None else format(v, spec)
s = next(iter(rows.values()))[0]["settings"]
print(f"{s['subscribers']:,} subscribers on {s['channels']} channel(s), {s['rate_per_channel']:g} "
      f"publications/s per channel via {s['publish_via']}, {s['message_size']} B, {s['duration_s']:g} s; "
      f"medians of {max(len(r) for r in rows.values())} alternating repetitions\n")
print("| setup | deliveries/s | p50 µs | p99 µs | p99.9 µs | missing | out of order | server CPU s (all processes) | deliveries per CPU-second |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
names = {"memory": "1 node, memory", "redis": f"{nodes} nodes, Redis"}
for setup in ("memory", "redis"):
    reports = rows.get(setup, [])
    if not reports:
        continue
    d = [r["delivery"] for r in reports]
    lat = [x["latency"] or {} for x in d]
    total = [r.get("server_total") or {} for r in reports]
    print(f"| {names[setup]} | {fmt(med([x['deliveries_per_s'] for x in d]))} "
          f"| {fmt(med([l.get('p50_us') for l in lat]), ',.1f')} | {fmt(med([l.get('p99_us') for l in lat]), ',.1f')} "
          f"| {fmt(med([l.get('p99_9_us') for l in lat]), ',.1f')} "
          f"| {sum(x['missing'] for x in d)} | {sum(x['out_of_order'] for x in d)} "
          f"| {fmt(med([t.get('cpu_s') for t in total]), ',.2f')} | {fmt(med([t.get('deliveries_per_cpu_s') for t in total]))} |")
EOF
say "reports in $out"
