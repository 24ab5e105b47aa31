"""Backtest: the one measure of a training pipeline.

Rolling origins over one log. At each origin the pipeline is trained on every row
before it (the same :func:`training.fit.fit_features` as ``train``) and graded on
the horizon after it: at each inspection budget (the top share of the horizon's
outbound crossings by score) the Horvitz–Thompson estimate of recall from the
inspected rows, with its bootstrap interval, and, on a log with the generator's
truth, the true recall (the share of every carrier in the horizon that the picks
hold). Features are computed once for the whole log: a row's features see only
rows strictly before it, so they are the same whatever the origin.

The same grading serves any scorer (:func:`grade_horizon`), so the benchmark grades
the plain baseline's scores with it too. Given a plain candidate
(:func:`training.config.plain_candidate`), each origin also trains it on the same rows
and features and compares the two on the same horizon (:mod:`training.candidates`):
whether the pipeline is better than its plain self on this log, or the log cannot tell.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from scoring.features import DAY_US, FEATURES, feature_frame
from scoring.wording import number
from training.candidates import format_plain, paired_horizon, pool
from training.config import PLAIN_DESCRIPTION
from training.evaluate import Labels, propensity, selection_metrics, top_k
from training.fit import TrainConfig, TrainingError, canonical_order, fit_features

#: the budgets a backtest grades at unless told
BUDGETS = (0.01, 0.02)


@dataclass(frozen=True)
class BacktestConfig:
    """Where the origins fall and what is graded.

    The last origin leaves one whole ``horizon_days`` before the log's last day;
    the others come ``step_days`` (default the horizon) earlier each. Origins fall
    on UTC midnight.
    """

    origins: int = 3
    horizon_days: int = 30
    step_days: int | None = None
    budgets: tuple = BUDGETS

    def __post_init__(self):
        if not (isinstance(self.origins, int) and self.origins >= 1):
            raise ValueError(f"origins {self.origins!r} is not a positive integer")
        if not (isinstance(self.horizon_days, int) and self.horizon_days >= 1):
            raise ValueError(f"horizon {self.horizon_days!r} is not a positive number of days")


def origins_for(times, config):
    """UTC µs of each origin, oldest first (see :class:`BacktestConfig`).

    Raises TrainingError, naming the log's span and the span the origins need, when
    the earliest origin leaves no outbound row before it to train on.
    """
    times = np.asarray(times, dtype=np.int64)
    step = config.step_days or config.horizon_days
    needed = config.horizon_days + step * (config.origins - 1)
    if not times.size:
        raise TrainingError("the log has no outbound rows to backtest on")
    first_day = int(times.min()) // DAY_US
    last_day = int(times.max()) // DAY_US + 1          # the day after the log's last row
    last = last_day - config.horizon_days
    origins = [(last - step * (config.origins - 1 - i)) * DAY_US
               for i in range(config.origins)]
    if origins[0] <= int(times.min()):
        day = lambda d: pd.Timestamp(d * DAY_US, unit="us", tz="UTC").strftime("%Y-%m-%d")  # noqa: E731
        plural = "s" if config.origins > 1 else ""
        spacing = f" {step} days apart" if config.origins > 1 else ""
        raise TrainingError(
            f"the log spans {last_day - first_day} days ({day(first_day)} to "
            f"{day(last_day - 1)}): {config.origins} origin{plural}{spacing} with a "
            f"{config.horizon_days}-day horizon need more than {needed} days, so that the "
            f"earliest origin ({day(origins[0] // DAY_US)}) has days before it to train on; "
            "give fewer --origins, a shorter --horizon or --step, or a longer log")
    return origins


def truth_carriers(truth, crossing_ids):
    """Bool array: which of ``crossing_ids`` really carried (the truth file's ``carrier``)."""
    carrier = truth.set_index("crossing_id")["carrier"]
    if carrier.dtype != bool:
        carrier = carrier.astype(str).str.strip().str.lower().isin(("true", "1"))
    return carrier.reindex(pd.Index(crossing_ids)).fillna(False).to_numpy(bool)


def grade_horizon(scores, outbound, features=None, carriers=None, budgets=BUDGETS, seed=0,
                  pi=None):
    """One scorer's figures on one horizon of outbound rows.

    Parameters
    ----------
    scores : array, shape (n,)
    outbound : DataFrame, shape (n, contract columns)
    features : DataFrame, optional
        For the propensity estimate where ``selection_probability`` is empty.
    carriers : array of bool, shape (n,), optional
        The truth: adds ``true_recall`` and ``true_hit_rate``.
    pi : array, shape (n,), optional
        The rows' selection probabilities, where the caller has them already
        (default: :func:`training.evaluate.propensity` of the rows).

    Returns
    -------
    list of dict, one per budget
    """
    scores = np.asarray(scores, dtype=float)
    labels = Labels(outbound, horizon_propensity(outbound, features, seed) if pi is None
                    else pi)
    rows = []
    for budget in budgets:
        chosen = top_k(scores, budget, seed)
        m = selection_metrics(chosen, labels, seed=seed)
        row = {"budget": budget, "picked": int(chosen.sum()), "recall": m["recall"],
               "recall_ci": m.get("recall_ci", [math.nan, math.nan]),
               "hit_rate": m["hit_rate"], "seizures_behind": m["seizures_behind"],
               "unstable": m["unstable"]}
        if carriers is not None:
            row["true_carriers"] = int(carriers.sum())
            row["true_caught"] = int(carriers[chosen].sum())
            row["true_recall"] = (float(carriers[chosen].sum() / carriers.sum())
                                  if carriers.any() else math.nan)
            row["true_hit_rate"] = float(carriers[chosen].mean()) if chosen.any() else math.nan
        rows.append(row)
    return rows


def horizon_propensity(outbound, features=None, seed=0):
    """The rows' selection probabilities: the log's, estimated where it has none."""
    numeric = None if features is None else features[list(FEATURES)]
    return propensity(outbound, numeric, seed)


class Prepared:
    """A log read once for backtesting: canonical order, outbound rows, their features."""

    def __init__(self, frame, truth=None):
        self.frame = canonical_order(frame)
        query = (self.frame["direction"] == "outbound").to_numpy()
        self.feats = feature_frame(self.frame, query)
        self.outbound = self.frame.loc[self.feats.index]
        self.times = self.outbound["crossed_at"].to_numpy(np.int64)
        self.row_times = self.frame["crossed_at"].to_numpy(np.int64)
        self.carriers = (None if truth is None
                         else truth_carriers(truth, self.outbound["crossing_id"]))

    def every_carrier_labelled(self):
        """The outbound rows as if every one had been inspected with its true label."""
        if self.carriers is None:
            raise ValueError("every-carrier-labelled needs the truth")
        n = len(self.outbound)
        return self.outbound.assign(inspected=np.ones(n), seizure=self.carriers.astype(float),
                                    selection_probability=np.ones(n))


def backtest(frame, truth=None, config=BacktestConfig(), train_config=TrainConfig(),
             progress=print, prepared=None, labels="observed", plain=None):
    """Rolling-origin backtest of the training pipeline on one log.

    Parameters
    ----------
    frame : DataFrame
        Canonical crossing log.
    truth : DataFrame, optional
        The generator's truth (``crossing_id``, ``carrier``): adds the true recall.
    config : BacktestConfig
    train_config : TrainConfig
        The pipeline under test (``until`` is set per origin).
    prepared : Prepared, optional
        The log with its features already computed (several pipelines, one log).
    labels : {"observed", "every-carrier"}
        ``every-carrier`` trains on every outbound row with its true label: the limit
        of the features and the training, whatever the labels (needs ``truth``).
    plain : TrainConfig, optional
        The plain candidate (:func:`training.config.plain_candidate`), trained beside
        the pipeline at every origin on the same rows and features; about doubles the
        time spent fitting.

    Returns
    -------
    dict
        ``origins`` (per origin: its date, training counts, per-budget figures, or the
        reason the data refused), ``summary`` (per budget: mean and spread over the
        origins that trained), the configs, and with ``plain`` the comparison
        (``plain``: the candidate, per origin and pooled with the verdict,
        :func:`training.candidates.pool`).
    """
    prep = prepared or Prepared(frame, truth)
    outbound = prep.every_carrier_labelled() if labels == "every-carrier" else prep.outbound
    results, paired, replicates = [], [], []
    for origin in origins_for(prep.times, config):
        end = origin + config.horizon_days * DAY_US
        before = prep.times < origin
        horizon = (prep.times >= origin) & (prep.times < end)
        stamp = pd.Timestamp(origin, unit="us", tz="UTC").strftime("%Y-%m-%d")
        entry = {"origin": stamp, "horizon_outbound": int(horizon.sum())}
        try:
            model, manifest = fit_features(outbound.loc[before], prep.feats.loc[before],
                                           replace(train_config, until=origin),
                                           rows=int((prep.row_times < origin).sum()))
        except TrainingError as exc:
            entry["refused"] = str(exc)
            progress(f"origin {stamp}: no model ({exc})")
            results.append(entry)
            continue
        X = prep.feats.loc[horizon, list(FEATURES)]
        scores = model.predict_proba(X)[:, 1]
        entry["train"] = manifest["data"]["labelled"]
        entry["trees"] = manifest["trees"]
        entry["seconds"] = manifest["training_seconds"]
        carriers = None if prep.carriers is None else prep.carriers[horizon]
        pi = horizon_propensity(prep.outbound.loc[horizon], prep.feats.loc[horizon],
                                train_config.seed)
        entry["budgets"] = grade_horizon(scores, prep.outbound.loc[horizon], None, carriers,
                                         config.budgets, train_config.seed, pi=pi)
        progress(f"origin {stamp}: " + ", ".join(_figure(b) for b in entry["budgets"]))
        results.append(entry)
        if plain is None:
            continue
        try:  # the same rows as the pipeline's: it refuses only where the pipeline does
            plain_model, plain_manifest = fit_features(
                outbound.loc[before], prep.feats.loc[before], replace(plain, until=origin),
                rows=int((prep.row_times < origin).sum()))
        except TrainingError as exc:
            progress(f"origin {stamp}: no plain candidate ({exc})")
            continue
        rows, reps = paired_horizon(scores, plain_model.predict_proba(X)[:, 1],
                                    Labels(prep.outbound.loc[horizon], pi), pi,
                                    config.budgets, train_config.seed, carriers)
        paired.append({"origin": stamp, "trees": plain_manifest["trees"],
                       "seconds": plain_manifest["training_seconds"], "budgets": rows})
        replicates.append(reps)
        progress(f"origin {stamp}: the plain candidate " + ", ".join(
            f"recall@{r['budget']:.0%} est. {number(r['plain']['recall'], '{:.1%}')}"
            for r in rows))
    out = {"config": {"origins": config.origins, "horizon_days": config.horizon_days,
                      "step_days": config.step_days or config.horizon_days,
                      "budgets": list(config.budgets)},
           "pipeline": {"calibration": train_config.calibration,
                        "weighting": train_config.weighting, "folds": train_config.folds,
                        "exclude": list(train_config.exclude), "params": train_config.params,
                        "labels": labels},
           "origins": results, "summary": summarize(results, config.budgets)}
    if plain is not None:
        out["plain"] = {"candidate": PLAIN_DESCRIPTION,
                        "config": {"weighting": plain.weighting,
                                   "half_life_days": plain.half_life_days,
                                   "exclude": list(plain.exclude)},
                        "origins": paired, "summary": pool(paired, replicates, config.budgets)}
    return out


def _figure(row):
    text = f"recall@{row['budget']:.0%} est. {row['recall']:.1%}"
    if "true_recall" in row:
        text += f" true {row['true_recall']:.1%}"
    return text


def summarize(results, budgets):
    """Per budget, the mean and standard deviation over the origins that trained."""
    out = []
    for i, budget in enumerate(budgets):
        graded = [r["budgets"][i] for r in results if "budgets" in r]
        row = {"budget": budget, "origins": len(graded)}
        for key in ("recall", "hit_rate", "true_recall", "true_hit_rate"):
            values = np.array([g[key] for g in graded if key in g], dtype=float)
            values = values[np.isfinite(values)]
            if len(values):
                row[key] = float(values.mean())
                row[f"{key}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        out.append(row)
    return out


def format_backtest(result):
    """The backtest as a fixed-width table: one line per origin and budget, then the mean."""
    truth = any("true_recall" in b for r in result["origins"] for b in r.get("budgets", []))
    lines = [f"{'origin':<10} {'labelled':>8} {'seizures':>8} {'budget':>6} "
             f"{'est. recall':>21} {'hit rate':>8} {'behind':>6}"
             + (f" {'true recall':>11} {'true hit':>8}" if truth else "")]
    for r in result["origins"]:
        if "refused" in r:
            lines.append(f"{r['origin']:<10} no model: {r['refused']}")
            continue
        for b in r["budgets"]:
            ci = b["recall_ci"]
            line = (f"{r['origin']:<10} {r['train']['rows']:>8,} {r['train']['seizures']:>8,} "
                    f"{b['budget']:>6.1%} {b['recall']:>8.1%} [{ci[0]:>4.0%},{ci[1]:>4.0%}]"
                    f" {b['hit_rate']:>8.1%} {b['seizures_behind']:>5}{'!' if b['unstable'] else ' '}")
            if truth:
                line += f" {b.get('true_recall', math.nan):>11.1%} {b.get('true_hit_rate', math.nan):>8.1%}"
            lines.append(line)
    for s in result["summary"]:
        line = (f"{'mean':<10} {'':>8} {'':>8} {s['budget']:>6.1%} "
                f"{s.get('recall', math.nan):>8.1%} ±{s.get('recall_sd', math.nan):<11.1%}"
                f" {s.get('hit_rate', math.nan):>8.1%} {'':>6}")
        if truth:
            line += f" {s.get('true_recall', math.nan):>7.1%}±{s.get('true_recall_sd', math.nan):.1%}"
        lines.append(line)
    if any(b["unstable"] for r in result["origins"] for b in r.get("budgets", [])):
        lines.append("! the estimate rests on few labelled seizures: read the interval")
    if result.get("plain"):
        lines += [""] + format_plain(result["plain"])
    return "\n".join(lines)
