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
from scoring.features import DAY_US, FEATURES, feature_frame, resolve_exclusions
from scoring.model import RiskModel
from scoring.paths import extra_ports_file
from scoring.policy import score_quantiles
from scoring.ports import port_zones
from scoring.wording import plural
from training.evaluate import evaluate_scores, propensity
from training.monitoring import FEW_SEIZURES

#: a labelled row's weight is capped at this multiple of the mean weight
MAX_RELATIVE_WEIGHT = 50.0
#: an effective sample (Kish) of the training weights under this share of the labelled
#: rows is warned of
MIN_EFFECTIVE_SHARE = 0.10
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
    #: "holdout": trees on the oldest share, calibration on the next, validation on the
    #: newest; "crossfit": trees on every labelled row, calibrated out of fold.
    #: The defaults of this class are chosen by backtest on every generated variant
    #: (benchmarks/quality.py; the table in benchmarks/README.md), never on one window.
    calibration: str = "crossfit"
    folds: int = 5
    #: "ipw" (capped inverse selection probability) or "none"
    weighting: str = "ipw"
    #: crossfit only: "early-stopping" (the served model stops on a random 15% of its
    #: rows) or "from-folds" (it grows, on every row, the median of the folds' trees)
    trees: str = "from-folds"
    #: features whose rise may never lower the score (monotone constraints)
    increasing: tuple = ()
    #: a labelled row's weight halves with every this many days of age (counted back
    #: from the newest outbound row); None weighs old and new rows alike
    half_life_days: float | None = 30.0

    def __post_init__(self):
        if self.calibration not in ("holdout", "crossfit"):
            raise ValueError(f"calibration {self.calibration!r} is not holdout or crossfit")
        if self.weighting not in ("ipw", "none"):
            raise ValueError(f"weighting {self.weighting!r} is not ipw or none")
        if not (isinstance(self.folds, int) and self.folds >= 2):
            raise ValueError(f"folds {self.folds!r} is not an integer of at least 2")


