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
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from scoring.features import FEATURES, HELP, feature_frame
from scoring.policy import PolicyConfig
from scoring.reasons import port_name
from scoring.wording import plural
from training import report_plots as plots
from training.fit import how_grown
from training.evaluate import (BUDGETS, graded_window, Labels, calibration, propensity,
                               propensity_check,
                               selection_metrics, top_k)
from training.monitoring import (FEW_SEIZURES, MIN_CELL, PSI_ALERT, VALUES, capacity_picks,
                                 few_seizures_note, outcome_table, psi, referral_table)
from training.report_plots import ci, escape, img, lohi, num, page, pct, table

BUDGET_GRID = tuple(float(b) for b in np.geomspace(0.0025, 0.10, 20))
#: feature importance is averaged over at most this many evaluated rows
IMPORTANCE_ROWS = 20_000


#: what chose the inspections of the window (officers, random draws, the model in service)
IN_FORCE = "policy in force"


def _in_force_text(w):
    """Who the policy in force was, from the window's referral sources."""
    sources = set(w.outbound["referral"].dropna().astype(str)) - {"none"}
    if sources & {"model", "explore"}:
        return (" (here the model in service's referrals, with the random, exploration and "
                "lookout picks beside them)")
    if sources:
        return " (here the log's legacy policy: officers' picks and random draws)"
    return ""


def _own_picks_note(w):
    """Why the policy in force's own recall can read 100% [100%, 100%]."""
    taken = (w.pi >= 1.0) & w.labels.resolved
    if not taken.any() or not (w.labels.y[taken] > 0).any():
        return ""
    return ("<p class=warn>The policy in force is graded on the inspections it chose: a "
            "seizure it missed shows only among the random picks, so with few of them its "
            "recall reads near 100% with no spread. That is the random share's size, not "
            "a catch of every carrier.</p>")


class ReportError(ValueError):
    """There is nothing to report on (no outbound rows in the window); says why."""


class _Window:
    """The evaluated outbound rows and the training-window reference, scored."""

    def __init__(self, model, frame, since, reference_frame, active):
        outbound = (frame["direction"] == "outbound").to_numpy()
        times = frame["crossed_at"].to_numpy(np.int64)
        recent = outbound & (times >= since) if since is not None else outbound
        if not len(frame):
            raise ReportError("no crossings to report on")
        if not recent.any():
            raise ReportError("no outbound crossings to report on"
                              + (f" from {_iso(since)} on" if since is not None else ""))
        self.feats = feature_frame(frame, recent)
        self.outbound = frame.loc[self.feats.index]
        X = self.feats[list(FEATURES)]
        self.scores = model.predict_proba(X)[:, 1]
        self.pi = propensity(self.outbound, X)
        self.labels = Labels(self.outbound, self.pi)
        self.active_scores = (active.predict_proba(X)[:, 1] if active is not None else None)
        ref = reference_frame if reference_frame is not None else frame
        old = (ref["direction"] == "outbound").to_numpy()
        if since is not None:
            old = old & (ref["crossed_at"].to_numpy(np.int64) < since)
        self.ref_feats = feature_frame(ref, old) if old.any() else self.feats.iloc[:0]
        self.ref_scores = (model.predict_proba(self.ref_feats[list(FEATURES)])[:, 1]
                           if len(self.ref_feats) else np.array([]))
        self.start, self.end = int(times[recent].min()), int(times[recent].max())
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
    overlap = None
    if since is None and manifest.get("data", {}).get("windows"):
        # the window evaluate grades by default, and its warning when the trees saw it
        out_times = frame.loc[frame["direction"] == "outbound", "crossed_at"].to_numpy()
        graded, _, overlap = graded_window(manifest, out_times, allow_seen=True)
        since = int(out_times[graded].min()) if graded.any() else None
    active_model, active_manifest = active if active is not None else (None, None)
    if active_model is model or (manifest.get("version") is not None and active_manifest
                                 and active_manifest.get("version") == manifest["version"]):
        active_model = None  # this model is the one in service: one curve, not two
    w = _Window(model, frame, since, training_frame, active_model)
    w.overlap = overlap
    policy = policy or PolicyConfig()
    ports = w.feats["port_code"].astype(str).to_numpy()
    picks = {"this model": capacity_picks(w.scores, ports, policy.capacity_of)}
    if w.active_scores is not None:
        picks["model in service"] = capacity_picks(w.active_scores, ports, policy.capacity_of)
    picks[IN_FORCE] = capacity_picks(w.pi, ports, policy.capacity_of)
    by_port = np.array([f"{c} {port_name(c)}" for c in ports], dtype=object)
    by_country = w.feats["plate_country"].fillna("not recorded").astype(str).to_numpy()
    sections = [
        ("card", "Model card", _model_card(manifest, w)),
        ("budget", "Budget curves: recall and hit rate", _budget_section(w, active_manifest)),
        ("calibration", "Calibration", _calibration_section(w)),
        ("importance", "Feature importance", _importance_section(model, manifest, w)),
        ("drift", "Drift: recent traffic against training", _drift_section(model, w)),
        ("referrals-country", "Who this model would refer, by plate country",
         _referral_section(w, by_country, picks, policy, manifest, min_cell, "plate country")),
        ("referrals-port", "Who this model would refer, by port",
         _referral_section(w, by_port, picks, policy, manifest, min_cell, "port")),
    ]
    for key, title, groups, what in (
            ("outcome-port", "Outcome test of the policy in force, by port", by_port, "port"),
            ("outcome-country", "Outcome test of the policy in force, by plate country",
             by_country, "plate country")):
        sections.append((key, title, _outcome_section(w, groups, min_cell, title, what)))
    sections.append(("shadow", "Off-policy comparison in shadow with the model in service",
                     _comparison_section(comparison, manifest, active_manifest)))
    version = manifest.get("version", "unsaved model")
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return page(f"Model report: {version}",
                f"Made {made}; outbound crossings from {_iso(w.start)} to {_iso(w.end)}; "
                f"features switched off: {_switched_off_text(manifest)}.",
                sections)


