"""Training: crossing logs in, a calibrated RiskModel and its manifest out.

Steps: read and check the logs; compute point-in-time features for every
outbound row (every row of the logs is history); keep the inspected rows with a
resolved outcome, weighted by ``1 / selection_probability`` so they stand for all
outbound traffic; split by time into fit / calibrate / validate; grow the trees
on the first part, calibrate on the second, evaluate on the third.
"""
from __future__ import annotations

import hashlib
import platform
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from models.registry import sha256_file
from scoring import contract
from scoring.features import FEATURES, feature_frame, resolve_exclusions
from scoring.model import RiskModel
from scoring.paths import extra_ports_file
from scoring.policy import score_quantiles
from scoring.ports import port_zones
from training.evaluate import evaluate_scores, propensity
from training.monitoring import FEW_SEIZURES

#: a labelled row's weight is capped at this multiple of the mean weight
MAX_RELATIVE_WEIGHT = 50.0
MIN_SEIZURES = 10


class TrainingError(Exception):
    """The data cannot give a model (too few labels, empty window); says why."""


@dataclass
class TrainConfig:
    """What to train on and how.

    ``split`` gives the time shares of the outbound rows for fit, calibrate and
    validate; ``until`` (UTC µs) drops every row from then on.
    """

    exclude: tuple = ()
    until: int | None = None
    split: tuple = (0.70, 0.15, 0.15)
    seed: int = 0
    params: dict = field(default_factory=dict)


def read_logs(paths, on_error="raise", later_wins=False):
    """Read several crossing logs into one canonical frame.

    A ``crossing_id`` may appear once across the files; with ``later_wins`` a row of
    a later file instead replaces the row of the same id in an earlier one (the
    service's export after the log it replayed, say), and each source counts the
    rows it replaced.

    Returns
    -------
    frame : DataFrame
    sources : list of dict
        Per file: path, SHA-256, rows, rejected rows, ignored columns, the port codes
        the port table lacks with their row counts (``unknown_ports``), replaced rows.
    """
    frames, sources, lines = [], [], []
    for i, path in enumerate(paths):
        result = contract.read_log(path, on_error=on_error)
        frames.append(result.frame.assign(_file=i))
        lines.append(_file_lines(path, result))
        sources.append({"path": str(path), "sha256": sha256_file(path), "rows": len(result.frame),
                        "rejected": len(result.rejected),
                        "ignored_columns": list(result.ignored_columns),
                        "unknown_ports": dict(result.unknown_ports),
                        "ports_without_zone": _ports_without_zone(result.frame,
                                                                  result.unknown_ports),
                        "rejects": result.rejected, "replaced": 0})
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    line = np.concatenate(lines)
    dup = frame["crossing_id"].duplicated(keep="last" if later_wins else "first").to_numpy()
    if dup.any() and not later_wins:
        i = int(np.flatnonzero(dup)[0])
        value = frame["crossing_id"].iloc[i]
        first = int(np.flatnonzero((frame["crossing_id"] == value).to_numpy())[0])
        raise contract.ContractError(
            f"value {contract.show_value(value)} is a repeated crossing_id (first at "
            f"{paths[frame['_file'].iloc[first]]}, row {line[first]}; --later-wins lets a "
            "later file's row replace an earlier one)",
            source=str(paths[frame["_file"].iloc[i]]), row=int(line[i]), column="crossing_id")
    if dup.any():
        # the replaced rows are the earlier ones; count them against the file that replaced
        keeper = frame.loc[~dup].set_index("crossing_id")["_file"]
        for file_index in keeper.reindex(frame.loc[dup, "crossing_id"]).to_numpy():
            sources[int(file_index)]["replaced"] += 1
        frame = frame.loc[~dup].reset_index(drop=True)
    return frame.drop(columns="_file"), sources


def _ports_without_zone(frame, unknown):
    """``{port: rows}`` of the known ports whose table row names no time zone (their local
    hour and weekday are missing; unknown ports are reported as such already)."""
    zones = port_zones(extra_ports_file())
    counts = frame["port_code"].value_counts()
    return {str(p): int(n) for p, n in counts.sort_index().items()
            if p not in zones and p not in unknown}


def _file_lines(path, result):
    """The file line (header = 1; Parquet rows from 1) of each row of ``result.frame``."""
    first = 1 if Path(path).suffix.lower() == ".parquet" else 2
    total = len(result.frame) + len(result.rejected)
    kept = np.ones(total, dtype=bool)
    if len(result.rejected):
        kept[result.rejected["row"].to_numpy(int) - first] = False
    return np.flatnonzero(kept) + first