def read_logs(paths, on_error="raise", later_wins=False):
    """Read several crossing logs into one canonical frame.

    A ``crossing_id`` may appear once across the files; with ``later_wins`` a row of
    a later file instead replaces the row of the same id in an earlier one (the
    service's export after the log it replayed, say), and each source counts the
    rows it replaced. A replacement must be the same crossing (:data:`SAME_CROSSING`:
    time, plate, port, direction), only its other values newer: a row of another
    crossing that merely shares the id (another log's numbering) is a ContractError
    naming both rows.

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
        sources.append(describe_source(path, result))
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    line = np.concatenate(lines)
    # one file's ids are unique already (read_log refuses or sets aside a repeated one)
    dup = (frame["crossing_id"].duplicated(keep="last" if later_wins else "first").to_numpy()
           if len(frames) > 1 else np.zeros(len(frame), dtype=bool))
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
        _same_crossings(frame, dup, line, paths)
        # the replaced rows are the earlier ones; count them against the file that replaced
        keeper = frame.loc[~dup].set_index("crossing_id")["_file"]
        for file_index in keeper.reindex(frame.loc[dup, "crossing_id"]).to_numpy():
            sources[int(file_index)]["replaced"] += 1
        frame = frame.loc[~dup].reset_index(drop=True)
    return frame.drop(columns="_file"), sources


#: the columns that make a later file's row the same crossing as the one it replaces
SAME_CROSSING = ("crossed_at", "plate_id", "port_code", "direction")


def _same_crossings(frame, dup, line, paths):
    """Refuse (ContractError naming both rows) the first replacement under --later-wins
    that is another crossing: its time, plate, port or direction differs."""
    replaced = np.flatnonzero(dup)
    kept = pd.Series(np.flatnonzero(~dup), index=frame["crossing_id"].to_numpy()[~dup])
    by = kept.reindex(frame["crossing_id"].to_numpy()[replaced]).to_numpy()
    differs = np.zeros(len(replaced), dtype=bool)
    for name in SAME_CROSSING:
        values = frame[name].to_numpy()
        differs |= np.asarray(values[replaced] != values[by], dtype=bool)
    if not differs.any():
        return
    old, new = int(replaced[differs][0]), int(by[differs][0])
    names = [n for n in SAME_CROSSING if frame[n].iloc[old] != frame[n].iloc[new]]

    def shown(i):
        return ", ".join(f"{n} " + (contract.format_timestamp(int(frame[n].iloc[i]))
                                    if n == "crossed_at"
                                    else contract.show_value(frame[n].iloc[i]))
                         for n in names)
    raise contract.ContractError(
        f"value {contract.show_value(frame['crossing_id'].iloc[new])} would replace another "
        f"crossing of the same crossing_id at {paths[frame['_file'].iloc[old]]}, row "
        f"{line[old]} ({shown(old)} there; {shown(new)} here): --later-wins replaces a row "
        "only by the same crossing (same time, plate, port and direction); are these logs "
        "of different worlds?", source=str(paths[frame["_file"].iloc[new]]),
        row=int(line[new]), column="crossing_id")


def describe_source(path, result):
    """What the manifest records of one input file: path, SHA-256, rows, rejected rows
    (``rejects`` holds them), ignored columns, unknown ports and ports without a zone."""
    return {"path": str(path), "sha256": sha256_file(path), "rows": len(result.frame),
            "rejected": len(result.rejected), "ignored_columns": list(result.ignored_columns),
            "unknown_ports": dict(result.unknown_ports),
            "ports_without_zone": _ports_without_zone(result.frame, result.unknown_ports),
            "rejects": result.rejected, "replaced": 0}


def _ports_without_zone(frame, unknown):
    """``{port: rows}`` of the known ports whose table row names no time zone (their local
    hour and weekday are missing; unknown ports are reported as such already)."""
    zones = port_zones(extra_ports_file())
    counts = frame["port_code"].value_counts()
    return {str(p): int(n) for p, n in counts.sort_index().items()
            if p not in zones and p not in unknown}


def _file_lines(path, result):
    """The file line (header = 1; Parquet rows from 1) of each row of ``result.frame``."""
    first = contract.first_row(path)
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
    clock = _Clock(progress)
    frame = canonical_order(frame, config.until)
    outbound_mask = (frame["direction"] == "outbound").to_numpy()
    if not outbound_mask.any():
        raise _refusal(sources, "the logs have no outbound rows to learn from")
    clock.step(f"computing features for {outbound_mask.sum():,} outbound of {len(frame):,} rows")
    feats = feature_frame(frame, outbound_mask)
    return fit_features(frame.loc[feats.index], feats, config, clock, sources,
                        rows=len(frame))


def canonical_order(frame, until=None):
    """``frame`` in one canonical order (time, then id), less the rows from ``until`` on.

    Rows may come in any order (the contract says so); the same crossings then give
    the same model whatever the file's order (the trees' early-stopping split and the
    time split both follow row order).
    """
    frame = frame.sort_values(["crossed_at", "crossing_id"], kind="stable", ignore_index=True)
    if until is not None:
        frame = frame.loc[frame["crossed_at"].to_numpy() < until]
    return frame


class _Clock:
    def __init__(self, progress):
        self.progress, self.started = progress, time.perf_counter()

    def step(self, message):
        self.progress(f"[{self.elapsed():6.1f}s] {message}")

    def elapsed(self):
        return time.perf_counter() - self.started


def _refusal(sources, message):
    """The data cannot give a model: say so, naming the files it came from."""
    where = ", ".join(str(s["path"]) for s in sources)
    return TrainingError(f"{where}: {message}" if where else message)


def fit_features(outbound, feats, config=None, clock=None, sources=(), rows=None):
    """Fit a model on outbound rows whose features are computed already.

    ``outbound`` holds the outbound rows (contract columns, labels included) in
    canonical order and ``feats`` their feature frame, same index. The backtest
    calls this once per origin on features computed once for the whole log (a
    row's features see only earlier rows, so they are the same whatever the
    origin).
    """
    config = config or TrainConfig()
    return fit_log(InProcessLog(outbound, feats, config.seed), config, clock, sources, rows)


class InProcessLog:
    """The outbound rows of a log in memory, as :func:`fit_log` reads them.

    :func:`fit_log` grows the model on the labelled rows (:attr:`labelled`, here in
    memory whatever the engine) and asks the log for the few things that need every
    outbound row: counts and time cuts, selection probabilities, and the out-of-fold
    scores behind the referral quantiles and the validation figures. The Dask
    execution (:class:`training.fit_dask.DaskLog`) answers the same questions from a
    log on a cluster, with the same numbers.
    """

    engine = {"name": "pandas"}

    def __init__(self, outbound, feats, seed=0):
        self.outbound, self.feats, self.seed = outbound, feats, seed
        self.times = outbound["crossed_at"].to_numpy(np.int64)
        seizure = outbound["seizure"].to_numpy(float)
        self.mask = (outbound["inspected"].to_numpy(float) == 1.0) & ~np.isnan(seizure)
        self.rows = len(outbound)
        self.first, self.last = int(self.times.min()), int(self.times.max())
        self.labelled = (outbound.loc[self.mask], feats.loc[self.mask])
        self._pi = None

    def time_cuts(self, shares):
        """The outbound rows' time quantiles at ``shares`` (holdout's windows)."""
        return np.quantile(self.times, shares)

    def block_rows(self, cuts):
        """Outbound rows per time block (``cuts`` as in ``np.searchsorted(side="right")``)."""
        return np.bincount(np.searchsorted(cuts, self.times, side="right"),
                           minlength=len(cuts) + 1)

    def propensity(self):
        """Selection probability of every outbound row: the log's own, else estimated on
        every outbound row (once per training: the weights and the validation use it)."""
        if self._pi is None:
            self._pi = propensity(self.outbound, self.feats[list(FEATURES)], self.seed)
        return self._pi

    def labelled_propensity(self):
        return self.propensity()[self.mask]

    def out_of_fold(self, oof, scored_from, validate_from):
        """The referral quantiles (from the rows ``scored_from`` on) and the validation
        report (from ``validate_from`` on) of the out-of-fold probabilities
        ``oof(X, times)``."""
        X = self.feats[list(FEATURES)]
        p = np.full(self.rows, np.nan)
        scored = self.times >= scored_from if scored_from is not None else np.ones(self.rows, bool)
        p[scored] = oof(X.loc[scored], self.times[scored])
        quantiles = score_quantiles(p[scored], self.outbound.loc[scored, "port_code"].to_numpy())
        val = self.times >= validate_from
        return quantiles, evaluate_scores(p[val], self.outbound.loc[val], self.feats.loc[val],
                                          seed=self.seed, pi=self.propensity()[val])


def fit_log(log, config=None, clock=None, sources=(), rows=None):
    """Fit a model on a log's outbound rows with features (:class:`InProcessLog`, or
    the Dask execution's :class:`training.fit_dask.DaskLog`)."""
    config = config or TrainConfig()
    clock = clock or _Clock(lambda message: None)
    exclude = resolve_exclusions(config.exclude)
    labelled_rows, X_labelled = log.labelled
    times = labelled_rows["crossed_at"].to_numpy(np.int64)
    seizure = labelled_rows["seizure"].to_numpy(float)
    if config.calibration == "holdout":
        cuts = log.time_cuts([config.split[0], config.split[0] + config.split[1]])
        names = ("fit", "calibrate", "validate")
    else:
        cuts = _block_cuts(times, config.folds)
        names = tuple(f"block {i + 1}" for i in range(config.folds))
    part = np.searchsorted(cuts, times, side="right")
    outbound = log.block_rows(cuts)
    counts = {name: {"outbound": int(outbound[i]), "labelled": int((part == i).sum()),
                     "seizures": int(seizure[part == i].sum())} for i, name in enumerate(names)}
    _refuse_thin(counts, config, sources)
    clock.step("labelled rows: " + ", ".join(
        f"{k} {v['labelled']:,} ({plural(v['seizures'], 'seizure')})" for k, v in counts.items()))

    # only now: estimating missing selection probabilities needs more than a few rows
    pi = log.labelled_propensity()
    weight = _weights(1.0 / pi, config.weighting)
    if config.half_life_days:
        weight = weight * 0.5 ** ((log.last - times) / (config.half_life_days * DAY_US))
    thin = thin_weights_warning(weight, times, log.last, config.half_life_days)
    X_all = X_labelled[list(FEATURES)]
    # A feature with no value on any labelled row has nothing to teach (and the trees'
    # binning in scikit-learn 1.9 fails on an all-missing column): leave it out.
    empty = tuple(f for f in FEATURES if f not in exclude and X_all[f].isna().all())
    if empty:
        clock.step("features with no value on the labelled rows, left out: " + ", ".join(empty))

    def new_model(**fixed):
        params = {**config.params, **fixed}
        increasing = tuple(f for f in config.increasing if f not in exclude + empty)
        return RiskModel(exclude=tuple(sorted(exclude + empty)), random_state=config.seed,
                         increasing=increasing, **params)

    def rows_of(mask):
        w = weight[mask]
        return X_all.loc[mask], seizure[mask].astype(int), w / w.mean()

    if config.calibration == "holdout":
        model, oof, scored_from, detail = _fit_holdout(new_model, rows_of, part, cuts, clock)
    else:
        model, oof, scored_from, detail = _fit_crossfit(new_model, rows_of, part, cuts, X_all,
                                                        times, seizure, config, clock)
    quantiles, metrics = log.out_of_fold(oof, scored_from, cuts[-1])
    clock.step("validation: " + ", ".join(
        f"recall@{r['budget']:.1%} {r['recall']:.1%}" for r in metrics["budgets"]))
    # printed once, by whoever shows the result (``southbound train`` after registering)
    warnings = few_seizure_warnings(_named_windows(counts, config)) + ([thin] if thin else [])
    method = detail.pop("calibration_method")
    manifest = {
        "kind": "southbound-risk-model",
        "contract_version": contract.VERSION,
        "code_version": code_version(),
        "features": list(model.features_),
        "excluded_features": list(exclude),
        "features_without_values": list(empty),
        "categories": model.encoder_.categories_,
        "params": model.get_params(),
        "training": {"calibration": config.calibration, "weighting": config.weighting,
                     "trees": config.trees, "increasing": list(config.increasing),
                     "half_life_days": config.half_life_days,
                     "folds": config.folds if config.calibration == "crossfit" else None,
                     "seed": config.seed, **detail, "engine": log.engine},
        "trees": int(model.booster_.n_iter_),
        "calibration": {"method": method,
                        "slope": model.calibration_[0], "intercept": model.calibration_[1]},
        "data": {
            "sources": [{k: v for k, v in s.items() if k != "rejects"} for s in sources],
            "fingerprint": hashlib.sha256("".join(s["sha256"] for s in sources).encode()
                                          ).hexdigest() if sources else None,
            "rows": int(rows if rows is not None else log.rows),
            "outbound": int(log.rows),
            "windows": _windows(log.first, log.last, cuts, config),
            "split": _named_windows(counts, config),
            "blocks": counts if config.calibration == "crossfit" else None,
            "labelled": {"rows": int(len(times)), "seizures": int(seizure.sum())},
        },
        "warnings": warnings,
        "score_quantiles": quantiles,
        "metrics": {"validation": metrics},
        "libraries": _libraries(),
        "training_seconds": round(clock.elapsed(), 1),
    }
    return model, manifest


