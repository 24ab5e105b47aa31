"""Score a window, then grade it: one model (:func:`evaluate_window`) or every version.

:func:`evaluate_window` is the one place where a model's scores of a window of a log
become the evaluation report of :func:`training.evaluate.evaluate_scores`: the
command line's ``evaluate``, ``models list --data``, the model report and the quality
tests call it.

Each manifest's own validation figures come from that model's own, often small,
window: models trained on the same log share it and show the same recall, and
models trained on different logs cannot be compared at all. :func:`grade_versions`
scores one window of a log with every version and evaluates each with
:func:`evaluate_window`: same crossings, same inspections, same seizures. By default
the window starts where the latest training window ends, so that no version has
learnt from it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.contract import format_timestamp
from scoring.wording import plural
from training.evaluate import Labels, evaluate_scores, propensity
from training.monitoring import FEW_SEIZURES, few_seizures_note
from training.window import EmptyWindow, Window, window_rows


@dataclass(frozen=True)
class Evaluation:
    """One model graded on one window: what :func:`evaluate_window` returns.

    ``scores`` and ``pi`` (the rows' selection probabilities, as the weights use them)
    have shape (n,) over ``window``'s rows; ``truth`` is the truth frame of those rows
    (None without one); ``report`` is :func:`~training.evaluate.evaluate_scores`'s
    report plus ``model_version``, ``window`` (``from``, ``to``, ``why``, ``warning``)
    and ``warnings`` (:func:`few_seizures_warnings`).
    """

    window: Window
    scores: np.ndarray
    pi: np.ndarray
    truth: pd.DataFrame | None
    report: dict

    @property
    def labels(self):
        """The labelled view of the window's rows (:class:`~training.evaluate.Labels`)."""
        return Labels(self.window.outbound, self.pi)


def evaluate_window(model, manifest, frame=None, since=None, *, window=None, truth=None,
                    allow_seen=False, seed=0):
    """Score the graded window of ``frame`` with ``model``, then grade the scores.

    Parameters
    ----------
    model : RiskModel
    manifest : dict
        The model's registry manifest: it says which rows its trees grew on.
    frame : DataFrame, optional
        Canonical crossing log; every row is history, the outbound rows of
        :func:`training.window.graded_window` are graded (never rows the model's trees
        grew on, unless ``allow_seen``).
    since : int, optional
        UTC µs given by the user (moved past the rows the trees grew on, with a warning).
    window : Window, optional
        Rows already chosen (:func:`training.window.window_rows`), instead of ``frame``
        and ``since``: several models graded on one window share its features.
    truth : callable, optional
        Given the window's outbound rows, their latent truth: a DataFrame on the same
        index with a bool column ``carrier``; adds the true catch.
    allow_seen : bool
        Passed to :func:`~training.window.graded_window` (the report's reading).

    Returns
    -------
    Evaluation

    Raises
    ------
    NothingUnseen
        The log has no outbound row the model's trees never saw.
    EmptyWindow
        No outbound row in the window.

    Examples
    --------
    >>> model, manifest = Registry("var/registry").load()          # doctest: +SKIP
    >>> result = evaluate_window(model, manifest, read_log("w.csv").frame)  # doctest: +SKIP
    >>> print(format_report(result.report))                        # doctest: +SKIP
    """
    if window is None:
        window = window_rows(frame, since, manifest, allow_seen=allow_seen)
    truth_rows = truth(window.outbound) if truth is not None else None
    scores = window.score(model)
    pi = propensity(window.outbound, window.features, seed)
    report = evaluate_scores(scores, window.outbound, window.features, truth=truth_rows,
                             seed=seed, pi=pi)
    report["model_version"] = manifest.get("version")
    report["window"] = {"from": format_timestamp(window.start),
                        "to": format_timestamp(window.end), "why": window.why,
                        "warning": window.warning}
    report["warnings"] = few_seizures_warnings(report)
    return Evaluation(window, scores, pi, truth_rows, report)


def few_seizures_warnings(report):
    """Warnings for an evaluation whose figures rest on few seizures, or have an interval
    without width (such as [100%, 100%]: too few seizures to vary, not certainty)."""
    n = report["seizures"]
    out = [few_seizures_note(n, "every figure of this window") + f" ({report['inspected']:,} "
           "inspected)"] if n < FEW_SEIZURES else []
    for row in report["budgets"]:
        for name in ("recall", "hit_rate"):
            lo, hi = row.get(f"{name}_ci", [float("nan")] * 2)
            if lo == hi:  # NaN never equals itself: no interval, no warning
                out.append(f"{name.replace('_', ' ')} at {row['budget']:.1%}: interval "
                           f"[{lo:.1%}, {hi:.1%}] has no width, on {plural(n, 'seizure')}: "
                           "unstable")
    return out


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
    try:
        rows = window_rows(frame, since)
    except EmptyWindow:
        raise GradeError(f"no outbound crossings from {_iso(since)} on to grade the models "
                         "on (by default the window starts where the latest training "
                         "window ends): pass --since or a later log") from None
    window, grades = None, []
    for manifest in manifests:
        version = manifest["version"]
        try:
            model, _ = registry.load(version)
        except RegistryError as exc:
            grades.append({"version": version, "manifest": manifest, "error": str(exc)})
            continue
        report = evaluate_window(model, manifest, window=rows).report
        if window is None:
            window = {"start": rows.start, "end": rows.end,
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