# --- sections --------------------------------------------------------------

def _comparison_section(comparison, manifest, active_manifest):
    version = manifest.get("version", "this model")
    if comparison is None and active_manifest and active_manifest.get("version") == version:
        return (f"<p>{escape(version)} is the model in service: comparisons are made for a "
                "challenger against it. Put another version in shadow (<code>southbound models "
                "list</code> names them; <code>southbound models shadow VERSION</code>), let "
                "traffic and outcomes come in, run <code>southbound compare</code>, then read "
                "the challenger's report (<code>southbound report --model VERSION</code>).</p>")
    if comparison is None:
        return (f"<p>No comparison of {escape(version)} is kept. Score it in shadow "
                f"(<code>southbound models shadow {escape(version)}</code>), let traffic and "
                "outcomes come in, then run <code>southbound compare</code>.</p>")
    rows = []
    for name, m in comparison["models"].items():
        role = "champion" if name == comparison["champion"] else "challenger"
        rows.append([escape(f"{name} ({role})"), f"{m['referred']:,}",
                     ci(m["estimated_seizures_dr"], m["dr_ci"], fmt="{:.1f}"),
                     ci(m["estimated_seizures_ipw"], m["ipw_ci"], fmt="{:.1f}"),
                     ci(m["hit_rate_dr"], m.get("hit_rate_dr_ci")),
                     str(m["labelled_seizures"])])
    d, g, lab = comparison["difference"]["dr"], comparison["agreement"], comparison["labels"]
    notes = "".join(f"<p class=warn>{escape(w)}</p>" for w in comparison.get("warnings", []))
    stale = ""
    if active_manifest and comparison["champion"] != active_manifest.get("version"):
        stale = (f"<p class=warn>This comparison is against {escape(comparison['champion'])}, "
                 f"not the model in service now ({escape(active_manifest.get('version'))}).</p>")
    return (f"<p><b>{escape(comparison['verdict'])}</b></p>{stale}"
            + table(["model", "referred", "est. seizures (doubly robust)", "est. seizures (IPW)",
                     "hit rate (DR)", "labelled seizures in its list"], rows)
            + f"<p>Difference (DR): {ci(d['seizures'], d['seizures_ci'], fmt='{:+.1f}')} "
            f"seizures, {ci(d['relative'], d['relative_ci'], decimals=0)}. Agreement: "
            f"{g['both']:,} crossings in both lists, {g['champion_only']:,} only the "
            f"champion's, {g['challenger_only']:,} only the challenger's. From "
            f"{lab['crossings']:,} crossings scored by both ({escape(comparison.get('compared_at', '')[:16])}), "
            f"{lab['labelled']:,} referred with an outcome, {lab['labelled_seizures']} "
            f"seizures. Each inspected crossing is weighted by 1 / its logged selection "
            f"probability, so the model in service, which picked them, is not favoured.</p>"
            + notes)