def _block_cuts(labelled_times, folds):
    """Time cuts giving ``folds`` blocks of about equal labelled rows."""
    if len(labelled_times) == 0:
        return np.zeros(folds - 1, dtype=np.int64)
    return np.quantile(labelled_times, np.arange(1, folds) / folds).astype(np.int64)


def _named_windows(counts, config):
    """The manifest's ``data.split``: holdout's three windows, or for cross-fitting every
    labelled row as ``fit`` and the newest block as ``validate`` (its figures come from a
    model grown on the older blocks only)."""
    if config.calibration == "holdout":
        return counts
    blocks = list(counts.values())
    total = {k: sum(b[k] for b in blocks) for k in ("outbound", "labelled", "seizures")}
    return {"fit": total, "validate": blocks[-1]}


def _refuse_thin(counts, config, sources):
    """Refuse a log whose windows cannot give a model, saying which and what to do."""
    hint = ("train on a longer log, or for a generated world more --days or a larger "
            "--scale (the defaults, 120 days at 0.005, are enough)")
    if config.calibration == "holdout":
        for i, (name, c) in enumerate(counts.items()):
            if c["seizures"] < (MIN_SEIZURES if i == 0 else 1):
                need = (f"the fit window, the oldest {config.split[0]:.0%} of the outbound rows,"
                        f" needs {MIN_SEIZURES}" if i == 0 else f"the {name} window needs one")
                raise _refusal(sources, f"the {name} window has {plural(c['seizures'], 'seizure')} "
                                        f"among {plural(c['labelled'], 'inspected row')}: too "
                                        "few to train on "
                                        f"({need}): {hint}")
            if i < 2 and c["seizures"] == c["labelled"]:
                # the trees and the Platt scaling both need the two outcomes
                raise _refusal(sources, f"the {name} window has no inspection without a "
                                        f"seizure among {c['labelled']} inspected rows: cannot "
                                        "train on it")
        return
    labelled = sum(c["labelled"] for c in counts.values())
    seizures = sum(c["seizures"] for c in counts.values())
    if seizures < MIN_SEIZURES + 1:
        raise _refusal(sources, f"the logs have {plural(seizures, 'seizure')} among "
                                f"{plural(labelled, 'inspected row')}: too few to train on "
                                f"(training needs {MIN_SEIZURES + 1}): {hint}")
    if seizures == labelled:
        raise _refusal(sources, f"the logs have no inspection without a seizure among "
                                f"{labelled} inspected rows: cannot train on them")
    for name, c in counts.items():
        if c["seizures"] == 0:
            raise _refusal(sources, f"the {name} of {config.folds} time blocks of inspected "
                                    f"rows has no seizure among {c['labelled']} inspected rows "
                                    f"(the seizures are bunched in time): {hint}")


