"""Coverage of `southbound compare`'s 95% intervals on simulated shadow periods.

A generated world, a champion and a challenger trained on its days before the shadow
window, both scoring the window; then, per repetition, the champion's referral
policy decides every crossing with fresh draws, secondary finds what the truth file
holds, and `training.compare.compare` estimates each model's catch and their
difference. Coverage is the share of repetitions whose interval holds the true
value (known from the truth file). Prints one markdown table per setting.

    .venv/bin/python benchmarks/compare_coverage.py [--repetitions 200] [--days 60]
        [--scale 0.004] [--window-days 30]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import pandas as pd  # noqa: E402

from scoring.contract import read_log  # noqa: E402
from scoring.features import DAY_US  # noqa: E402
from scoring.policy import PolicyConfig  # noqa: E402
from training.fit import TrainConfig, train  # noqa: E402
from training.shadow_sim import CHECKED, coverage, score_window  # noqa: E402
from training.synth import WorldConfig, generate_world, write_world  # noqa: E402

#: (name, the service's policy over the shadow period, the capacity the lists are drawn at)
SETTINGS = (
    ("service defaults (capacity 2%, random 1%, exploration 1%), lists at 2%",
     PolicyConfig(), 0.02),
    ("capacity 1%, random 50%, exploration 10%, lists at 5%",
     PolicyConfig(default_capacity=0.01, random_share=0.5, explore_share=0.1), 0.05),
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=200)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--scale", type=float, default=0.004)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--window-days", type=int, default=30)
    args = parser.parse_args()
    started = time.perf_counter()
    log, truth = generate_world(WorldConfig(days=args.days, seed=args.seed, scale=args.scale))
    paths = write_world(log, truth, os.path.join(tempfile.mkdtemp(), "world.csv"))
    frame = read_log(paths[0]).frame
    truth = pd.read_csv(paths[1], dtype={"crossing_id": str})
    times = frame["crossed_at"].to_numpy("int64")
    start = int(times.max()) - args.window_days * DAY_US
    quiet = lambda message: None  # noqa: E731
    champion, manifest = train(frame[times < start], progress=quiet)
    challenger, _ = train(frame[times < start],
                          TrainConfig(exclude=("plate_prior_seizures",), seed=5), progress=quiet)
    window = score_window(frame, truth, champion, challenger, start)
    print(f"world: {args.days} days, scale {args.scale}, seed {args.seed}; shadow window: the "
          f"last {args.window_days} days, {len(window):,} outbound crossings, "
          f"{int(window.carrier.sum())} carriers; {args.repetitions} repetitions each "
          f"(set-up {time.perf_counter() - started:.0f} s)\n")
    for name, config, lists in SETTINGS:
        t = time.perf_counter()
        out = coverage(window, manifest, args.repetitions, config,
                       capacity_of=lambda port, share=lists: share,
                       progress=lambda m: print(m, file=sys.stderr))
        print(f"**{name}** (true catch: champion {out['truth']['champion']}, challenger "
              f"{out['truth']['challenger']}, difference {out['truth']['difference']:+d}; "
              f"{out['insufficient']} repetitions insufficient; "
              f"{time.perf_counter() - t:.0f} s)\n")
        print("| estimate | figure | coverage | missed below / above | mean estimate "
              "| sd over repetitions | median width |")
        print("|---|---|---|---|---|---|---|")
        for method in ("ipw", "dr"):
            for figure in CHECKED:
                v = out[method][figure]
                print(f"| {method.upper()} | {figure} | {v['coverage']:.1%} "
                      f"({v['covered']}/{args.repetitions - out['insufficient']}) | "
                      f"{v['below']} / {v['above']} | {v['mean_estimate']:.1f} | "
                      f"{v['sd_estimate']:.2f} | {v['median_width']:.1f} |")
        print()


if __name__ == "__main__":
    main()