def _unstable(interval, seizures):
    """A flag for an interval without width (such as [100%, 100%]): on a bootstrap that
    says the estimate rests on too few seizures to vary, not that it is certain."""
    if interval is None or not np.all(np.isfinite(interval)) or not np.isclose(*interval):
        return ""
    return f" <b class=warn>unstable: no spread on {plural(seizures, 'seizure')}</b>"


def _budget_section(w, active_manifest):
    seizures = int(w.labels.y.sum())
    policies = {"this model": w.scores}
    if w.active_scores is not None:
        policies["model in service"] = w.active_scores
    policies[IN_FORCE] = w.pi  # the policy in force ranks by its own selection probability
    curves, rows = {}, []
    for name, scores in policies.items():
        grid = [selection_metrics(top_k(scores, b), w.labels,
                                  n_boot=200 if name == "this model" else 0) for b in BUDGET_GRID]
        curve = {m: np.array([r[m] for r in grid]) for m in ("recall", "hit_rate")}
        if name == "this model":
            for m in ("recall", "hit_rate"):
                bounds = np.array([r.get(f"{m}_ci", [np.nan, np.nan]) for r in grid])
                curve[f"{m}_lo"], curve[f"{m}_hi"] = bounds[:, 0], bounds[:, 1]
        curves[name] = curve
        for b in BUDGETS:
            r = selection_metrics(top_k(scores, b), w.labels)
            hit_ci = r.get("hit_rate_ci")  # a weighted estimate can pass 100%; a rate cannot
            hit_ci = hit_ci and np.minimum(hit_ci, 1.0)
            rows.append([b, name, ci(r["recall"], r.get("recall_ci"))
                         + _unstable(r.get("recall_ci"), seizures),
                         ci(r["hit_rate"], hit_ci, 2) + _unstable(hit_ci, seizures),
                         f"{r['estimated_seizures']:.1f}"])
    curves["random"] = {"recall": np.array(BUDGET_GRID),
                        "hit_rate": np.full(len(BUDGET_GRID), w.prevalence)}
    rows += [[b, "random", pct(b), pct(w.prevalence, 2), f"{b * w.prevalence * w.labels.n:.1f}"]
             for b in BUDGETS]
    rows = [[f"{r[0]:.1%}"] + r[1:] for r in sorted(rows, key=lambda r: r[0])]
    note = ("<p class=warn>No seizure among the inspected crossings of this window: recall "
            "and hit rate cannot be estimated yet.</p>" if not seizures else
            f"<p class=warn>{escape(few_seizures_note(seizures, 'Every figure here'))}; "
            f"an interval without width is a sign of that, not of certainty.</p>"
            if seizures < FEW_SEIZURES else "")
    served = "" if active_manifest is None else (
        " This model is the one in service." if w.active_scores is None
        else f" The model in service is {escape(active_manifest.get('version', '?'))}.")
    return (f"<p>Estimated from inspected crossings weighted by 1 / selection probability "
            f"(Horvitz&ndash;Thompson); shaded: 95% bootstrap interval of this model. The "
            f"policy in force is whatever chose the inspections of this window"
            f"{_in_force_text(w)}, ranked by its own selection probability.{served} "
            f"Random inspection finds the estimated prevalence, {pct(w.prevalence, 3)}.</p>"
            + note + _own_picks_note(w)
            + img(plots.budget_curve(BUDGET_GRID, curves, "recall", "Share of all seizures "
                                     "caught"), "recall by budget")
            + img(plots.budget_curve(BUDGET_GRID, curves, "hit_rate", "Seizures per "
                                     "inspection"), "hit rate by budget")
            + table(["budget", "policy", "recall [95%]", "hit rate [95%]", "est. seizures"],
                    rows))


