#!/usr/bin/env python3
"""The report of scripts/bench-suite.sh: reads a results folder (meta.json, runs.jsonl and the
`switchboard bench --json` reports in raw/), writes summary.json there and prints markdown.

Usage: scripts/bench-report.py RESULTS_DIR

Python 3 standard library only. docs/benchmarks.md ("End-to-end suite") explains the columns.
"""

import json
import statistics
import sys
from pathlib import Path

PEERS = ["fastwebsockets", "tokio-websockets", "tokio-tungstenite", "sockudo-ws"]
ORDER = ["switchboard", *PEERS, "raw-tcp", "python-websockets"]


def load(folder):
    meta = json.loads((folder / "meta.json").read_text())
    runs = []
    for line in (folder / "runs.jsonl").read_text().splitlines():
        if not line.strip():
            continue
        run = json.loads(line)
        run["report"] = None
        if "file" in run:
            try:
                run["report"] = json.loads((folder / run["file"]).read_text())
            except (OSError, ValueError) as e:
                run["problem"] = f"no report ({e.__class__.__name__})"
        runs.append(run)
    return meta, runs


def problem(run):
    """Why a run does not count, or None."""
    if run.get("problem"):
        return run["problem"]
    report = run["report"]
    if report is None:
        return "no report"
    if run.get("exit", 0) != 0:
        return f"exit {run['exit']}"
    load = report.get("load")
    if load is not None and load.get("errors"):
        return f"{load['errors']} errors: {load.get('first_error')}"
    failed = report.get("connect", {}).get("failed", 0)
    if failed:
        return f"{failed} connections failed: {report['connect'].get('first_error')}"
    return None


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def spread(values):
    values = [v for v in values if v is not None]
    return (min(values), max(values)) if values else (None, None)


def get(report, *path):
    for key in path:
        if report is None:
            return None
        report = report.get(key)
    return report


def server_key(name):
    return ORDER.index(name) if name in ORDER else len(ORDER)


def summarise_echo(runs, mode="echo"):
    """Echo as fast as the load goes: mode "echo", or "capped" (the server under a CPU quota)."""
    cells = {}
    for run in runs:
        if run.get("mode") != mode or "skipped" in run:
            continue
        key = (run["size"], run["connections"], run["pipeline"])
        cells.setdefault(key, {}).setdefault(run["server"], []).append(run)
    summary = []
    for (size, connections, pipeline), servers in sorted(cells.items()):
        rows = {}
        for name, server_runs in servers.items():
            good = [r for r in server_runs if problem(r) is None]
            rates = [get(r["report"], "load", "messages_per_s") for r in good]
            low, high = spread(rates)
            rows[name] = {
                "server": name,
                "messages_per_s_by_rep": {
                    r["rep"]: rate for r, rate in zip(good, rates) if rate is not None
                },
                "runs": len(server_runs),
                "good_runs": len(good),
                "problems": [p for p in map(problem, server_runs) if p],
                "messages_per_s": rates,
                "messages_per_s_median": median(rates),
                "messages_per_s_min": low,
                "messages_per_s_max": high,
                "cpu_us_per_message_median": median(
                    [get(r["report"], "server", "cpu_us_per_message") for r in good]
                ),
                "cpu_percent_median": median(
                    [get(r["report"], "server", "cpu_percent") for r in good]
                ),
                "p99_us_median": median(
                    [get(r["report"], "load", "latency", "p99_us") for r in good]
                ),
                "bench_cpu_percent_median": median(
                    [get(r["report"], "client", "cpu_percent") for r in good]
                ),
            }
        peer_rates = [
            (rows[p]["messages_per_s_median"], p)
            for p in PEERS
            if p in rows and rows[p]["messages_per_s_median"]
        ]
        best = max(peer_rates) if peer_rates else (None, None)
        raw = rows.get("raw-tcp", {}).get("messages_per_s_median")
        raw_cpu = rows.get("raw-tcp", {}).get("cpu_us_per_message_median")
        for row in rows.values():
            rate = row["messages_per_s_median"]
            row["vs_best_peer"] = rate / best[0] if rate and best[0] else None
            row["vs_raw_tcp"] = rate / raw if rate and raw else None
            cpu = row["cpu_us_per_message_median"]
            row["cpu_vs_raw_tcp"] = cpu / raw_cpu if cpu and raw_cpu else None
        if "switchboard" in rows and best[1]:
            ours = rows["switchboard"]
            theirs = rows[best[1]]
            ratios = paired(ours["messages_per_s_by_rep"], theirs["messages_per_s_by_rep"])
            ours["paired_vs_best_peer"] = median(ratios)
            ours["ahead_of_best_peer"] = [sum(r > 1 for r in ratios), len(ratios)]
        summary.append(
            {
                "size": size,
                "connections": connections,
                "pipeline": pipeline,
                "best_peer": best[1],
                "servers": sorted(rows.values(), key=lambda r: server_key(r["server"])),
            }
        )
    return summary


