"""Training: crossing logs in, a calibrated RiskModel and its manifest out.

Steps: read and check the logs; compute point-in-time features for every
outbound row (every row of the logs is history); keep the inspected rows with a
resolved outcome, weighted by ``1 / selection_probability`` so they stand for all
outbound traffic; split by time into fit / calibrate / validate; grow the trees
on the first part, calibrate on the second, evaluate on the third.

This module is the orchestration; beside it: :mod:`training.config` (what to train
on and how), :mod:`training.sources` (reading the logs), :mod:`training.logs` (the
outbound rows in memory; :mod:`training.fit_dask` on a cluster),
:mod:`training.provenance` (code and library versions) and :mod:`training.wording`
(warnings, how a model was grown). The manifest's fields are
:class:`models.manifest.Manifest`'s.
"""
from __future__ import annotations

import hashlib
import time

import numpy as np

from models.manifest import Manifest
from scoring import contract
from scoring.features import DAY_US, FEATURES, feature_frame, resolve_exclusions
from scoring.model import RiskModel
from scoring.model.estimator import SELECTION_COLUMN
from scoring.wording import plural
# the names callers import from here, wherever they are defined
from training.config import (DEFAULT_CHOICES, MAX_RELATIVE_WEIGHT,  # noqa: F401
                             MIN_EFFECTIVE_SHARE, MIN_SEIZURES, TrainConfig)
from training.logs import InProcessLog
from training.provenance import code_version, libraries
from training.sources import SAME_CROSSING, describe_source, read_logs  # noqa: F401
from training.wording import (few_seizure_warnings, how_grown,  # noqa: F401
                              iso_utc, thin_weights_warning)


class TrainingError(Exception):
    """The data cannot give a model (too few labels, empty window); says why."""


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
    """Progress lines stamped with the seconds since training began."""

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


def fit_log(log, config=None, clock=None, sources=(), rows=None):
    """Fit a model on a log's outbound rows with features: a
    :class:`training.logs.OutboundLog`, in memory (:class:`~training.logs.InProcessLog`)
    or on a cluster (:class:`training.fit_dask.DaskLog`)."""
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
    unlogged = int(labelled_rows["selection_probability"].isna().sum())
    learn_picks = config.picks == "learnt" or (config.picks == "auto" and unlogged > 0)
    X_all = X_labelled[list(FEATURES)]
    if learn_picks:  # how each was picked beside its features: the trees learn the pick
        # as an input and score as a random draw (RiskModel's learn_picks)
        X_all = X_all.assign(
            **{SELECTION_COLUMN: labelled_rows["referral"].astype(object).to_numpy()})
    # A feature with no value on any labelled row has nothing to teach (and the trees'
    # binning in scikit-learn 1.9 fails on an all-missing column): leave it out.
    empty = tuple(f for f in FEATURES if f not in exclude and X_all[f].isna().all())
    if empty:
        clock.step("features with no value on the labelled rows, left out: " + ", ".join(empty))

    def new_model(**fixed):
        params = {**config.params, **fixed}
        increasing = tuple(f for f in config.increasing if f not in exclude + empty)
        return RiskModel(exclude=tuple(sorted(exclude + empty)), random_state=config.seed,
                         increasing=increasing, learn_picks=learn_picks, **params)

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
    manifest = Manifest(
        contract_version=contract.VERSION,
        code_version=code_version(),
        features=list(model.features_),
        excluded_features=list(exclude),
        features_without_values=list(empty),
        categories=model.encoder_.categories_,
        params=model.get_params(),
        training={"calibration": config.calibration, "weighting": config.weighting,
                  "trees": config.trees, "increasing": list(config.increasing),
                  "half_life_days": config.half_life_days, "picks": config.picks,
                  "picks_unlogged": unlogged,
                  "folds": config.folds if config.calibration == "crossfit" else None,
                  "seed": config.seed, **detail, "engine": log.engine,
                  # the picks the trees learnt from as an input, every crossing scored
                  # as the neutral one (None: the features alone)
                  "selection_streams": list(model.streams) if model.streams else None},
        trees=int(model.booster_.n_iter_),
        calibration={"method": method,
                     "slope": model.calibration_[0], "intercept": model.calibration_[1]},
        data={
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
        warnings=warnings,
        score_quantiles=quantiles,
        metrics={"validation": metrics},
        libraries=libraries(),
        training_seconds=round(clock.elapsed(), 1))
    return model, manifest.to_dict()


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
        return {"start": iso_utc(first), "calibrate_from": iso_utc(cuts[0]),
                "validate_from": iso_utc(cuts[1]), "end": iso_utc(last)}
    return {"start": iso_utc(first), "validate_from": iso_utc(cuts[-1]),
            "end": iso_utc(last), "blocks_from": [iso_utc(c) for c in cuts]}
