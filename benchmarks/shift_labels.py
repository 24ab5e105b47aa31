"""Where the tactics-shift gap comes from: the same pipeline under four labellings.

    .venv/bin/python benchmarks/shift_labels.py [--seeds 1 2 3] [--out x.json]

On the ``tactics-shift`` worlds of ``benchmarks/quality.py`` (same days, scale, seeds,
origins and horizon; the cached worlds are reused), Southbound's pipeline is trained
before each origin on four versions of the same outbound rows and graded on the true
recall of the 30 days after it:

- ``observed``: the log's own labels (Southbound as graded in quality.py);
- ``every carrier``: every outbound row labelled with its truth (quality.py's limit);
- ``every carrier before the shift``: the truth before the tactics change, the log's
  own labels after it;
- ``every carrier after the shift``: the log's own labels before, the truth after.

If the first and third agree and the second and fourth agree, the gap between
Southbound and its limit is the labels of the new tactics, which the legacy policy
of the log did not produce; no choice of features or training on that log closes it.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.quality import DAYS, HORIZON, ORIGINS, SEEDS, STEP, world  # noqa: E402
from scoring.contract import read_log  # noqa: E402
from scoring.features import DAY_US, FEATURES  # noqa: E402
from training.backtest import BacktestConfig, Prepared, grade_horizon, origins_for  # noqa: E402
from training.fit import TrainConfig, fit_features  # noqa: E402
from training.world.variants import get_variant  # noqa: E402

LABELLINGS = ("observed", "every carrier", "every carrier before the shift",
              "every carrier after the shift")


def relabel(prep, truthful):
    """The outbound rows with the rows of ``truthful`` labelled by the truth."""
    out = prep.outbound.copy()
    carriers = prep.carriers.astype(float)
    out.loc[truthful, "inspected"] = 1.0
    out.loc[truthful, "seizure"] = carriers[truthful]
    out.loc[truthful, "selection_probability"] = 1.0
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", nargs="*", type=int, default=list(SEEDS))
    ap.add_argument("--work", type=Path, default=Path("/tmp/southbound-quality"))
    ap.add_argument("--out", type=Path)
    opts = ap.parse_args()
    shift_day = round(get_variant("tactics-shift").tactics.at * DAYS)
    config = BacktestConfig(origins=ORIGINS, horizon_days=HORIZON, step_days=STEP,
                            budgets=(0.01, 0.02))
    results = {}
    for seed in opts.seeds:
        log, truth_path = world("tactics-shift", seed, opts.work)
        frame = read_log(log).frame
        prep = Prepared(frame, pd.read_csv(truth_path, dtype={"crossing_id": str}))
        start = (pd.Timestamp(pd.Timestamp(prep.times.min(), unit="us").date())
                 .value // 1000)
        # the shift's day at the ports' local midnight is within hours of this UTC one
        after = prep.times >= start + shift_day * DAY_US
        labellings = {"observed": prep.outbound,
                      "every carrier": relabel(prep, np.ones(len(after), bool)),
                      "every carrier before the shift": relabel(prep, ~after),
                      "every carrier after the shift": relabel(prep, after)}
        for origin in origins_for(prep.times, config):
            before = prep.times < origin
            horizon = (prep.times >= origin) & (prep.times < origin + HORIZON * DAY_US)
            day = pd.Timestamp(origin, unit="us").strftime("%Y-%m-%d")
            for name, outbound in labellings.items():
                model, _ = fit_features(outbound.loc[before], prep.feats.loc[before],
                                        replace(TrainConfig(), until=origin))
                scores = model.predict_proba(prep.feats.loc[horizon, list(FEATURES)])[:, 1]
                rows = grade_horizon(scores, prep.outbound.loc[horizon], prep.feats.loc[horizon],
                                     prep.carriers[horizon], config.budgets)
                results.setdefault(name, []).append(
                    {"seed": seed, "origin": day, **{f"true_recall@{r['budget']:g}":
                                                     r["true_recall"] for r in rows}})
                print(f"seed {seed} origin {day} {name:<32} "
                      + " ".join(f"{r['budget']:.0%} {r['true_recall']:.3f}" for r in rows),
                      flush=True)
    print("\n| labels | true recall @1% | @2% | runs |\n|---|---|---|---|")
    for name in LABELLINGS:
        runs = results.get(name, [])
        one = [r["true_recall@0.01"] for r in runs]
        two = [r["true_recall@0.02"] for r in runs]
        print(f"| {name} | {np.mean(one):.3f} ± {np.std(one):.3f} | "
              f"{np.mean(two):.3f} ± {np.std(two):.3f} | {len(runs)} |")
    if opts.out:
        opts.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