def paired(ours, theirs):
    """Our rate over a peer's, repetition by repetition (both are {rep: msg/s}).

    The servers of one repetition run one after the other, so a slow drift of a shared
    machine touches both runs of a pair alike; how often we are ahead tells a consistent
    lead from one that the noise hands out.
    """
    return [ours[rep] / theirs[rep] for rep in sorted(ours) if theirs.get(rep)]


def summarise_paced(runs):
    """Echo at a fixed rate: every server gets the same load, so CPU per message compares."""
    cells = {}
    for run in runs:
        if run.get("mode") != "paced":
            continue
        key = (run["size"], run["connections"], run["pipeline"], run["rate"])
        cells.setdefault(key, {}).setdefault(run["server"], []).append(run)
    summary = []
    for (size, connections, pipeline, rate), servers in sorted(cells.items()):
        rows = {}
        for name, server_runs in servers.items():
            good = [r for r in server_runs if problem(r) is None]
            achieved = [get(r["report"], "load", "messages_per_s") for r in good]
            cpu = [get(r["report"], "server", "cpu_us_per_message") for r in good]
            low, high = spread(cpu)
            rows[name] = {
                "server": name,
                "runs": len(server_runs),
                "good_runs": len(good),
                "problems": [p for p in map(problem, server_runs) if p],
                "messages_per_s_median": median(achieved),
                # Within 3% of the rate asked for, in every good run.
                "sustained": bool(good) and all(a is not None and a >= 0.97 * rate for a in achieved),
                "cpu_us_per_message": cpu,
                "cpu_us_per_message_median": median(cpu),
                "cpu_us_per_message_min": low,
                "cpu_us_per_message_max": high,
                "cpu_percent_median": median(
                    [get(r["report"], "server", "cpu_percent") for r in good]
                ),
                "p99_us_median": median(
                    [get(r["report"], "load", "latency", "p99_us") for r in good]
                ),
            }
        raw_cpu = rows.get("raw-tcp", {}).get("cpu_us_per_message_median")
        for row in rows.values():
            cpu = row["cpu_us_per_message_median"]
            row["cpu_vs_raw_tcp"] = cpu / raw_cpu if cpu and raw_cpu else None
        summary.append(
            {
                "size": size,
                "connections": connections,
                "pipeline": pipeline,
                "rate": rate,
                "servers": sorted(rows.values(), key=lambda r: server_key(r["server"])),
            }
        )
    return summary


def summarise_idle(runs):
    rows = []
    for run in runs:
        if run.get("mode") != "idle":
            continue
        if "skipped" in run:
            rows.append({"connections": run["connections"], "skipped": run["skipped"]})
            continue
        report = run["report"]
        held = get(report, "idle", "held")
        rows.append(
            {
                "server": run["server"],
                "connections": run["connections"],
                "problem": problem(run)
                or (f"{get(report, 'idle', 'lost')} lost" if get(report, "idle", "lost") else None),
                "held": held,
                "rss_before_bytes": get(report, "server", "rss_before_bytes"),
                "rss_held_bytes": get(report, "server", "rss_held_bytes"),
                "rss_per_connection_bytes": get(report, "server", "rss_per_connection_bytes"),
            }
        )
    rows.sort(key=lambda r: (r["connections"], server_key(r.get("server", ""))))
    return rows


