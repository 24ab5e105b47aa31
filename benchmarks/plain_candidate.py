"""Does a log's own estimate rank the pipeline and its plain candidate as the truth does?

    .venv/bin/southbound backtest --data LOG --truth TRUTH --out NAME.json [...]
    .venv/bin/python benchmarks/plain_candidate.py NAME.json [...]
    .venv/bin/python benchmarks/plain_candidate.py --control LOG TRUTH OUT.json


Reads ``southbound backtest --out`` files of logs with a truth (the backtest runs the plain
candidate unless ``--no-plain``) and prints, per log, origin and budget, the difference
in recall (pipeline - plain) the log's inspections estimate, with its paired 95%
interval (and the doubly robust difference, which the verdict does not use), beside the
true difference; then the pooled row with the verdict, and whether the verdict agrees
with the truth's sign (``cannot tell`` abstains). Markdown, for benchmarks/README.md.

``--control`` backtests a pipeline the truth should put behind its plain candidate: the
context features only, against the plain candidate of the default pipeline.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def points(x):
    return f"{100 * x:+.1f}" if x is not None and math.isfinite(x) else "-"


def agrees(verdict, truth):
    """Whether a verdict matches the truth's sign: yes, no, or abstained."""
    if verdict == "cannot tell":
        return "abstains"
    return "yes" if (truth > 0) == (verdict == "better") else "no"


def rows(name, result):
    plain = result["plain"]
    out = []
    for origin in plain["origins"]:
        for b in origin["budgets"]:
            lo, hi = b["difference_ci"]
            inside = lo <= b["true_difference"] <= hi
            out.append(f"| {name} | {origin['origin']} | {b['budget']:.0%} | "
                       f"{points(b['difference'])} [{points(lo)}, {points(hi)}] | "
                       f"{points(b['dr_difference'])} | "
                       f"{points(b['true_difference'])} | {'yes' if inside else 'no'} | "
                       f"{b['differ']:,} / {b['seizures_where_lists_differ']} | |")
    for s in plain["summary"]:
        lo, hi = s["difference_ci"]
        inside = lo <= s["true_difference"] <= hi
        dlo, dhi = s["dr_difference_ci"]
        out.append(f"| **{name}** | pooled ({s['origins']}) | {s['budget']:.0%} | "
                   f"**{points(s['difference'])} [{points(lo)}, {points(hi)}]** | "
                   f"{points(s['dr_difference'])} [{points(dlo)}, {points(dhi)}] | "
                   f"**{points(s['true_difference'])}** | {'yes' if inside else 'no'} | | "
                   f"{s['verdict']}: {agrees(s['verdict'], s['true_difference'])} |")
    return out


def control(log, truth, out):
    """The context-only pipeline against the default pipeline's plain candidate."""
    import pandas as pd
    from models.registry import json_safe
    from scoring.contract import read_log
    from scoring.features import CONTEXT, FEATURES
    from training.backtest import BacktestConfig, backtest, format_backtest
    from training.config import DEFAULT_EXCLUDED, TrainConfig, plain_candidate
    context = {name for name, _, _ in CONTEXT}
    worse = TrainConfig(exclude=tuple(f for f in FEATURES if f not in context)
                        + DEFAULT_EXCLUDED)
    carriers = pd.read_csv(truth, dtype={"crossing_id": str})[["crossing_id", "carrier"]]
    result = backtest(read_log(log).frame, carriers, BacktestConfig(origins=2, step_days=15),
                      worse, plain=plain_candidate(TrainConfig()))
    print(format_backtest(result))
    Path(out).write_text(json.dumps(json_safe(result), default=float))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="*", type=Path)
    parser.add_argument("--control", nargs=3, metavar=("LOG", "TRUTH", "OUT"))
    args = parser.parse_args(argv)
    if args.control:
        control(*args.control)
        return
    print("| log | origin | budget | estimated difference, points [95%] | doubly robust | "
          "true difference | "
          "truth in interval | crossings in one list only / their labelled seizures | "
          "verdict: agrees with the truth |")
    print("|---|---|---|---|---|---|---|---|---|")
    for path in args.results:
        for line in rows(path.stem, json.loads(path.read_text())):
            print(line)


if __name__ == "__main__":
    main()