def code_version():
    """The git commit of the code, or the package version outside a checkout."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                             text=True, timeout=5, cwd=Path(__file__).parent)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("southbound")
    except PackageNotFoundError:
        return "unknown"


def _iso(micros):
    return pd.Timestamp(int(micros), unit="us", tz="UTC").isoformat()


def train(frame, config=None, progress=print, sources=()):
    """Fit a model on a canonical log frame.

    Parameters
    ----------
    frame : DataFrame
        Canonical crossing log (all rows serve as history).
    config : TrainConfig, optional
    progress : callable
        Called with one line per step.
    sources : sequence of dict
        Per input file, recorded in the manifest.

    Returns
    -------
    model : RiskModel
    manifest : dict
        Everything but the registry's own fields (version, hash).

    Examples
    --------
    >>> frame, sources = read_logs(["world.csv"])    # doctest: +SKIP
    >>> model, manifest = train(frame)              # doctest: +SKIP
    """
    config = config or TrainConfig()
    exclude = resolve_exclusions(config.exclude)
    started = time.perf_counter()

    def step(message):
        progress(f"[{time.perf_counter() - started:6.1f}s] {message}")

    where = ", ".join(str(s["path"]) for s in sources)

    def refuse(message):
        """The data cannot give a model: say so, naming the files it came from."""
        return TrainingError(f"{where}: {message}" if where else message)

    # Rows may come in any order (the contract says so): put them in one canonical
    # order, so that the same crossings give the same model whatever the file's order
    # (the trees' early-stopping split and the time split both follow row order).
    frame = frame.sort_values(["crossed_at", "crossing_id"], kind="stable",
                              ignore_index=True)
    if config.until is not None:
        frame = frame.loc[frame["crossed_at"].to_numpy() < config.until]
    outbound_mask = (frame["direction"] == "outbound").to_numpy()
    if not outbound_mask.any():
        raise refuse("the logs have no outbound rows to learn from")
    step(f"computing features for {outbound_mask.sum():,} outbound of {len(frame):,} rows")
    feats = feature_frame(frame, outbound_mask)
    outbound = frame.loc[feats.index]
    times = outbound["crossed_at"].to_numpy(np.int64)
    seizure = outbound["seizure"].to_numpy(float)
    labelled = (outbound["inspected"].to_numpy(float) == 1.0) & ~np.isnan(seizure)

    cut1, cut2 = np.quantile(times, [config.split[0], config.split[0] + config.split[1]])
    part = np.where(times < cut1, 0, np.where(times < cut2, 1, 2))
    counts = {}
    for i, name in enumerate(("fit", "calibrate", "validate")):
        rows = labelled & (part == i)
        counts[name] = {"outbound": int((part == i).sum()), "labelled": int(rows.sum()),
                        "seizures": int(seizure[rows].sum())}
        if counts[name]["seizures"] < (MIN_SEIZURES if i == 0 else 1):
            need = (f"the fit window, the oldest {config.split[0]:.0%} of the outbound rows, "
                    f"needs {MIN_SEIZURES}" if i == 0 else f"the {name} window needs one")
            raise refuse(
                f"the {name} window has {counts[name]['seizures']} seizures among "
                f"{counts[name]['labelled']} inspected rows: too few to train on ({need}): "
                "train on a longer log, or for a generated world more --days or a larger "
                "--scale (the defaults, 120 days at 0.005, are enough)")
        if i < 2 and counts[name]["seizures"] == counts[name]["labelled"]:
            # the trees and the Platt scaling both need the two outcomes
            raise refuse(
                f"the {name} window has no inspection without a seizure among "
                f"{counts[name]['labelled']} inspected rows: cannot train on it")
    step("labelled rows: " + ", ".join(
        f"{k} {v['labelled']:,} ({v['seizures']} seizures)" for k, v in counts.items()))
    warnings = few_seizure_warnings(counts)
    for warning in warnings:
        step(f"warning: {warning}")

    # only now: estimating missing selection probabilities needs more than a few rows
    pi = propensity(outbound, _without_empty(feats[list(FEATURES)]), config.seed)
    weight = 1.0 / pi

    def labelled_part(i):
        rows = labelled & (part == i)
        w = weight[rows]
        w = np.minimum(w / w.mean(), MAX_RELATIVE_WEIGHT)
        return feats.loc[rows, list(FEATURES)], seizure[rows].astype(int), w

    X_fit, y_fit, w_fit = labelled_part(0)
    # A feature with no value on any fit row has nothing to teach (and the trees'
    # binning in scikit-learn 1.9 fails on an all-missing column): leave it out.
    empty = tuple(f for f in FEATURES if f not in exclude and X_fit[f].isna().all())
    if empty:
        step("features with no value in the fit window, left out: " + ", ".join(empty))
    model = RiskModel(exclude=tuple(sorted(exclude + empty)), random_state=config.seed,
                      **config.params)
    step(f"fitting gradient-boosted trees on {len(X_fit):,} rows")
    model.fit(X_fit, y_fit, w_fit, calibration=labelled_part(1))
    step(f"{model.booster_.n_iter_} trees; calibration slope "
         f"{model.calibration_[0]:.3f}, intercept {model.calibration_[1]:.3f}")

    val = part == 2
    unseen = part >= 1  # rows the trees never saw: the referral thresholds' ground
    unseen_scores = model.predict_proba(feats.loc[unseen])[:, 1]
    scores = unseen_scores[val[unseen]]
    metrics = evaluate_scores(scores, outbound.loc[val],
                              _without_empty(feats.loc[val], keep=("plate_days_since_first_seen",)),
                              seed=config.seed)
    step("validation: " + ", ".join(
        f"recall@{r['budget']:.1%} {r['recall']:.1%}" for r in metrics["budgets"]))

    manifest = {
        "kind": "southbound-risk-model",
        "contract_version": contract.VERSION,
        "code_version": code_version(),
        "features": list(model.features_),
        "excluded_features": list(exclude),
        "features_without_values": list(empty),
        "categories": model.encoder_.categories_,
        "params": model.get_params(),
        "trees": int(model.booster_.n_iter_),
        "calibration": {"method": "weighted Platt scaling on the calibrate window",
                        "slope": model.calibration_[0], "intercept": model.calibration_[1]},
        "data": {
            "sources": [{k: v for k, v in s.items() if k != "rejects"} for s in sources],
            "fingerprint": hashlib.sha256("".join(s["sha256"] for s in sources).encode()
                                          ).hexdigest() if sources else None,
            "rows": int(len(frame)), "outbound": int(outbound_mask.sum()),
            "windows": {"start": _iso(times.min()), "calibrate_from": _iso(cut1),
                        "validate_from": _iso(cut2), "end": _iso(times.max())},
            "split": counts,
        },
        "warnings": warnings,
        "score_quantiles": score_quantiles(unseen_scores,
                                           outbound.loc[unseen, "port_code"].to_numpy()),
        "metrics": {"validation": metrics},
        "libraries": _libraries(),
        "training_seconds": round(time.perf_counter() - started, 1),
    }
    return model, manifest


def few_seizure_warnings(counts, few=FEW_SEIZURES):
    """One warning per window whose figures rest on fewer than ``few`` seizures.

    Parameters
    ----------
    counts : dict
        Window name to ``{"seizures": int, ...}`` (the manifest's ``data.split``).

    Returns
    -------
    list of str

    Examples
    --------
    >>> few_seizure_warnings({"fit": {"seizures": 400}, "validate": {"seizures": 6}})
    ['the validate window has 6 seizures (fewer than 30): its figures are unstable']
    """
    uses = {"fit": "the trees rest on few examples", "calibrate": "the calibration is "
            "unstable", "validate": "its figures are unstable"}
    return [f"the {name} window has {c['seizures']} seizure{'' if c['seizures'] == 1 else 's'}"
            f" (fewer than {few}): {uses.get(name, 'its figures are unstable')}"
            for name, c in counts.items() if c["seizures"] < few]


def _without_empty(features, keep=()):
    """``features`` less its numeric columns with no value at all, for the propensity
    fits (scikit-learn 1.9's histogram binning fails on an all-missing column)."""
    numeric = features.select_dtypes(include="number")
    return features.drop(columns=[c for c in numeric
                                  if c not in keep and numeric[c].isna().all()])


def _libraries():
    import joblib
    import sklearn
    return {"python": platform.python_version(), "numpy": np.__version__,
            "pandas": pd.__version__, "scikit-learn": sklearn.__version__,
            "joblib": joblib.__version__}