def summarise_compression(runs):
    cells = {}
    skipped = []
    for run in runs:
        if run.get("mode") != "compression":
            continue
        if "skipped" in run:
            skipped.append({"server": run["server"], "skipped": run["skipped"]})
            continue
        key = (run["payload"], run["size"], run["connections"], run["pipeline"])
        cells.setdefault(key, {}).setdefault(run["server"], []).append(run)
    summary = []
    for (payload, size, connections, pipeline), servers in sorted(cells.items()):
        rows = []
        for name, server_runs in servers.items():
            good = [r for r in server_runs if problem(r) is None]
            rates = [get(r["report"], "load", "messages_per_s") for r in good]
            low, high = spread(rates)
            rows.append(
                {
                    "server": name,
                    "runs": len(server_runs),
                    "good_runs": len(good),
                    "problems": [p for p in map(problem, server_runs) if p],
                    "messages_per_s_median": median(rates),
                    "messages_per_s_min": low,
                    "messages_per_s_max": high,
                    "mean_message_bytes": median(
                        [get(r["report"], "load", "mean_message_bytes") for r in good]
                    ),
                    "wire_ratio_sent": median(
                        [get(r["report"], "load", "wire", "ratio_sent") for r in good]
                    ),
                    "wire_ratio_received": median(
                        [get(r["report"], "load", "wire", "ratio_received") for r in good]
                    ),
                    "wire_mb_per_s_received": median(
                        [get(r["report"], "load", "wire", "mb_per_s_received") for r in good]
                    ),
                    "cpu_us_per_message_median": median(
                        [get(r["report"], "server", "cpu_us_per_message") for r in good]
                    ),
                    "p99_us_median": median(
                        [get(r["report"], "load", "latency", "p99_us") for r in good]
                    ),
                    "bench_cpu_percent_median": median(
                        [get(r["report"], "client", "cpu_percent") for r in good]
                    ),
                }
            )
        rows.sort(key=lambda r: server_key(r["server"]))
        summary.append(
            {
                "payload": payload,
                "size": size,
                "connections": connections,
                "pipeline": pipeline,
                "servers": rows,
            }
        )
    return summary, skipped


# --- markdown --------------------------------------------------------------------------------


def number(value, digits=0):
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def ratio(value):
    return "–" if value is None else f"{value:.2f}×"


def ahead(wins):
    """The repetitions ahead, as "k/n" (ahead in k of n)."""
    return "–" if not wins or not wins[1] else f"{wins[0]}/{wins[1]}"


