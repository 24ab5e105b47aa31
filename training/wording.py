"""The words training says: its warnings, and how a model was grown.

The warnings go in the manifest and are printed once by whoever shows the result;
:func:`how_grown` is read by the model card and ``southbound models show``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from models.manifest import Manifest
from scoring.features import DAY_US
from scoring.wording import plural
from training.candidates import plain_facts
from training.config import DEFAULT_CHOICES, MIN_EFFECTIVE_SHARE, TrainConfig
from training.monitoring import FEW_SEIZURES


def iso_utc(micros):
    """A UTC time in µs as ISO 8601 (``2025-01-31T00:00:00+00:00``)."""
    return pd.Timestamp(int(micros), unit="us", tz="UTC").isoformat()


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
           f"{iso_utc(points[where])[:10]} to {iso_utc(points[where + 1])[:10]}" if len(gaps) else "")
    why = (f"the {half_life_days:g}-day half-life counts every row's age from the newest "
           f"outbound row ({iso_utc(newest)[:10]})" if half_life_days else "a few rows carry "
           "most of the weight")
    return (f"the training weights are worth {effective:,.0f} of the {len(weight):,} labelled "
            f"rows (effective sample {effective / len(weight):.1%}, under "
            f"{share:.0%}): {why}{gap}; train on one stretch of time (--until the gap's "
            "start) or add the missing rows")


def _picks(training):
    """How the trees treated the way each inspection was picked (a manifest's
    ``training``), in words; None for a model saved before the choice was recorded."""
    streams, picks = training.get("selection_streams"), training.get("picks")
    if streams:
        text = (f"learnt: how each inspection was picked ({', '.join(streams)}) is an input "
                "of the trees, and every crossing is scored as a random draw")
        if picks == "auto":
            text += (f" ({plural(training.get('picks_unlogged'), 'inspection')} without a "
                     "selection probability in the log)")
        return text
    if not picks:
        return None
    if picks == "auto" and not training.get("picks_unlogged"):
        return ("the features alone (the log gives every inspection's selection "
                "probability, which weighs the picks)")
    if picks == "ignored" or not training.get("picks_unlogged"):
        return "the features alone"
    return ("the features alone (no random draw among the inspections, or no other pick, "
            "to tell them by)")


def how_grown(manifest):
    """(label, text) pairs saying how a model was chosen and which rows grew it, for the
    model card and ``models show``; models saved before cross-fitting say what they knew.
    """
    record = Manifest.from_dict(manifest)
    training, data = record.training, record.data
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
    picks = _picks(training)
    if picks:
        out.append(("picks", picks))
    backtest = record.extra.get("backtest")
    if backtest:
        for row in backtest.get("summary", []):
            out.append((f"backtest at {row['budget']:.0%}",
                        f"estimated recall {row.get('recall', float('nan')):.1%} "
                        f"± {row.get('recall_sd', float('nan')):.1%} over {row['origins']} "
                        f"origins of {backtest['config']['horizon_days']} days"))
    return out + plain_facts(backtest)
