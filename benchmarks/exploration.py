"""What an exploration share buys over weeks: closed-loop simulation on the generator's variants.

    .venv/bin/python benchmarks/exploration.py [--variants ...] [--seed 1] [--out JSON]
                                               [--write-readme]
    .venv/bin/python benchmarks/exploration.py --merge a.json b.json [--write-readme]

For each variant: a world of ``DAYS`` days at ``SCALE`` (the scale of the quality
benchmark, where 90 days hold some 100-300 seizures); the first model is trained on
its first ``TRAIN_DAYS`` days, then ``training.simulate`` runs every policy of
``POLICIES`` side by side for ``WEEKS`` weeks (weekly retrains, detection 85%, the
same random draws for every policy). Every policy inspects the same share: the
model's 2% capacity plus 2% picked otherwise, split between the uniform random share
and exploration; so a difference is what the split buys, not more inspections.

Figures per policy: true carriers caught per week over weeks 1-4 and 9-12, seizures
in all, and the true recall at capacity of the model in use over the last 4 weeks
(how well the policy's own labels taught it to rank). The default of
``scoring.policy.PolicyConfig`` is chosen from this table (see benchmarks/README.md).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.readme_block import write_block  # noqa: E402

from scoring.contract import read_log  # noqa: E402
from scoring.features import DAY_US  # noqa: E402
from scoring.policy import PolicyConfig  # noqa: E402
from training.simulate import SimConfig, simulate  # noqa: E402

#: fixed before anything was run, not changed after
TRAIN_DAYS, WEEKS, SCALE, SEED = 90, 12, 0.015, 1
DAYS = TRAIN_DAYS + 7 * WEEKS
#: utc-export is left out: its features (local time from the port's zone) are base's,
#: column for column, so its simulation is base's
SKIP = ("utc-export",)
POLICIES = {
    "random 2%": PolicyConfig(random_share=0.02, explore_share=0.0),
    "random 1% + explore 1%": PolicyConfig(random_share=0.01, explore_share=0.01),
    "random 1% + explore 1%, no cell cue": PolicyConfig(random_share=0.01, explore_share=0.01,
                                                        explore_sparse_cell=0.0),
    "random 0.5% + explore 1.5%": PolicyConfig(random_share=0.005, explore_share=0.015),
}
README_START, README_END = "<!-- exploration:start -->", "<!-- exploration:end -->"


def variants():
    from training.synth import VARIANTS
    return tuple(v for v in VARIANTS if v not in SKIP)


def world(variant, seed, work):
    """The cached world of one variant and seed, ``DAYS`` long: (log path, truth path)."""
    from benchmarks.quality import world as cached_world
    return cached_world(variant, seed, work, DAYS, SCALE, f"-{DAYS}d")


def run_variant(variant, seed, work, progress):
    log, truth = world(variant, seed, work)
    frame = read_log(log).frame
    start = int(frame["crossed_at"].min()) // DAY_US * DAY_US + TRAIN_DAYS * DAY_US
    truth_frame = pd.read_csv(truth, dtype={"crossing_id": str})
    began = time.perf_counter()
    result = simulate(frame, truth_frame, POLICIES, SimConfig(start_us=start, seed=seed),
                      progress=lambda m: progress(f"{variant}: {m}"))
    result["seconds"] = round(time.perf_counter() - began, 1)
    return result


def weekly(figures, first, last):
    weeks = [w for w in figures["weeks"] if first <= w["week"] <= last]
    return float(np.mean([w["carriers_caught"] for w in weeks])) if weeks else float("nan")


def summary(result):
    """Per policy (and the legacy one): the figures of the table."""
    rows = {}
    for name, f in list(result["policies"].items()) + [("legacy (the log's own)",
                                                         result["legacy"])]:
        model = f.get("model_recall_last_weeks") or {}
        rows[name] = {"weeks 1-4": weekly(f, 1, 4), "weeks 9-12": weekly(f, 9, 12),
                      "seizures": f["total"]["seizures"],
                      "inspected": f["total"]["inspected"],
                      "recall": f["total"]["recall"],
                      "model recall, last 4 weeks": model.get("recall", float("nan"))}
    return rows


def table(results):
    names = list(POLICIES) + ["legacy (the log's own)"]
    lines = ["| variant | policy | inspected | carriers caught / week, weeks 1-4 | weeks 9-12 "
             "| seizures, 12 weeks | true recall, 12 weeks | model's recall at capacity, "
             "weeks 9-12 |", "|---|---|---|---|---|---|---|---|"]
    means = {n: [] for n in names}
    for variant, result in results.items():
        rows = summary(result)
        for name in names:
            r = rows[name]
            means[name].append(r)
            lines.append(f"| {variant} | {name} | {r['inspected']:,} | {r['weeks 1-4']:.1f} | "
                         f"{r['weeks 9-12']:.1f} | {r['seizures']} | {r['recall']:.3f} | "
                         + (f"{r['model recall, last 4 weeks']:.3f} |"
                            if name in POLICIES else "- |"))
    for name in names:
        rs = means[name]
        if not rs:
            continue
        avg = {k: float(np.mean([r[k] for r in rs])) for k in rs[0]}
        lines.append(f"| **mean of {len(rs)}** | {name} | {avg['inspected']:,.0f} | "
                     f"{avg['weeks 1-4']:.1f} | {avg['weeks 9-12']:.1f} | "
                     f"{avg['seizures']:.1f} | {avg['recall']:.3f} | "
                     + (f"{avg['model recall, last 4 weeks']:.3f} |"
                        if name in POLICIES else "- |"))
    return "\n".join(lines)


def write_readme(text):
    write_block(text, README_START, README_END)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="*", help="default: every variant but " + ", ".join(SKIP))
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--work", type=Path, default=Path("/tmp/southbound-exploration"))
    ap.add_argument("--out", type=Path, help="write every simulation as JSON here")
    ap.add_argument("--write-readme", action="store_true")
    ap.add_argument("--merge", nargs="+", type=Path, metavar="JSON",
                    help="run nothing: build the table from earlier --out files")
    args = ap.parse_args()
    results = {}
    if args.merge:
        for path in args.merge:
            results.update(json.loads(path.read_text()))
    else:
        for variant in args.variants or variants():
            results[variant] = run_variant(variant, args.seed, args.work,
                                           lambda m: print(m, file=sys.stderr, flush=True))
            if args.out:  # after each world: a stopped run keeps what it finished
                args.out.write_text(json.dumps(results, indent=1, default=float))
    text = table(results)
    print(text)
    if args.write_readme:
        write_readme(text)


if __name__ == "__main__":
    main()