def _calibration_section(w):
    cal = calibration(w.scores, w.labels)
    rows = [[pct(b["mean_predicted"], 3), pct(b["observed"], 3), f"{b['rows']:,}",
             f"{b['weight']:,.0f}"] for b in cal["bins"]]
    seizures = int(w.labels.y.sum())
    few = few_seizures_note(seizures, "The calibration figure")
    return ((f"<p class=warn>{escape(few)}.</p>" if few else "")
            + f"<p>Inspected crossings in bins of equal weight, drawn on log axes (most "
            f"bins lie below 1%). Observed / expected "
            f"{num(cal['observed_over_expected'])}, ECE {num(cal['ece'], 4)}, "
            f"Brier {num(cal['brier'], 4)}.</p>"
            + img(plots.reliability(cal["bins"]), "reliability diagram")
            + table(["mean predicted", "observed", "inspected rows", "crossings represented"],
                     rows)
            + _propensity_section(w))


def _propensity_section(w):
    """The check of the estimated selection probabilities, where the log lacks some."""
    check = propensity_check(w.outbound, w.feats[list(FEATURES)])
    if check is None:
        return ("<h3>Selection probabilities</h3><p>Every inspected crossing of this window "
                "has its logged selection probability: none is estimated.</p>")
    rows = [[pct(b["mean_estimated"], 2), pct(b["inspected"], 2), f"{b['rows']:,}"]
            for b in check["bins"]]
    logged = check.get("logged")
    return ("<h3>Selection probabilities estimated where the log lacks them</h3>"
            f"<p>{check['estimated_rows']:,} outbound crossings have no logged selection "
            "probability; the weights use P(inspected | features) from a boosted classifier "
            "on this log instead. Among those crossings, in bins by estimate, the share "
            "actually inspected against the mean estimate (observed / expected "
            f"{num(check['observed_over_expected'])}; equal when the estimate is "
            "calibrated)."
            + (f" Where the log gives the probability ({logged['rows']:,} crossings), the "
               f"estimate's median ratio to it is {num(logged['median_ratio'])} and "
               f"{pct(logged['within_factor_2'])} are within a factor of two: the estimate "
               "sees the features only, so a policy that chose on something else is "
               "estimated badly." if logged else "")
            + "</p>" + table(["mean estimate", "inspected", "crossings"], rows))


def _importance_section(model, manifest, w):
    X = w.feats[list(FEATURES)]
    if len(X) > IMPORTANCE_ROWS:
        X = X.sample(IMPORTANCE_ROWS, random_state=0)
    _, contributions = model.explain(X)
    mean_abs = np.abs(contributions).mean(axis=0)
    off = manifest.get("excluded_features") or []
    return (f"<p>Mean absolute contribution of each feature to the raw score over "
            f"{len(X):,} evaluated crossings (path attribution of the trees).</p>"
            + img(plots.importance(list(model.features_), mean_abs), "feature importance")
            + (f"<p>Switched off, not used: {escape(', '.join(off))}.</p>" if off else ""))


def _drift_section(model, w):
    if not len(w.ref_scores):
        return ("<p class=warn>No outbound crossings before the evaluated window to compare "
                "with: drift cannot be measured on this data.</p>"
                + img(plots.score_histograms(w.ref_scores, w.scores), "score distribution"))
    names = ["risk score"] + list(model.features_)
    values = [psi(w.ref_scores, w.scores)] + [
        psi(w.ref_feats[f], w.feats[f], categorical=f in model.categorical_)
        for f in model.features_]
    order = np.argsort(values)[::-1]
    rows = [[escape(names[i]), f"{values[i]:.3f}",
             "<b class=warn>shifted</b>" if values[i] > PSI_ALERT else ""] for i in order]
    return (f"<p>Risk scores of the evaluated window ({len(w.scores):,} crossings) against the "
            f"{len(w.ref_scores):,} outbound crossings before it. PSI per feature: deciles of "
            f"the earlier window (categories for categorical features, missing as its own "
            f"bin); above {PSI_ALERT} is flagged. History features (days since first seen, "
            f"30-day counts) also shift when the log starts inside the earlier window, whose "
            f"first rows see little history.</p>"
            + img(plots.score_histograms(w.ref_scores, w.scores), "score distribution")
            + img(plots.psi_bars(names, values, PSI_ALERT), "PSI per feature")
            + table(["feature", "PSI", ""], rows))


