"""Ranking quality by backtest on every generated variant, against the plain baseline.

    .venv/bin/python benchmarks/quality.py [--seeds 1 2 3] [--variants ...]
                                           [--candidates] [--out JSON] [--write-readme]
    .venv/bin/python benchmarks/quality.py --merge a.json b.json [--write-readme]

For each variant of the generator and each seed: a world of ``DAYS`` days at
``SCALE`` (a 90-day log then holds some 100-300 seizures); a rolling-origin
backtest (``ORIGINS`` origins ``STEP`` days apart, each grading the ``HORIZON``
days after it; the first origin trains on about 90 days) of

- the plain baseline, ``../shared/baseline/plain_baseline.py``, called as its
  README says (not copied, not tuned), trained before each origin;
- Southbound's pipeline with its defaults (``training.fit.TrainConfig()``);
- the same pipeline trained with every outbound row labelled with its truth (the
  limit of the features and training, whatever the labels);
- with ``--candidates``, every pipeline of ``CANDIDATES`` (how the defaults were
  chosen: the default is the candidate with the best mean true recall at 1% over
  every variant, seed and origin).

Each scorer is graded the same way (``training.backtest.grade_horizon``): true recall
when 1% and 2% of the horizon's outbound crossings are inspected. Worlds and baseline
scores are cached under ``--work`` (default /tmp/southbound-quality), so a rerun
redoes only Southbound. The table goes to stdout, and with ``--write-readme`` into
``benchmarks/README.md`` between its quality markers; JSON to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
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
from training.backtest import (BacktestConfig, Prepared, backtest, grade_horizon,  # noqa: E402
                               origins_for, summarize)
from training.fit import TrainConfig  # noqa: E402

#: fixed before anything was tuned, not changed after
DAYS, SCALE = 135, 0.015
ORIGINS, STEP, HORIZON = 2, 15, 30
SEEDS = (1, 2, 3)
BUDGETS = (0.01, 0.02)
#: the pipelines compared when choosing the defaults (TrainConfig keyword arguments)
CANDIDATES = {
    "holdout": dict(calibration="holdout", half_life_days=None),
    "crossfit": dict(calibration="crossfit", half_life_days=None),
    "crossfit-hl30": dict(calibration="crossfit", half_life_days=30.0),
    "crossfit-hl30-unweighted": dict(calibration="crossfit", half_life_days=30.0,
                                     weighting="none"),
    "crossfit-hl30-monotone": dict(calibration="crossfit", half_life_days=30.0,
                                   increasing=("plate_prior_seizures", "carrier_prior_seizures")),
    "crossfit-hl30-folds-trees": dict(calibration="crossfit", half_life_days=30.0,
                                      trees="from-folds"),
}
README_START, README_END = "<!-- quality:start -->", "<!-- quality:end -->"


def variants():
    try:
        from training.synth import VARIANTS
    except ImportError:  # a generator without variants: its one world
        return ("base",)
    return tuple(VARIANTS)


def world(variant, seed, work, days=DAYS, scale=SCALE, suffix=""):
    """The cached world of one variant and seed (in ``work``, its folder named with
    ``suffix``): (log path, truth path)."""
    from training.synth import WorldConfig, generate_world, write_world
    folder = work / f"{variant or 'base'}-{seed}{suffix}"
    log = folder / "world.csv"
    truth = folder / "world.truth.csv"
    if not (log.exists() and truth.exists()):
        folder.mkdir(parents=True, exist_ok=True)
        chosen = {} if variant in ("", "base") else {"variant": variant}
        frames = generate_world(WorldConfig(days=days, seed=seed, scale=scale, **chosen))
        write_world(*frames, log)
    return log, truth


def baseline_scores(script, log, origin, folder):
    """The plain baseline trained on the rows before ``origin``, scores of every outbound row."""
    day = pd.Timestamp(origin, unit="us", tz="UTC").strftime("%Y-%m-%d")
    out = folder / f"baseline-{day}.csv"
    if not out.exists():
        subprocess.run([sys.executable, str(script), "--train", str(log), "--until", day,
                        "--score", str(log), "--out", str(out.with_suffix(".tmp"))], check=True)
        out.with_suffix(".tmp").rename(out)
    return pd.read_csv(out, dtype={"crossing_id": str})


def grade_baseline(prep, script, log, config):
    results = []
    for origin in origins_for(prep.times, config):
        horizon = (prep.times >= origin) & (prep.times < origin + config.horizon_days * DAY_US)
        scores = baseline_scores(script, log, origin, log.parent)
        by_id = scores.set_index("crossing_id")["risk_score"]
        rows = prep.outbound.loc[horizon]
        s = by_id.reindex(rows["crossing_id"]).to_numpy(float)
        results.append({"origin": pd.Timestamp(origin, unit="us", tz="UTC").strftime("%Y-%m-%d"),
                        "budgets": grade_horizon(np.nan_to_num(s, nan=-1.0), rows,
                                                 prep.feats.loc[horizon],
                                                 prep.carriers[horizon], config.budgets)})
    return {"origins": results, "summary": summarize(results, config.budgets)}


def true_recalls(result, budget_index):
    return [r["budgets"][budget_index]["true_recall"] for r in result["origins"]
            if "budgets" in r]


def run(variant_names, seeds, work, script, candidates, progress, limit=True, ours=True,
        save=None):
    """Backtest every (variant, seed); ``save(results)`` after each, so a long run that
    stops keeps what it finished."""
    config = BacktestConfig(origins=ORIGINS, horizon_days=HORIZON, step_days=STEP,
                            budgets=BUDGETS)
    pipelines = {"southbound": {}} if ours else {}
    if candidates:
        pipelines.update(CANDIDATES)
    out = {}
    for variant in variant_names:
        for seed in seeds:
            started = time.perf_counter()
            log, truth_path = world(variant, seed, work)
            frame = read_log(log).frame
            truth = pd.read_csv(truth_path, dtype={"crossing_id": str})
            prep = Prepared(frame, truth)
            labelled = (prep.outbound["inspected"].to_numpy(float) == 1)
            seized = prep.outbound["seizure"].to_numpy(float) == 1
            first = origins_for(prep.times, config)[0]
            entry = {"seizures_before_first_origin": int((seized & (prep.times < first)).sum()),
                     "inspected_before_first_origin": int((labelled & (prep.times < first)).sum()),
                     "baseline": grade_baseline(prep, script, log, config)}
            quiet = lambda message: None  # noqa: E731
            for name, kwargs in pipelines.items():
                entry[name] = backtest(frame, None, config, TrainConfig(**kwargs),
                                       progress=quiet, prepared=prep)
            if limit:
                entry["every-carrier"] = backtest(frame, None, config, TrainConfig(),
                                                  progress=quiet, prepared=prep,
                                                  labels="every-carrier")
            out[f"{variant or 'base'}/{seed}"] = entry
            if save is not None:
                save(out)
            progress(f"{variant or 'base'} seed {seed} ({time.perf_counter() - started:.0f} s, "
                     f"{entry['seizures_before_first_origin']} seizures before the first "
                     "origin): " + ", ".join(
                         f"{name} {np.mean(true_recalls(entry[name], 0)):.3f}"
                         for name in ("baseline", *pipelines, "every-carrier") if name in entry))
    return out


def table(results, names):
    """Markdown: per variant, mean ± sd over seeds and origins of true recall at 1% / 2%."""
    by_variant = {}
    for key, entry in results.items():
        by_variant.setdefault(key.split("/")[0], []).append(entry)
    header = ["variant", "seizures in 90 days"] + [f"{n} @1%" for n in names] + [
        f"{n} @2%" for n in names] + ["target"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for variant, entries in by_variant.items():
        cells = [variant, f"{np.mean([e['seizures_before_first_origin'] for e in entries]):.0f}"]
        means = {}
        for b in range(len(BUDGETS)):
            for n in names:
                values = [v for e in entries if n in e for v in true_recalls(e[n], b)]
                means[n, b] = np.mean(values) if values else math.nan
                cells.append(f"{means[n, b]:.3f} ± {np.std(values, ddof=1) if len(values) > 1 else 0:.3f}")
        cells.append(verdict(means.get(("baseline", 0)), means.get(("southbound", 0)),
                             means.get(("every-carrier", 0))))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdict(base, ours, limit):
    """The done-when of issue 11 at 1%: >= 1.25x the baseline (or within 0.03 of the
    every-carrier-labelled figure where 1.25x would exceed it), and >= 0.85x that figure."""
    if any(x is None or not np.isfinite(x) for x in (base, ours, limit)):
        return "-"
    first = ours >= 1.25 * base or (1.25 * base > limit and ours >= limit - 0.03)
    second = ours >= 0.85 * limit
    return ("met" if first and second else
            f"not met ({ours / base:.2f}x baseline, {ours / limit:.2f}x limit)")


def write_readme(text):
    write_block(text, README_START, README_END)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="*", help="default: every variant of the generator")
    ap.add_argument("--seeds", nargs="*", type=int, default=list(SEEDS))
    ap.add_argument("--work", type=Path, default=Path("/tmp/southbound-quality"))
    ap.add_argument("--baseline", type=Path,
                    default=ROOT.parent / "shared" / "baseline" / "plain_baseline.py")
    ap.add_argument("--candidates", action="store_true",
                    help="also backtest every candidate pipeline (how the defaults were chosen)")
    ap.add_argument("--no-limit", action="store_true",
                    help="skip the every-carrier-labelled backtest (the slowest)")
    ap.add_argument("--only-limit", action="store_true",
                    help="only the baseline and the every-carrier-labelled backtest")
    ap.add_argument("--out", type=Path, help="write every figure as JSON here")
    ap.add_argument("--write-readme", action="store_true")
    ap.add_argument("--merge", nargs="+", type=Path, metavar="JSON",
                    help="run nothing: build the table from earlier --out files (runs split "
                         "over processes, one per core)")
    args = ap.parse_args()
    if args.merge:
        results = {}
        for path in args.merge:
            results.update(json.loads(path.read_text()))
        names = [n for n in ("baseline", "southbound", "every-carrier", *CANDIDATES)
                 if any(n in entry for entry in results.values())]
        return _finish(results, names, args)
    if not args.baseline.exists():
        sys.exit(f"error: the plain baseline is not at {args.baseline} (--baseline PATH)")
    names = args.variants or list(variants())
    save = ((lambda partial: args.out.write_text(json.dumps(partial, indent=1, default=float)))
            if args.out else None)
    results = run(names, args.seeds, args.work, args.baseline, args.candidates,
                  lambda m: print(m, file=sys.stderr, flush=True), limit=not args.no_limit,
                  ours=not args.only_limit, save=save)
    columns = ["baseline", "southbound"] + ([] if args.no_limit else ["every-carrier"])
    if args.candidates:
        columns += list(CANDIDATES)
    _finish(results, columns, args)


def _finish(results, names, args):
    """Print the table; write the JSON and the README's table where asked."""
    text = table(results, names)
    print(text)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, default=float))
    if args.write_readme:
        write_readme(text)


if __name__ == "__main__":
    main()