def size_name(size):
    if size >= 1024 and size % 1024 == 0:
        return f"{size // 1024} KiB"
    return f"{size} B"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def echo_markdown(summary, capped=None):
    """The echo tables; `capped` is (quota percent, period µs) for the capped mode."""
    if capped is None:
        out = ["## Echo load", ""]
    else:
        quota, period = capped
        out = [
            f"## Echo load, servers held to {quota}% of a core",
            "",
            f"The same cells with every server in a cgroup with a CPU quota of {quota}% of one "
            f"core (period {period} µs), so the server is the bottleneck and messages/s ranks "
            "the servers by what they do with the CPU they have. Latency here mostly shows "
            "the quota's throttling, not the server.",
            "",
        ]
    overview = []
    for cell in summary:
        rows = {r["server"]: r for r in cell["servers"]}
        ours = rows.get("switchboard", {})
        best = rows.get(cell["best_peer"], {})
        overview.append(
            [
                size_name(cell["size"]),
                cell["connections"],
                cell["pipeline"],
                number(ours.get("messages_per_s_median")),
                f"{number(best.get('messages_per_s_median'))} ({cell['best_peer'] or '–'})",
                ratio(ours.get("vs_best_peer")),
                ahead(ours.get("ahead_of_best_peer")),
                number(rows.get("raw-tcp", {}).get("messages_per_s_median")),
                ratio(ours.get("vs_raw_tcp")),
                ratio(ours.get("cpu_vs_raw_tcp")),
            ]
        )
    out += [
        "Switchboard against the best peer of each cell (medians):",
        "",
        table(
            ["size", "conns", "pipeline", "switchboard msg/s", "best peer msg/s",
             "vs best peer", "ahead of it", "raw TCP msg/s", "vs raw TCP",
             "CPU/msg vs raw TCP"],
            overview,
        ),
        "",
        "Every server:",
        "",
    ]
    rows = []
    for cell in summary:
        for r in cell["servers"]:
            runs = f"{r['good_runs']}/{r['runs']}"
            if r["problems"]:
                runs += f" ({r['problems'][0]})"
            rows.append(
                [
                    size_name(cell["size"]),
                    cell["connections"],
                    cell["pipeline"],
                    r["server"],
                    number(r["messages_per_s_median"]),
                    f"{number(r['messages_per_s_min'])}–{number(r['messages_per_s_max'])}",
                    number(r["cpu_us_per_message_median"], 2),
                    number(r["cpu_percent_median"]),
                    number(r["bench_cpu_percent_median"]),
                    number(r["p99_us_median"], 1),
                    ratio(r["vs_best_peer"]),
                    ratio(r["vs_raw_tcp"]),
                    ratio(r["cpu_vs_raw_tcp"]),
                    runs,
                ]
            )
    out.append(
        table(
            ["size", "conns", "pipeline", "server", "msg/s", "min–max", "CPU µs/msg",
             "CPU %", "bench CPU %", "p99 µs", "vs best peer", "vs raw TCP",
             "CPU/msg vs raw TCP", "good runs"],
            rows,
        )
    )
    return "\n".join(out)


def paced_markdown(summary):
    out = [
        "## Echo at a fixed rate: CPU per message under the same load",
        "",
        "Every server gets the same paced load (`switchboard bench --echo-rate`). A server that",
        "did not sustain the rate (within 3% in every run) did less work than the others: its",
        "CPU per message is not comparable and is marked.",
        "",
    ]
    rows = []
    for cell in summary:
        for r in cell["servers"]:
            runs = f"{r['good_runs']}/{r['runs']}"
            if r["problems"]:
                runs += f" ({r['problems'][0]})"
            rows.append(
                [
                    size_name(cell["size"]),
                    cell["connections"],
                    cell["pipeline"],
                    number(cell["rate"]),
                    r["server"],
                    number(r["messages_per_s_median"]) + ("" if r["sustained"] else " (not sustained)"),
                    number(r["cpu_us_per_message_median"], 2),
                    f"{number(r['cpu_us_per_message_min'], 2)}–{number(r['cpu_us_per_message_max'], 2)}",
                    number(r["cpu_percent_median"]),
                    number(r["p99_us_median"], 1),
                    ratio(r["cpu_vs_raw_tcp"]),
                    runs,
                ]
            )
    out.append(
        table(
            ["size", "conns", "pipeline", "rate asked", "server", "msg/s achieved",
             "CPU µs/msg", "min–max", "CPU %", "p99 µs", "CPU/msg vs raw TCP", "good runs"],
            rows,
        )
    )
    return "\n".join(out)


def idle_markdown(rows):
    out = ["## Idle connections: server memory", ""]
    lines = []
    for r in rows:
        if "skipped" in r:
            lines.append([number(r["connections"]), "all", "–", "–", "–", f"skipped: {r['skipped']}"])
            continue
        mb = lambda b: number(b / 1e6, 1) if b is not None else "–"  # noqa: E731
        per = r["rss_per_connection_bytes"]
        lines.append(
            [
                number(r["connections"]),
                r["server"],
                number(r["held"]),
                f"{mb(r['rss_before_bytes'])} → {mb(r['rss_held_bytes'])}",
                number(per / 1024, 1) if per is not None else "–",
                r["problem"] or "",
            ]
        )
    out.append(
        table(["connections", "server", "held", "RSS MB (before → held)", "KiB per connection",
               "problem"], lines)
    )
    return "\n".join(out)


