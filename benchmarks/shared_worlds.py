"""Ranking quality on the crossing logs made by others (``../shared/worlds/``).

    .venv/bin/python benchmarks/shared_worlds.py [--worlds a b c] [--seeds 1 2 3]
                                                 [--work DIR] [--out JSON] [--write-readme]

Each world is run and graded its own way, as its README says: ``world_X.py OUT --seed S``
writes ``train.csv`` (the first 90 days, with outcomes), ``full.csv`` (120 days, the
last 30 without outcomes), ``truth.csv`` and ``truth_train.csv``; every scorer trains on
``train.csv``, scores ``full.csv`` whole, and ``grade.py`` grades the last 30 days (true
recall and hit rate when 1% and 2% of them are inspected). Three scorers, in the same run
on the same files:

- ``baseline``: ``../shared/baseline/plain_baseline.py --train train.csv --score full.csv``,
  called as its README says (not copied, not tuned);
- ``southbound``: ``southbound train --data train.csv`` then ``southbound score --data
  full.csv``, the commands at their defaults;
- ``every-carrier``: Southbound's pipeline at its defaults trained on every outbound row of
  ``train.csv`` with its true label from ``truth_train.csv`` (history features from the
  log's own outcomes, as ``backtest --every-carrier-labelled`` does): what the features
  and the training can reach whatever the labels.

Worlds and the baseline's scores are cached under ``--work`` (the generators and the
baseline do not change); Southbound is rerun every time. The generators, the baseline and
the grader are called from ``../shared``, never copied.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
WORLDS = SHARED / "worlds"
BASELINE = SHARED / "baseline" / "plain_baseline.py"
SEEDS = (1, 2, 3)
SCORERS = ("baseline", "southbound", "every-carrier")
#: the issue's last column at 1%: a plain model, every carrier labelled (seed 7)
PLAIN_LIMIT = {"a": 0.346, "b": 0.712, "c": 0.620}
README_START, README_END = "<!-- shared-worlds:start -->", "<!-- shared-worlds:end -->"


def world(name, seed, work):
    """The folder of world ``name`` at ``seed``, generated once."""
    folder = work / f"world-{name}-{seed}"
    if not (folder / "truth_train.csv").exists():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(WORLDS / f"world_{name}.py"), str(folder),
                        "--seed", str(seed)], check=True, stdout=subprocess.DEVNULL)
    return folder


def grade(folder, scores):
    """``grade.py``'s figures for one scores file."""
    out = subprocess.run([sys.executable, str(WORLDS / "grade.py"), str(folder), str(scores),
                          "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def baseline(folder):
    scores = folder / "baseline.csv"
    if not scores.exists():
        subprocess.run([sys.executable, str(BASELINE), "--train", str(folder / "train.csv"),
                        "--score", str(folder / "full.csv"), "--out",
                        str(scores.with_suffix(".tmp"))], check=True)
        scores.with_suffix(".tmp").rename(scores)
    return scores


def southbound(folder, work, sb):
    """Train and score with the commands at their defaults; the scores file."""
    env = dict(os.environ, SOUTHBOUND_VAR=str(work / "var"))
    subprocess.run([sb, "keys", "create", "--if-missing"], env=env, check=True,
                   capture_output=True)
    registry = folder / "registry"
    shutil.rmtree(registry, ignore_errors=True)
    for args in (["train", "--data", str(folder / "train.csv"), "--registry", str(registry),
                  "--promote"],
                 ["score", "--data", str(folder / "full.csv"), "--registry", str(registry),
                  "--out", str(folder / "southbound.csv")]):
        done = subprocess.run([sb, *args], env=env, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"southbound {args[0]} failed on {folder}:\n{done.stderr}")
    return folder / "southbound.csv"


def every_carrier(folder):
    """The pipeline at its defaults trained with every outbound row truly labelled."""
    from scoring.features import FEATURES
    from training.backtest import Prepared
    from training.fit import TrainConfig, fit_features, read_logs
    frame, _ = read_logs([folder / "train.csv"])
    truth = pd.read_csv(folder / "truth_train.csv", dtype={"crossing_id": str})
    prep = Prepared(frame, truth.rename(columns={"carrying": "carrier"}))
    model, _ = fit_features(prep.every_carrier_labelled(), prep.feats, TrainConfig(),
                            rows=len(prep.frame))
    full, _ = read_logs([folder / "full.csv"])
    scored = Prepared(full)
    risk = model.predict_proba(scored.feats[list(FEATURES)])[:, 1]
    out = folder / "every-carrier.csv"
    pd.DataFrame({"crossing_id": scored.outbound["crossing_id"].to_numpy(),
                  "risk_score": risk}).to_csv(out, index=False)
    return out


def run(names, seeds, work, sb, scorers=SCORERS, progress=print, save=None):
    """Every (world, seed): each scorer's grade. ``save(results)`` after each."""
    results = {}
    for name in names:
        for seed in seeds:
            started = time.perf_counter()
            folder = world(name, seed, work)
            train = pd.read_csv(folder / "train.csv", usecols=["direction", "seizure"],
                                dtype=str, keep_default_na=False)
            entry = {"seizures": int(((train["direction"] == "outbound")
                                      & train["seizure"].str.lower().isin(("1", "true", "1.0"))
                                      ).sum())}
            for scorer in scorers:
                path = {"baseline": baseline, "every-carrier": every_carrier,
                        "southbound": lambda f: southbound(f, work, sb)}[scorer](folder)
                entry[scorer] = grade(folder, path)
            results[f"{name}/{seed}"] = entry
            if save:
                save(results)
            progress(f"world {name} seed {seed} ({time.perf_counter() - started:.0f} s, "
                     f"{entry['seizures']} seizures in train.csv): " + ", ".join(
                         f"{s} {entry[s]['recall@1%']:.3f}/{entry[s]['recall@2%']:.3f}"
                         for s in scorers))
    return results


def table(results):
    """Markdown: per world, mean ± sd over seeds of true recall at 1% / 2%, and the ratios
    the issue's done-when names."""
    by_world = {}
    for key, entry in results.items():
        by_world.setdefault(key.split("/")[0], []).append(entry)
    head = ["world", "seeds", "seizures in train.csv"] + [
        f"{s} @{b}" for b in ("1%", "2%") for s in SCORERS] + [
        "ratio @1%", "ratio @2%", "every-carrier / plain limit @1%"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, entries in sorted(by_world.items()):
        cells = [name, str(len(entries)), f"{np.mean([e['seizures'] for e in entries]):.0f}"]
        mean = {}
        for b in ("1%", "2%"):
            for s in SCORERS:
                values = [e[s][f"recall@{b}"] for e in entries if s in e]
                mean[s, b] = np.mean(values) if values else np.nan
                sd = np.std(values, ddof=1) if len(values) > 1 else 0.0
                cells.append("-" if not values else
                             f"{mean[s, b]:.3f} ± {sd:.3f}" if len(values) == len(entries) else
                             f"{mean[s, b]:.3f} ({len(values)} of {len(entries)} seeds)")
        for b in ("1%", "2%"):
            ratio = mean["southbound", b] / mean["baseline", b]
            cells.append(f"{ratio:.2f}x" if np.isfinite(ratio) else "-")
        limit = PLAIN_LIMIT.get(name)
        ceiling = mean["every-carrier", "1%"]
        cells.append(f"{ceiling / limit:.2f}x" if limit and np.isfinite(ceiling) else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worlds", nargs="+", default=["a", "b", "c"])
    ap.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    ap.add_argument("--scorers", nargs="+", choices=SCORERS, default=list(SCORERS))
    ap.add_argument("--work", type=Path, default=Path("/tmp/southbound-shared-worlds"))
    ap.add_argument("--sb", default=str(Path(sys.executable).with_name("southbound")),
                    help="the southbound command under test")
    ap.add_argument("--out", type=Path, help="every figure as JSON")
    ap.add_argument("--merge", nargs="+", type=Path, metavar="JSON",
                    help="run nothing: the table of earlier --out files (a world and seed "
                         "in several files gets each file's scorers; a later file's "
                         "figures of the same scorer win)")
    ap.add_argument("--write-readme", action="store_true")
    args = ap.parse_args()
    if args.merge:
        results = {}
        for path in args.merge:
            for key, entry in json.loads(path.read_text()).items():
                results.setdefault(key, {}).update(entry)
    else:
        missing = [p for p in (WORLDS, BASELINE) if not p.exists()]
        if missing:
            sys.exit(f"error: {missing[0]} is missing (the shared material beside the repo)")
        args.work.mkdir(parents=True, exist_ok=True)
        save = ((lambda r: args.out.write_text(json.dumps(r, indent=1))) if args.out else None)
        results = run(args.worlds, args.seeds, args.work, args.sb, args.scorers,
                      lambda m: print(m, file=sys.stderr, flush=True), save)
    text = table(results)
    print(text)
    if args.write_readme:
        from benchmarks.readme_block import write_block
        write_block(text, README_START, README_END)


if __name__ == "__main__":
    main()