def _switched_off_text(manifest):
    off = manifest.get("excluded_features") or []
    return ", ".join(off) if off else "none"


def _referral_section(w, groups, picks, policy, manifest, min_cell, what):
    cells = referral_table(w.labels, groups, picks, min_cell=min_cell)
    hidden = f"n &lt; {min_cell}"
    rate = {(c["group"], c["policy"]): c["referral_rate"] for c in cells}
    rows = []
    for c in cells:
        legacy = rate.get((c["group"], IN_FORCE))
        ratio = (f"{c['referral_rate'] / legacy:.2f}&times;" if legacy and
                 c["policy"] != IN_FORCE else "")
        head = [escape(c["group"]), escape(c["policy"]), f"{c['outbound']:,}",
                f"{c['referred']:,}", pct(c["referral_rate"], 2), ratio, f"{c['inspected']:,}"]
        if c["suppressed"]:
            rows.append(head + [f"<span class=muted>{hidden}</span>"] * 4)
            continue
        few = " <b class=warn>few: unstable</b>" if c["few_seizures"] else ""
        rows.append(head + [f"{c['seizures']:,}{few}",
                            ci(c["hit_rate"], lohi(c, "hit_rate"), 2),
                            ci(c["estimated_seizures"], lohi(c, "estimated_seizures"),
                               fmt="{:,.1f}"),
                            ci(c["recall"], lohi(c, "recall"))])
    off = manifest.get("excluded_features") or []
    plate = [f for f in ("plate_country", "plate_jurisdiction") if f not in off]
    seen = ("This model does <b>not</b> see where the plate was issued (switched off: "
            + ", ".join(f"<code>{escape(f)}</code>" for f in off) + ")." if not plate else
            "This model sees where the plate was issued ("
            + ", ".join(f"<code>{escape(f)}</code>" for f in plate) + " used; switched off: "
            + (", ".join(f"<code>{escape(f)}</code>" for f in off) if off else "none") + ").")
    capacities = sorted({policy.capacity_of(p) for p in w.feats["port_code"].astype(str)})
    shown = [c for c in cells if not c["suppressed"] and c["group"] != "all"]
    figure = (img(plots.referral_comparison(shown, list(picks), what), f"referrals by {what}")
              if shown else f"<p class=muted>No {what} has {min_cell} or more inspected "
                            "crossings among a policy's picks: nothing to draw.</p>")
    return (f"<p>{seen} Each policy refers, at every port, its highest-ranked share of the "
            f"port's outbound crossings up to the port's capacity "
            f"({', '.join(pct(c, 1) for c in capacities)} of outbound traffic here): this "
            f"model by its score"
            + (", the model in service by its own" if "model in service" in picks else "")
            + ", the policy in force by its own selection probability. Per "
            f"{escape(what)}: the share of its crossings referred (and against the policy in "
            f"force's), then, from the inspected crossings among the referrals weighted by "
            f"1 / selection probability, the hit rate (H&aacute;jek), the seizures caught "
            f"(Horvitz&ndash;Thompson) and their share of the {escape(what)}'s seizures, each "
            f"with a 95% bootstrap interval. A {escape(what)} referred more often than under "
            f"the policy in force with a lower hit rate is referred on weaker evidence. Cells "
            f"with fewer than {min_cell} inspected crossings among the referrals are "
            f"suppressed ({hidden}); a figure resting on fewer than {FEW_SEIZURES} seizures "
            f"is flagged as unstable.</p>"
            + figure
            + table([what, "policy", "outbound", "referred", "referral rate", "vs policy in force",
                     "inspected", "seizures", "hit rate [95%]", "est. seizures [95%]",
                     f"share of the {what}'s seizures [95%]"], rows))


