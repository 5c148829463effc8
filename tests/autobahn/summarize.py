#!/usr/bin/env python3
"""Summarize an Autobahn|TestSuite report (the index.json that wstest writes).

usage: summarize.py [--agent NAME] [--strict] [--gate] [--log WSTEST_LOG] PATH
  PATH         index.json, or the report directory holding it
  --agent      only this agent (default: every agent in the file)
  --strict     UNIMPLEMENTED counts as a failure (also: AUTOBAHN_STRICT=1)
  --gate       only OK and INFORMATIONAL pass, in both columns (also: AUTOBAHN_GATE=1):
               Switchboard's conformance gate
  --log        wstest's output; its "Cases = [...]" line tells which cases
               were meant to run, so cases missing from the report are caught

A case fails when its `behavior` or its `behaviorClose` is FAILED, when its
closing handshake is UNCLEAN (both are red in wstest's HTML report), or when
it is missing from the report. UNIMPLEMENTED (e.g. 12.*/13.* for a peer
without permessage-deflate) is reported as skipped unless --strict.
NON-STRICT, INFORMATIONAL, WRONG CODE and FAILED BY CLIENT are passes,
listed for information.

Exit status: 0 no failure, 1 failures, 2 no usable report.
"""
import argparse
import ast
import json
import os
import re
import sys

GATE_OK = ("OK", "INFORMATIONAL")
STANDARD = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
FAILING_CLOSE = {"FAILED", "UNCLEAN"}


def case_key(case_id):
    return tuple(int(p) if p.isdigit() else 0 for p in case_id.split("."))


def compact(ids, all_ids):
    """List of case ids, shortened to 'N.*' / 'N.M.*' where a whole group matches."""
    ids = sorted(set(ids), key=case_key)
    chosen = set(ids)
    out, done = [], set()
    for cid in ids:
        if cid in done:
            continue
        parts = cid.split(".")
        for depth in (1, 2):
            if len(parts) <= depth:
                continue
            prefix = ".".join(parts[:depth]) + "."
            group = [c for c in all_ids if c.startswith(prefix)]
            if len(group) > 1 and all(c in chosen for c in group):
                # name the group by what its members share, e.g. 12.1.* not 12.*
                common = os.path.commonprefix([c.split(".")[:-1] for c in group])
                label = ".".join(common or parts[:depth]) + ".*"
                out.append("%s (%d)" % (label, len(group)))
                done.update(group)
                break
        else:
            out.append(cid)
            done.add(cid)
    return out


def wrap(items, indent, width=100):
    lines, line = [], ""
    for item in items:
        if line and len(indent) + len(line) + 1 + len(item) > width:
            lines.append(indent + line)
            line = item
        else:
            line = (line + " " + item) if line else item
    if line:
        lines.append(indent + line)
    return "\n".join(lines)


def counts_line(label, values):
    counts = {}
    for v in map(str, values):
        counts[v] = counts.get(v, 0) + 1
    parts = ["%s %d" % (k, counts.get(k, 0)) for k in STANDARD]
    parts += ["%s %d" % (k, counts[k]) for k in sorted(counts) if k not in STANDARD]
    return "  %-14s: %s" % (label, "  ".join(parts))


def expected_cases(log_path):
    """Case ids from wstest's 'Cases = [...]' line, or None."""
    try:
        with open(log_path, errors="replace") as f:
            for line in f:
                m = re.match(r"\s*Cases = (\[.*\])\s*$", line)
                if m:
                    return [str(c) for c in ast.literal_eval(m.group(1))]
    except (OSError, ValueError, SyntaxError):
        pass
    return None


def case_detail(report_dir, agent, cid, res):
    text = ""
    rf = res.get("reportfile")
    if rf:
        try:
            with open(os.path.join(report_dir, rf)) as f:
                d = json.load(f)
            parts = [x for x in (d.get("result"), d.get("resultClose")) if x]
            text = "; ".join(sorted(set(parts), key=parts.index))
        except (OSError, ValueError):
            pass
    return "%-9s behavior=%s close=%s code=%s%s" % (
        cid, res.get("behavior"), res.get("behaviorClose"), res.get("remoteCloseCode"),
        (": " + text) if text else "")