def _weights(inverse_pi, weighting):
    """Each labelled row's training weight from its inverse selection probability.

    ``ipw``: ``1 / pi`` capped at ``MAX_RELATIVE_WEIGHT`` times the labelled rows' mean
    (so one lucky random pick cannot own the fit); ``none``: every labelled row counts
    once.
    """
    if weighting == "none":
        return np.ones_like(inverse_pi)
    mean = inverse_pi.mean() if len(inverse_pi) else 1.0
    return np.minimum(inverse_pi, MAX_RELATIVE_WEIGHT * mean)


def _fit_holdout(new_model, rows_of, part, cuts, clock):
    """Trees on the fit window, Platt scaling on the calibrate window."""
    X_fit, y_fit, w_fit = rows_of(part == 0)
    model = new_model()
    clock.step(f"fitting gradient-boosted trees on {len(X_fit):,} rows")
    model.fit(X_fit, y_fit, w_fit, calibration=rows_of(part == 1))
    clock.step(f"{model.booster_.n_iter_} trees; calibration slope "
               f"{model.calibration_[0]:.3f}, intercept {model.calibration_[1]:.3f}")

    def oof(X, times):  # the rows from the calibrate window on: the trees never saw them
        return model.predict_proba(X)[:, 1]
    return model, oof, cuts[0], {
        "calibration_method": "weighted Platt scaling on the calibrate window",
        "grown_on": "the fit window's labelled rows"}


