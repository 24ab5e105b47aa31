"""Screen a change to training on the crossing logs made by others, in one process.

    .venv/bin/python benchmarks/screen.py WORLD_DIR [WORLD_DIR ...] [--variant SPEC ...]
                                          [--out JSON]

Each WORLD_DIR is a folder a generator of ``../shared/worlds/`` wrote (``train.csv``,
``full.csv``, ``truth.csv``). The features of ``full.csv`` are computed once and cached
beside it (``screen-*.parquet``, per version of the feature code: a row's features see
only earlier rows, so the rows of the first 90 days have the features ``train.csv`` would
give them); every variant is then
fitted on the outbound rows of ``train.csv`` by :func:`training.fit.fit_features`, the
same fit as ``southbound train``, scores every outbound row of ``full.csv`` and is graded
by the world's own ``grade.py`` (true recall of the last 30 days at 1% and 2%).

A screen is quick (minutes per world) and in-process; what lands is judged by
``benchmarks/shared_worlds.py`` and ``benchmarks/quality.py`` through the commands.

Variant specs (joined with ``+``):

- ``default``: :class:`training.config.TrainConfig` as it is;
- ``params:KEY=VALUE[,KEY=VALUE]``: the trees' parameters (``RiskModel``'s);
- ``config:FIELD=VALUE[,FIELD=VALUE]``: TrainConfig's fields (numbers, None, strings);
- ``include:FEATURE`` / ``exclude:FEATURE``: a feature in or out of the model;
- ``plain``: the pipeline's plain candidate (:func:`training.config.plain_candidate`).
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
GRADE = ROOT.parent / "shared" / "worlds" / "grade.py"

from scoring.batch import score_features  # noqa: E402
from scoring.features import feature_frame  # noqa: E402
from training.config import TrainConfig, plain_candidate  # noqa: E402
from training.fit import canonical_order, fit_features  # noqa: E402
from training.sources import read_logs  # noqa: E402


def prepared(folder):
    """(outbound rows, their features, the ids of the training rows) of one world.

    Cached beside the world as Parquet (data, never code), named by a hash of the
    feature code (``scoring/features/``), so that a change to a feature is never screened
    on features the old code computed."""
    import scoring.features
    sources = sorted(Path(scoring.features.__file__).parent.glob("*.py"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:12]
    rows_path = folder / f"screen-rows-{digest}.parquet"
    feats_path = folder / f"screen-features-{digest}.parquet"
    if rows_path.exists() and feats_path.exists():
        rows = pd.read_parquet(rows_path)
        return rows.drop(columns="_train"), pd.read_parquet(feats_path), rows["_train"].to_numpy()
    frame, _ = read_logs([folder / "full.csv"], on_error="skip")
    frame = canonical_order(frame)
    feats = feature_frame(frame)
    outbound = frame.loc[feats.index]
    train_ids = set(pd.read_csv(folder / "train.csv", usecols=["crossing_id"],
                                dtype=str)["crossing_id"])
    train = outbound["crossing_id"].isin(train_ids).to_numpy()
    outbound.assign(_train=train).to_parquet(rows_path)
    feats.to_parquet(feats_path)
    return outbound, feats, train


def _value(text):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def config_of(spec):
    """The TrainConfig a variant spec names."""
    config = TrainConfig()
    for part in spec.split("+"):
        kind, _, rest = part.partition(":")
        if kind == "default":
            continue
        if kind == "plain":
            config = plain_candidate(config)
        elif kind in ("params", "config"):
            pairs = dict(kv.split("=", 1) for kv in rest.split(","))
            values = {k: _value(v) for k, v in pairs.items()}
            if kind == "params":
                config = replace(config, params={**config.params, **values})
            else:
                config = replace(config, **{k: tuple(v) if isinstance(v, list) else v
                                            for k, v in values.items()})
        elif kind == "include":
            config = replace(config, exclude=tuple(f for f in config.exclude if f != rest))
        elif kind == "exclude":
            config = replace(config, exclude=tuple(config.exclude) + (rest,))
        else:
            raise SystemExit(f"unknown variant part {part!r}")
    return config


def grade(folder, scores):
    out = subprocess.run([sys.executable, str(GRADE), str(folder), str(scores), "--json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def screen(folder, spec, keep=False):
    outbound, feats, train = prepared(folder)
    started = time.perf_counter()
    model, manifest = fit_features(outbound.loc[train], feats.loc[train], config_of(spec))
    scores = score_features(model, feats, outbound["crossing_id"].to_numpy())
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        scores[["crossing_id", "risk_score"]].to_csv(f.name, index=False)
    graded = grade(folder, f.name)
    if keep:  # beside the world, named after the variant
        Path(f.name).replace(folder / f"scores-{spec.replace('/', '_')}.csv")
    else:
        Path(f.name).unlink()
    return {"world": folder.name, "variant": spec, "recall@1%": graded["recall@1%"],
            "recall@2%": graded["recall@2%"], "trees": manifest["trees"],
            "seconds": round(time.perf_counter() - started, 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("worlds", nargs="+", type=Path)
    ap.add_argument("--variant", action="append", default=None)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--keep", action="store_true",
                    help="keep each variant's scores as WORLD_DIR/scores-VARIANT.csv")
    args = ap.parse_args()
    rows = []
    for spec in args.variant or ["default"]:
        for folder in args.worlds:
            row = screen(folder, spec, args.keep)
            rows.append(row)
            print(json.dumps(row), flush=True)
    table = pd.DataFrame(rows)
    means = table.groupby("variant", sort=False)[["recall@1%", "recall@2%"]].mean()
    print(means.round(4).to_string())
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
