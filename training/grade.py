"""Every registered version graded on one common window, so that figures tell them apart.

Each manifest's own validation figures come from that model's own, often small,
window: models trained on the same log share it and show the same recall, and
models trained on different logs cannot be compared at all. :func:`grade_versions`
scores one window of a log with every version and evaluates each with
:func:`training.evaluate.evaluate_scores`: same crossings, same inspections, same
seizures. By default the window starts where the latest training window ends, so
that no version has learnt from it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from scoring.features import FEATURES, feature_frame
from training.evaluate import evaluate_scores
from training.monitoring import FEW_SEIZURES


class GradeError(ValueError):
    """No common window to grade on (no versions, or no outbound rows in it); says why."""


def common_start(manifests):
    """UTC µs where the latest training window ends (the first instant no version saw)."""
    ends = [pd.Timestamp(m["data"]["windows"]["end"]) for m in manifests
            if m.get("data", {}).get("windows", {}).get("end")]
    if not ends:
        raise GradeError("no version records its training window: pass --since")
    return int(max(ends).value // 1000) + 1


def grade_versions(registry, frame, since=None, budget=0.01):
    """Grade every version of ``registry`` on the outbound rows of ``frame`` from ``since``.

    Parameters
    ----------
    registry : models.registry.Registry
    frame : DataFrame
        Canonical crossing log; every row is history, outbound rows from ``since`` on
        are graded.
    since : int, optional
        UTC µs; default :func:`common_start` of the versions.
    budget : float
        The budget whose row is reported.

    Returns
    -------
    window : dict
        ``start``, ``end`` (UTC µs), ``rows``, ``inspected``, ``seizures`` and ``few``
        (fewer than :data:`~training.monitoring.FEW_SEIZURES` seizures).
    grades : list of dict
        Per version, oldest first: ``version``, ``manifest`` and ``row`` (the budget's
        row of :func:`~training.evaluate.evaluate_scores`), or ``error`` when the
        version does not load.

    Raises
    ------
    GradeError
        No versions, or no outbound crossing in the window.

    Examples
    --------
    >>> window, grades = grade_versions(Registry("var/registry"), frame)   # doctest: +SKIP
    """
    from models.registry import RegistryError
    manifests = registry.versions()
    if not manifests:
        raise GradeError(f"no models in {registry.root}")
    since = common_start(manifests) if since is None else since
    times = frame["crossed_at"].to_numpy(np.int64)
    query = (frame["direction"] == "outbound").to_numpy() & (times >= since)
    if not query.any():
        raise GradeError(f"no outbound crossings from {_iso(since)} on to grade the models "
                         "on (by default the window starts where the latest training "
                         "window ends): pass --since or a later log")
    feats = feature_frame(frame, query)
    outbound = frame.loc[feats.index]
    X = feats[list(FEATURES)]
    window, grades = None, []
    for manifest in manifests:
        version = manifest["version"]
        try:
            model, _ = registry.load(version)
        except RegistryError as exc:
            grades.append({"version": version, "manifest": manifest, "error": str(exc)})
            continue
        report = evaluate_scores(model.predict_proba(X)[:, 1], outbound, feats)
        if window is None:
            window = {"start": int(times[query].min()), "end": int(times[query].max()),
                      "rows": report["rows"], "inspected": report["inspected"],
                      "seizures": report["seizures"],
                      "few": report["seizures"] < FEW_SEIZURES}
        row = next(r for r in report["budgets"] if r["budget"] == budget)
        grades.append({"version": version, "manifest": manifest, "row": row})
    if window is None:
        raise GradeError("no version loads: " + "; ".join(g["error"] for g in grades))
    return window, grades


def _iso(micros):
    return pd.Timestamp(int(micros), unit="us", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")