class _OutOfFold:
    """The out-of-fold probability of any outbound row: the raw score of the model grown
    without the row's time block, through the served model's calibration. Picklable,
    so that a cluster's workers can score their rows with it."""

    def __init__(self, folds, cuts, model):
        self.folds, self.cuts, self.model = folds, cuts, model

    def raw(self, X, times):
        block = np.searchsorted(self.cuts, times, side="right")
        raw = np.full(len(block), np.nan)
        for i, fold in enumerate(self.folds):
            mine = block == i
            if mine.any():
                raw[mine] = fold.decision_function(X.loc[mine])
        return raw

    def __call__(self, X, times):
        return self.model.calibrate(self.raw(X, times))


def _fit_crossfit(new_model, rows_of, part, cuts, X_all, times, seizure, config, clock):
    """Trees on every labelled row; calibration and thresholds from out-of-fold scores.

    The labelled rows are cut by time into ``config.folds`` blocks. For each block a
    model grown on the other blocks scores the block's rows (labelled or not): the
    out-of-fold scores. The served model's trees grow on every labelled row; its
    Platt scaling is fitted on the out-of-fold raw scores, the per-port score
    quantiles come from the out-of-fold probabilities of every outbound row, and the
    validation figures from the newest block, scored by a model grown on the older
    blocks only (a forward estimate, as the model in service faces tomorrow).
    """
    folds, trees = [], []
    for block in range(config.folds):
        X, y, w = rows_of(part != block)
        if block == config.folds - 1:  # the forward model: older blocks only
            X, y, w = rows_of(part < block)
        fold = new_model()
        fold.fit(X, y, w, calibration=(X, y, w))
        folds.append(fold)
        trees.append(int(fold.booster_.n_iter_))
    clock.step(f"{config.folds} out-of-fold models ({', '.join(map(str, trees))} trees)")
    X_fit, y_fit, w_fit = rows_of(np.ones(len(part), dtype=bool))
    fixed = ({"max_iter": max(int(np.median(trees)), 1), "early_stopping": False}
             if config.trees == "from-folds" else {})
    model = new_model(**fixed)
    clock.step(f"fitting gradient-boosted trees on all {len(X_fit):,} labelled rows")
    oof = _OutOfFold(folds, cuts, model)
    model.fit(X_fit, y_fit, w_fit, calibration=(None, seizure.astype(int), w_fit),
              calibration_raw=oof.raw(X_all, times))
    clock.step(f"{model.booster_.n_iter_} trees; calibration slope "
               f"{model.calibration_[0]:.3f}, intercept {model.calibration_[1]:.3f}")
    return model, oof, None, {
        "calibration_method": f"weighted Platt scaling on out-of-fold scores ({config.folds} "
                              "time blocks, cross-fitted)",
        "grown_on": "every labelled outbound row of the log",
        "fold_trees": trees}


