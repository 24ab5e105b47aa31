"""The model report: one self-contained HTML page on a model and recent traffic.

Sections: the model card; recall and hit rate against the inspection budget for
this model, the model in service, the policy in force and random; calibration;
feature importance; drift (score distribution and PSI per feature against the
training window); who this model would refer at each port's capacity, by plate
country and by port, beside the policy in force (referral rate, hit rate, catch); the
outcome test of the policy in force by port and by plate country, split by
referral source. Estimates from labels use the Horvitz-Thompson weights of
:mod:`training.evaluate`, since only inspected crossings have outcomes. The page
needs nothing beyond itself: figures are inline PNGs, the style sheet is inline.
The drift and outcome-test statistics live in :mod:`training.monitoring`.

This module assembles the window (:class:`ReportWindow`, graded by
:func:`training.grade.evaluate_window`) and the page; the sections are written in
:mod:`training.report_sections`, the model card in :mod:`training.report_card`, the
figures in :mod:`training.report_plots`.
"""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd

from scoring.features import FEATURES, feature_frame
from scoring.policy import PolicyConfig
from scoring.reasons import port_name
from training.grade import evaluate_window
from training.monitoring import MIN_CELL, capacity_picks
from training.report_card import model_card, switched_off_text
from training.report_plots import page
from training.report_sections import (IN_FORCE, budget_section, calibration_section,
                                      comparison_section, drift_section, importance_section,
                                      outcome_section, referral_section)
from training.report_sections import unstable as _unstable  # noqa: F401  (test_small_samples)
from training.window import EmptyWindow, window_rows


class ReportError(ValueError):
    """There is nothing to report on (no outbound rows in the window); says why."""


class ReportWindow:
    """The evaluated outbound rows, scored and graded, and the training-window reference.

    ``rows``: the window already chosen (:func:`training.window.window_rows`), else the
    outbound rows of ``frame`` from ``since``; its warning is the report's ``overlap``.
    """

    def __init__(self, model, manifest, frame, since, reference_frame, active, rows=None):
        if not len(frame):
            raise ReportError("no crossings to report on")
        if rows is None:
            try:
                rows = window_rows(frame, since)
            except EmptyWindow:
                raise ReportError("no outbound crossings to report on"
                                  + (f" from {_iso(since)} on" if since is not None else "")
                                  ) from None
        self.evaluation = evaluate_window(model, manifest, window=rows)
        self.feats, self.outbound = rows.features, rows.outbound
        self.scores, self.pi = self.evaluation.scores, self.evaluation.pi
        self.labels = self.evaluation.labels
        self.active_scores = rows.score(active) if active is not None else None
        self.overlap = rows.warning
        ref = reference_frame if reference_frame is not None else frame
        old = (ref["direction"] == "outbound").to_numpy()
        if since is not None:
            old = old & (ref["crossed_at"].to_numpy(np.int64) < since)
        self.ref_feats = feature_frame(ref, old) if old.any() else self.feats.iloc[:0]
        self.ref_scores = (model.predict_proba(self.ref_feats[list(FEATURES)])[:, 1]
                           if len(self.ref_feats) else np.array([]))
        self.start, self.end = rows.start, rows.end
        hits = self.labels.y * self.labels.weight
        self.prevalence = hits.sum() / max(self.labels.n, 1)


def build_report(model, manifest, frame, *, active=None, training_frame=None, since=None,
                 min_cell=MIN_CELL, policy=None, comparison=None):
    """The model report as one self-contained HTML page.

    Parameters
    ----------
    model : RiskModel
    manifest : dict
        The model's registry manifest.
    frame : DataFrame
        Canonical crossing log; every row is history, the outbound rows that
        crossed at or after ``since`` are evaluated.
    active : (RiskModel, dict), optional
        The model in service, drawn on the same curves.
    training_frame : DataFrame, optional
        Where the drift reference comes from (its outbound rows before ``since``);
        default ``frame`` itself.
    since : int, optional
        UTC µs; default the window ``evaluate`` grades (the rows after the training
        data, else the model's held-out window or newest block, with its warning).
    min_cell : int
        Outcome-test cells with fewer inspected rows are suppressed.
    policy : PolicyConfig, optional
        Each port's capacity, at which the referral sections pick this model's (and
        the other policies') referrals; default the built-in policy (2% everywhere).
    comparison : dict, optional
        The latest off-policy comparison of this model in shadow against the model in
        service (:func:`training.compare.compare`, as the registry keeps it): its own
        section; without it the section says how to make one.

    Returns
    -------
    str
        UTF-8 HTML, images as ``data:image/png;base64`` URIs, no external assets.

    Raises
    ------
    ReportError
        No outbound crossing in the window.

    Examples
    --------
    >>> model, manifest = Registry("var/registry").load()            # doctest: +SKIP
    >>> page = build_report(model, manifest, read_log("w.csv").frame)  # doctest: +SKIP
    """
    rows = None
    if since is None and manifest.get("data", {}).get("windows"):
        # the window evaluate grades by default, and its warning when the trees saw it
        try:
            rows = window_rows(frame, manifest=manifest, allow_seen=True)
        except EmptyWindow:
            pass  # every outbound row, from no start
        else:
            since = rows.start
    active_model, active_manifest = active if active is not None else (None, None)
    if active_model is model or (manifest.get("version") is not None and active_manifest
                                 and active_manifest.get("version") == manifest["version"]):
        active_model = None  # this model is the one in service: one curve, not two
    w = ReportWindow(model, manifest, frame, since, training_frame, active_model, rows)
    policy = policy or PolicyConfig()
    ports = w.feats["port_code"].astype(str).to_numpy()
    picks = {"this model": capacity_picks(w.scores, ports, policy.capacity_of)}
    if w.active_scores is not None:
        picks["model in service"] = capacity_picks(w.active_scores, ports, policy.capacity_of)
    picks[IN_FORCE] = capacity_picks(w.pi, ports, policy.capacity_of)
    by_port = np.array([f"{c} {port_name(c)}" for c in ports], dtype=object)
    by_country = w.feats["plate_country"].fillna("not recorded").astype(str).to_numpy()
    sections = [
        ("card", "Model card", model_card(manifest, w)),
        ("budget", "Budget curves: recall and hit rate", budget_section(w, active_manifest)),
        ("calibration", "Calibration", calibration_section(w)),
        ("importance", "Feature importance", importance_section(model, manifest, w)),
        ("drift", "Drift: recent traffic against training", drift_section(model, w)),
        ("referrals-country", "Who this model would refer, by plate country",
         referral_section(w, by_country, picks, policy, manifest, min_cell, "plate country")),
        ("referrals-port", "Who this model would refer, by port",
         referral_section(w, by_port, picks, policy, manifest, min_cell, "port")),
    ]
    for key, title, groups, what in (
            ("outcome-port", "Outcome test of the policy in force, by port", by_port, "port"),
            ("outcome-country", "Outcome test of the policy in force, by plate country",
             by_country, "plate country")):
        sections.append((key, title, outcome_section(w, groups, min_cell, title, what)))
    sections.append(("shadow", "Off-policy comparison in shadow with the model in service",
                     comparison_section(comparison, manifest, active_manifest)))
    version = manifest.get("version", "unsaved model")
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return page(f"Model report: {version}",
                f"Made {made}; outbound crossings from {_iso(w.start)} to {_iso(w.end)}; "
                f"features switched off: {switched_off_text(manifest)}.",
                sections)


def _iso(micros):
    return pd.Timestamp(int(micros), unit="us", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")