def summarize_agent(agent, results, report_dir, strict, expected, gate=False):
    ids = sorted(results, key=case_key)
    print("agent '%s': %d cases" % (agent, len(ids)))
    print(counts_line("behavior", [results[c].get("behavior") for c in ids]))
    print(counts_line("behaviorClose", [results[c].get("behaviorClose") for c in ids]))

    failed, skipped, notes = [], [], {}
    for cid in ids:
        r = results[cid]
        b, bc = r.get("behavior"), r.get("behaviorClose")
        if b == "FAILED" or bc in FAILING_CLOSE:
            failed.append(cid)
        elif gate and (b not in GATE_OK or bc not in GATE_OK):
            failed.append(cid)
        elif b == "UNIMPLEMENTED" or bc == "UNIMPLEMENTED":
            (failed if strict else skipped).append(cid)
        for v in {str(b), str(bc)} - {"OK", "FAILED", "UNIMPLEMENTED"}:
            notes.setdefault(v, []).append(cid)
    missing = [c for c in (expected or []) if c not in results]

    for v in sorted(notes):
        print("  %s:" % v)
        print(wrap(compact(notes[v], ids), "    "))
    if skipped:
        print("  UNIMPLEMENTED (skipped; AUTOBAHN_STRICT=1 makes them fail):")
        print(wrap(compact(skipped, ids), "    "))
    if missing:
        print("  MISSING from the report (not run / run aborted): %d" % len(missing))
        print(wrap(compact(missing, expected), "    "))
    if failed:
        print("  FAILED cases (%d):" % len(failed))
        for cid in failed:
            print("    " + case_detail(report_dir, agent, cid, results[cid]))
    n_failed = len(failed) + len(missing)
    n_skipped = len(skipped)
    n_passed = len(ids) - len(failed) - n_skipped
    return n_passed, n_failed, n_skipped


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("path")
    ap.add_argument("--agent")
    ap.add_argument("--strict", action="store_true",
                    default=os.environ.get("AUTOBAHN_STRICT", "") not in ("", "0"))
    ap.add_argument("--log")
    ap.add_argument("--gate", action="store_true",
                    default=os.environ.get("AUTOBAHN_GATE", "") not in ("", "0"),
                    help="only OK and INFORMATIONAL pass, in both the behavior and the close "
                         "column (also: AUTOBAHN_GATE=1); NON-STRICT, WRONG CODE and "
                         "UNIMPLEMENTED fail")
    args = ap.parse_args()

    path = args.path
    if os.path.isdir(path):
        path = os.path.join(path, "index.json")
    try:
        with open(path) as f:
            index = json.load(f)
    except (OSError, ValueError) as e:
        print("summarize: no usable report at %s: %s" % (path, e), file=sys.stderr)
        return 2
    report_dir = os.path.dirname(os.path.abspath(path))

    agents = sorted(index)
    if args.agent:
        if args.agent not in index:
            print("summarize: agent '%s' not in %s (agents: %s)"
                  % (args.agent, path, ", ".join(agents) or "none"), file=sys.stderr)
            return 2
        agents = [args.agent]
    if not agents or not any(index[a] for a in agents):
        print("summarize: %s holds no test results" % path, file=sys.stderr)
        return 2

    expected = expected_cases(args.log) if args.log else None
    print("Autobahn|TestSuite summary: %s" % path)
    total = [0, 0, 0]
    for agent in agents:
        p, f, s = summarize_agent(agent, index[agent], report_dir, args.strict, expected, args.gate)
        total = [total[0] + p, total[1] + f, total[2] + s]
    html = os.path.join(report_dir, "index.html")
    if os.path.exists(html):
        print("HTML report: %s" % html)
    print("RESULT: %s" % ("FAIL" if total[1] else "PASS"))
    print("autobahn: %d passed, %d failed, %d skipped" % tuple(total))
    return 1 if total[1] else 0


if __name__ == "__main__":
    sys.exit(main())