def _windows(first, last, cuts, config):
    if config.calibration == "holdout":
        return {"start": _iso(first), "calibrate_from": _iso(cuts[0]),
                "validate_from": _iso(cuts[1]), "end": _iso(last)}
    return {"start": _iso(first), "validate_from": _iso(cuts[-1]),
            "end": _iso(last), "blocks_from": [_iso(c) for c in cuts]}


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
    return [f"the {name} window has {plural(c['seizures'], 'seizure')}"
            f" (fewer than {few}): {uses.get(name, 'its figures are unstable')}"
            for name, c in counts.items() if c["seizures"] < few]


def thin_weights_warning(weight, times, newest, half_life_days, share=MIN_EFFECTIVE_SHARE):
    """A warning when the training weights rest on few of the labelled rows, else None.

    The effective sample of the weights (Kish: ``(sum w)**2 / sum w**2``) is the number
    of equally weighted rows they are worth. Under ``share`` of the labelled rows, the
    fit learns from a handful: most often a few rows far newer than the rest (a log with
    a gap), from which the half-life counts the others' age. The warning names the
    largest gap between labelled rows, or between the newest of them and the newest
    outbound row.

    Parameters
    ----------
    weight : array, shape (n,)
        The labelled rows' training weights.
    times : array of int, shape (n,)
        Their ``crossed_at`` (UTC µs).
    newest : int
        The newest outbound row's ``crossed_at``, where the half-life counts from.

    Examples
    --------
    >>> day = 86_400_000_000
    >>> times = np.append(np.arange(100), [700] * 5) * day    # 5 labelled rows 600 days on
    >>> weight = 0.5 ** ((700 * day - times) / (30 * day))
    >>> thin_weights_warning(weight, times, 700 * day, 30)[:47]
    'the training weights are worth 5 of the 105 lab'
    """
    weight = np.asarray(weight, dtype=float)
    if not len(weight) or not weight.sum():
        return None
    effective = weight.sum() ** 2 / (weight ** 2).sum()
    if effective >= share * len(weight):
        return None
    points = np.unique(np.append(np.asarray(times, dtype=np.int64), int(newest)))
    gaps = np.diff(points)
    where = int(np.argmax(gaps)) if len(gaps) else 0
    gap = (f"; the labelled rows have a gap of {gaps[where] / DAY_US:,.0f} days, from "
           f"{_iso(points[where])[:10]} to {_iso(points[where + 1])[:10]}" if len(gaps) else "")
    why = (f"the {half_life_days:g}-day half-life counts every row's age from the newest "
           f"outbound row ({_iso(newest)[:10]})" if half_life_days else "a few rows carry "
           "most of the weight")
    return (f"the training weights are worth {effective:,.0f} of the {len(weight):,} labelled "
            f"rows (effective sample {effective / len(weight):.1%}, under "
            f"{share:.0%}): {why}{gap}; train on one stretch of time (--until the gap's "
            "start) or add the missing rows")