def _outcome_section(w, groups, min_cell, title, what="group"):
    cells = outcome_table(w.outbound, groups, min_cell=min_cell)
    if not cells:
        return "<p class=warn>No referred crossings in this window.</p>"
    hidden = f"n &lt; {min_cell}"
    rows = []
    # the groups' suppressed cells in one row, not one row each
    small = [c for c in cells if c["suppressed"] and c["group"] != "all"]
    for c in cells:
        head = [escape(c["group"]), escape(c["source"]), f"{c['outbound']:,}"]
        if c["suppressed"] and c["group"] != "all":
            continue
        if c["suppressed"]:
            rows.append(head + [f"<span class=muted>{hidden}</span>"] * 7)
            continue
        flag = " <b class=warn>&#9660; below others</b>" if c.get("below_others") else ""
        if c["seizures"] < FEW_SEIZURES:
            flag += f" <b class=warn>{plural(c['seizures'], 'seizure')}: unstable</b>"
        rows.append(head + [f"{c['referrals']:,}",
                            ci(c["referral_rate"], lohi(c, "referral_rate"), 2),
                            f"{c['inspected']:,}", ci(c["hit_rate"], lohi(c, "hit_rate")) + flag]
                    + [ci(c[v], lohi(c, v), fmt="{:,.0f}" if v == "USD" else "{:,.1f}")
                       for _, v in VALUES])
    if small:
        names = {c["group"] for c in small}
        sources = [s for s in dict.fromkeys(c["source"] for c in small)]
        outbound = sum({c["group"]: c["outbound"] for c in small}.values())
        rows.append([f"{escape(plural(len(names), 'other ' + what))} ({hidden} each)",
                     escape(", ".join(sources)), f"{outbound:,}"]
                    + [f"<span class=muted>{hidden}</span>"] * 7)
    shown = [c for c in cells if not c["suppressed"] and c["group"] != "all"]
    overall = {c["source"]: c["hit_rate"] for c in cells
               if c["group"] == "all" and not c["suppressed"]}
    figure = (img(plots.hit_rate_forest(shown, overall, title), title) if shown else
              f"<p class=muted>No group has {min_cell} or more inspected referrals from one "
              "source: nothing to draw.</p>")
    return (f"<p>Per group and referral source: referrals and referral rate (of the group's "
            f"outbound crossings), hit rate (seizures / inspected) and value found per "
            f"inspection, each with a 95% bootstrap interval. A group whose hit rate lies well "
            f"below the others' under the same source is referred on weaker evidence: it is "
            f"over-referred (&#9660;: lower than the other groups', Fisher's exact test, "
            f"one-sided p &lt; 0.025; with many groups, expect a few by chance). Cells "
            f"with fewer than {min_cell} inspected crossings are suppressed ({hidden}), the "
            f"{escape(plural(2, what, bare=True))}' such cells in one last row; a "
            f"hit rate on fewer than {FEW_SEIZURES} seizures is flagged as unstable.</p>"
            + figure
            + table(["group", "source", "outbound", "referrals", "referral rate", "inspected",
                      "hit rate", "firearms / insp.", "rounds / insp.", "USD / insp."], rows))


