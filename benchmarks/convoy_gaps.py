"""The pipeline backtested with plate_convoy_partners at other gaps, and without it.

Same worlds, origins and budgets as benchmarks/quality.py (its cached worlds under
``--work``); for each world the features are computed again with the convoy gap set to
10, 5 and 2 minutes, then once more at 10 minutes with the feature left out of the
model. Prints the true recall at 1% and 2% of outbound traffic, and the share of
outbound rows with at least one convoy partner.

    .venv/bin/python benchmarks/convoy_gaps.py --variants convoy-rings base --seeds 1 2
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

#: (gap in minutes, features left out of the model)
RUNS = ((10, ()), (5, ()), (2, ()), (10, ("plate_convoy_partners",)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["convoy-rings", "base"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--work", type=Path, default=Path("/tmp/southbound-quality"))
    args = parser.parse_args()
    spec = next(h for h in features.HISTORY if h.name == "plate_convoy_partners")
    config = BacktestConfig(origins=ORIGINS, horizon_days=HORIZON, step_days=STEP,
                            budgets=BUDGETS)
    for variant in args.variants:
        for seed in args.seeds:
            log, truth_path = world(variant, seed, args.work)
            frame = read_log(log).frame
            truth = pd.read_csv(truth_path, dtype={"crossing_id": str})
            for gap, exclude in RUNS:
                # the spec is frozen: this run's features only, in this process only
                object.__setattr__(spec, "window_us", gap * 60 * 1_000_000)
                started = time.perf_counter()
                prep = Prepared(frame, truth)
                result = backtest(frame, None, config, TrainConfig(exclude=exclude),
                                  progress=lambda message: None, prepared=prep)
                recall = [np.mean([o["budgets"][i]["true_recall"] for o in result["origins"]])
                          for i in range(len(BUDGETS))]
                partnered = float((prep.feats[spec.name] > 0).mean())
                print(f"{variant} seed {seed} gap {gap:>2} min{' (left out)' if exclude else ''}"
                      f": true recall @1% {recall[0]:.3f} @2% {recall[1]:.3f}; rows with a "
                      f"partner {partnered:.3f} ({time.perf_counter() - started:.0f} s)",
                      flush=True)


if __name__ == "__main__":
    main()
