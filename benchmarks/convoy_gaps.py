"""The pipeline backtested with plate_convoy_partners at other gaps and lookbacks, and
without it.

Same worlds, origins and budgets as benchmarks/quality.py (its cached worlds under
``--work``); for each world the features are computed again for each ``--runs`` entry
(``GAP/LOOKBACK``: the gap in minutes, the lookback in days or ``all`` for the whole
history; ``left-out`` for the feature left out of the model, at the declared
definition). Prints the true recall at 1% and 2% of outbound traffic, and the share of
outbound rows with at least one convoy partner.

    .venv/bin/python benchmarks/convoy_gaps.py --variants convoy-rings base --seeds 1 2 \
        --runs 10/all 10/7 10/2 left-out
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.quality import BUDGETS, HORIZON, ORIGINS, STEP, world  # noqa: E402
from scoring import features  # noqa: E402
from scoring.contract import read_log  # noqa: E402
from training.backtest import BacktestConfig, Prepared, backtest  # noqa: E402
from training.fit import TrainConfig  # noqa: E402


def parse_run(text, spec):
    """``GAP/LOOKBACK`` or ``left-out`` -> (label, window_us, lookback_us, excluded)."""
    if text == "left-out":
        return "feature left out", spec.window_us, spec.lookback_us, (spec.name,)
    gap, lookback = text.split("/")
    days = None if lookback == "all" else float(lookback)
    return (f"gap {gap:>2} min, lookback {lookback + ' d' if days else 'all history'}",
            int(float(gap) * 60 * 1_000_000),
            None if days is None else int(days * 86_400 * 1_000_000), ())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["convoy-rings", "base"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--work", type=Path, default=Path("/tmp/southbound-quality"))
    parser.add_argument("--runs", nargs="+", default=["10/all", "10/7", "left-out"])
    args = parser.parse_args()
    spec = next(h for h in features.HISTORY if h.name == "plate_convoy_partners")
    runs = [parse_run(text, spec) for text in args.runs]
    config = BacktestConfig(origins=ORIGINS, horizon_days=HORIZON, step_days=STEP,
                            budgets=BUDGETS)
    for variant in args.variants:
        for seed in args.seeds:
            log, truth_path = world(variant, seed, args.work)
            frame = read_log(log).frame
            truth = pd.read_csv(truth_path, dtype={"crossing_id": str})
            for label, window, lookback, exclude in runs:
                # the spec is frozen: this run's features only, in this process only
                object.__setattr__(spec, "window_us", window)
                object.__setattr__(spec, "lookback_us", lookback)
                started = time.perf_counter()
                prep = Prepared(frame, truth)
                result = backtest(frame, None, config, TrainConfig(exclude=exclude),
                                  progress=lambda message: None, prepared=prep)
                recall = [np.mean([o["budgets"][i]["true_recall"] for o in result["origins"]])
                          for i in range(len(BUDGETS))]
                partnered = float((prep.feats[spec.name] > 0).mean())
                print(f"{variant} seed {seed} {label}: true recall @1% {recall[0]:.3f} @2% {recall[1]:.3f}; rows with a "
                      f"partner {partnered:.3f} ({time.perf_counter() - started:.0f} s)",
                      flush=True)


if __name__ == "__main__":
    main()