def _libraries():
    import joblib
    import sklearn
    return {"python": platform.python_version(), "numpy": np.__version__,
            "pandas": pd.__version__, "scikit-learn": sklearn.__version__,
            "joblib": joblib.__version__}


def how_grown(manifest):
    """(label, text) pairs saying how a model was chosen and which rows grew it, for the
    model card and ``models show``; models saved before cross-fitting say what they knew.
    """
    training = manifest.get("training") or {}
    data = manifest.get("data") or {}
    windows = data.get("windows") or {}
    split = data.get("split") or {}
    out = []
    if training.get("calibration") == "crossfit":
        labelled = data.get("labelled") or split.get("fit") or {}
        out.append(("grown on", f"every labelled outbound row from {windows.get('start', '?')[:10]} "
                                f"to {windows.get('end', '?')[:10]}: {labelled.get('rows', 0):,} "
                                f"inspections, {plural(labelled.get('seizures', 0), 'seizure')}"))
        out.append(("validation", f"the newest of {training.get('folds')} time blocks (from "
                                  f"{windows.get('validate_from', '?')[:10]}), scored by a model "
                                  "grown on the older blocks only"))
    elif "fit" in split:
        out.append(("grown on", f"the fit window's labelled rows, {windows.get('start', '?')[:10]}"
                                f" to {windows.get('calibrate_from', '?')[:10]}: "
                                f"{split['fit'].get('labelled', 0):,} inspections, "
                                f"{plural(split['fit'].get('seizures', 0), 'seizure')} (the "
                                "newer rows calibrated and validated it)"))
    if training:
        chosen = {k: training.get(k) for k in DEFAULT_CHOICES}
        same = chosen == {k: getattr(TrainConfig(), k) for k in DEFAULT_CHOICES}
        settings = ", ".join(f"{k} {v}" for k, v in chosen.items())
        out.append(("chosen by", (f"the pipeline's defaults ({settings}), chosen by backtest "
                                  "on every generated variant in benchmarks/quality.py"
                                  if same else f"settings given at training ({settings}); "
                                  "the defaults are chosen in benchmarks/quality.py")))
    else:
        out.append(("chosen by", "not recorded (a model saved before backtests)"))
    backtest = manifest.get("backtest")
    if backtest:
        for row in backtest.get("summary", []):
            out.append((f"backtest at {row['budget']:.0%}",
                        f"estimated recall {row.get('recall', float('nan')):.1%} "
                        f"± {row.get('recall_sd', float('nan')):.1%} over {row['origins']} "
                        f"origins of {backtest['config']['horizon_days']} days"))
    return out


#: the TrainConfig fields a backtest chooses (recorded in the manifest's ``training``)
DEFAULT_CHOICES = ("calibration", "weighting", "trees", "half_life_days")