def _model_card(manifest, w):
    data = manifest.get("data", {})
    windows = data.get("windows", {})
    split = data.get("split", {})
    off = manifest.get("excluded_features") or []
    used = manifest.get("features") or []
    sources = data.get("sources") or []
    at1 = next((b for b in manifest.get("metrics", {}).get("validation", {}).get("budgets", [])
                if b.get("budget") == 0.01), None)
    facts = [["version", manifest.get("version", "")],
             ["created", manifest.get("created_at", "")],
             ["code version", manifest.get("code_version", "")],
             ["trees", manifest.get("trees", "")],
             ["calibration", manifest.get("calibration", {}).get("method", "")],
             ["training data", f"{data.get('rows', 0):,} crossings, {data.get('outbound', 0):,} "
                               "outbound"]]
    facts += [[f"window: {k.replace('_', ' ')}", _iso(pd.Timestamp(windows[k]).value // 1000)]
              for k in ("start", "calibrate_from", "validate_from", "end") if k in windows]
    facts += [[f"{k} split", f"{split[k]['outbound']:,} outbound, {split[k]['labelled']:,} "
                             f"inspected, {plural(split[k]['seizures'], 'seizure')}"]
              for k in ("fit", "calibrate", "validate") if k in split]
    facts += [["source", f"{s.get('path')} ({s.get('rows', 0):,} rows, sha256 "
                         f"{str(s.get('sha256'))[:12]})"] for s in sources]
    if at1:
        recall = pct(at1.get("recall", np.nan))
        on = split.get("validate", {}).get("seizures")
        if on is not None:
            recall += f" (on {plural(on, 'seizure')}{', unstable' if on < FEW_SEIZURES else ''})"
        facts.append(["validation recall at 1%", recall])
    facts += [[label, text] for label, text in how_grown(manifest)]
    if getattr(w, "overlap", None):
        facts.append(["warning", w.overlap])
    facts += [["training warning", warning] for warning in manifest.get("warnings", [])]
    facts.append(["evaluated here", f"{_iso(w.start)} to {_iso(w.end)}: {w.labels.n:,} "
                                    f"outbound, {int(w.labels.resolved.sum()):,} inspected, "
                                    f"{plural(int(w.labels.y.sum()), 'seizure')}"])
    features = "".join(f"<li><code>{escape(f)}</code> {escape(HELP.get(f, ''))}</li>"
                       for f in used)
    return (table(["", ""], [[escape(k), escape(str(v))] for k, v in facts])
            + _backtest_table(manifest.get("backtest"))
            + "<h3>Intended use</h3><p>Ranking outbound crossings for secondary inspection "
              "at a port's given capacity, by the calibrated probability that they carry "
              "firearms, ammunition or unreported currency. Decision support: the officer "
              "sees the score and its reasons and decides; the model never inspects, "
              "clears or accuses anyone.</p>"
            + f"<h3>Features used ({len(used)})</h3><ul class=cols>{features}</ul>"
            + "<h3>Features switched off</h3><p>"
            + (", ".join(f"<code>{escape(f)}</code>" for f in off) if off else "none")
            + " (<code>southbound train --exclude-feature NAME</code>)</p>"
            + "<h3>Known limits</h3><ul>" + "".join(f"<li>{x}</li>" for x in _limits(manifest))
            + "</ul>")


def _backtest_table(backtest):
    """The backtest kept at training (``train --backtest K``), one row per origin and budget."""
    if not backtest:
        return ""
    rows = [[escape(o["origin"]), f"{o['train']['rows']:,}", f"{o['train']['seizures']:,}",
             pct(b["budget"]), ci(b["recall"], b["recall_ci"]), pct(b["hit_rate"]),
             f"{b['seizures_behind']}{' (unstable)' if b['unstable'] else ''}"]
            for o in backtest.get("origins", []) if "budgets" in o for b in o["budgets"]]
    n = len(backtest.get("origins", []))
    return (f"<h3>Backtest of this pipeline ({plural(n, 'origin')}, "
            f"{backtest['config']['horizon_days']} days each)</h3>"
            + table(["origin", "inspections before", "seizures before", "budget",
                     "estimated recall", "hit rate", "seizures behind"], rows))


def _limits(manifest):
    used = set(manifest.get("features") or [])
    plate = used & {"plate_country", "plate_jurisdiction"}
    out = ["Labels exist only where someone inspected: seizures are learned and measured "
           "through the selection probability of each inspection, and a crossing nobody "
           "inspected is never known to be clean.",
           ("Plate jurisdiction can stand in for national origin: " + (
               "<code>" + "</code>, <code>".join(sorted(plate)) + "</code> are used; read "
               "who this model would refer by plate country before serving, or switch them "
               "off (either name switches off both)."
               if plate else "it is switched off in this model."))]
    sources = manifest.get("data", {}).get("sources") or []
    generated = [s["path"] for s in sources
                 if Path(s["path"]).with_name(Path(s["path"]).stem + ".truth.csv").exists()]
    if generated or not sources:
        out.append("Synthetic data: " + (
            f"trained on a generated world ({escape(', '.join(generated))}), "
            if generated else "the training logs are not recorded; if they were generated, ")
            + "the figures describe the generator's rings and legacy policy, not a real port.")
    out.append("Feature importance and reasons show what the model leans on, not what causes "
               "smuggling.")
    out.append("Drift: smuggling tactics change and traffic moves between ports; a model is "
               "only as good as the window it was trained on. Watch the PSI table and retrain "
               "when scores or key features shift.")
    return out


def _iso(micros):
    return pd.Timestamp(int(micros), unit="us", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")