def compression_markdown(summary, skipped):
    out = ["## permessage-deflate on a JSON price-ticker stream", ""]
    rows = []
    for cell in summary:
        for r in cell["servers"]:
            what = "1 update" if cell["size"] <= 1 else f"≤ {size_name(cell['size'])}"
            runs = f"{r['good_runs']}/{r['runs']}"
            if r["problems"]:
                runs += f" ({r['problems'][0]})"
            wire = (
                f"{r['wire_ratio_sent'] * 100:.1f}% / {r['wire_ratio_received'] * 100:.1f}%"
                if r["wire_ratio_sent"] is not None and r["wire_ratio_received"] is not None
                else "–"
            )
            rows.append(
                [
                    f"{what} ({number(r['mean_message_bytes'])} B)",
                    cell["connections"],
                    cell["pipeline"],
                    r["server"],
                    number(r["messages_per_s_median"]),
                    f"{number(r['messages_per_s_min'])}–{number(r['messages_per_s_max'])}",
                    wire,
                    number(r["wire_mb_per_s_received"], 2),
                    number(r["cpu_us_per_message_median"], 2),
                    number(r["bench_cpu_percent_median"]),
                    number(r["p99_us_median"], 1),
                    runs,
                ]
            )
    for s in skipped:
        rows.append(["–"] * 3 + [s["server"]] + ["–"] * 7 + [f"skipped: {s['skipped']}"])
    out.append(
        table(
            ["message", "conns", "pipeline", "server", "msg/s", "min–max",
             "wire/payload (sent / received)", "wire MB/s received", "CPU µs/msg",
             "bench CPU %", "p99 µs", "good runs"],
            rows,
        )
    )
    return "\n".join(out)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    folder = Path(sys.argv[1])
    meta, runs = load(folder)
    echo = summarise_echo(runs)
    capped = summarise_echo(runs, "capped")
    capped_skipped = [r["skipped"] for r in runs if r.get("mode") == "capped" and "skipped" in r]
    paced = summarise_paced(runs)
    idle = summarise_idle(runs)
    compression, skipped = summarise_compression(runs)
    (folder / "summary.json").write_text(
        json.dumps(
            {"meta": meta, "echo": echo, "capped": capped, "paced": paced, "idle": idle,
             "compression": compression,
             "compression_skipped": skipped},
            indent=2,
        )
        + "\n"
    )
    v = meta["versions"]
    kind = "QUICK SMOKE RUN (not a measurement)" if meta["quick"] else "run"
    parts = [
        f"# End-to-end suite: {kind}, {meta['date']}",
        "",
        f"Commit {meta['commit']}; modes: {meta['modes']}; echo and compression runs: "
        f"{meta['reps']} repetition(s) of {meta['duration_s']} s after {meta['warmup_s']} s of "
        f"warm-up; idle runs hold for {meta['idle_duration_s']} s; "
        f"server pinned to CPU 0 with {meta['server_threads']} "
        f"runtime worker(s), `switchboard bench` to CPU 1 with one"
        + ("" if meta["pinned"] else " (NOT pinned: no taskset or one CPU)")
        + f"; {meta['cpus']} CPUs ({meta['cpu_model']}), {meta['kernel']}, load average "
        f"before {meta['load_average_before']}. Peers: fastwebsockets {v['fastwebsockets']}, "
        f"tokio-websockets {v['tokio-websockets']}, tokio-tungstenite "
        f"{v['tokio-tungstenite']}, sockudo-ws {v['sockudo-ws']}, Python websockets "
        f"{v['python-websockets']}; rustc {v['rustc']}.",
    ]
    if echo:
        parts += ["", echo_markdown(echo)]
    if capped:
        quota = (meta.get("capped_quota_percent"), meta.get("capped_period_us"))
        parts += ["", echo_markdown(capped, quota)]
    for reason in capped_skipped:
        parts += ["", f"## Echo load, servers held to a CPU quota: skipped ({reason})"]
    if paced:
        parts += ["", paced_markdown(paced)]
    if idle:
        parts += ["", idle_markdown(idle)]
    if compression or skipped:
        parts += ["", compression_markdown(compression, skipped)]
    print("\n".join(parts))


if __name__ == "__main__":
    main()
