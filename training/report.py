"""The model report: one self-contained HTML page on a model and recent traffic.

Sections: the model card; recall and hit rate against the inspection budget for
this model, the model in service, the legacy policy and random; calibration;
feature importance; drift (score distribution and PSI per feature against the
training window); the outcome test by port and by plate country, split by
referral source. Estimates from labels use the Horvitz-Thompson weights of
:mod:`training.evaluate`, since only inspected crossings have outcomes. The page
needs nothing beyond itself: figures are inline PNGs, the style sheet is inline.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from scoring.features import FEATURES, HELP, feature_frame
from scoring.reasons import port_name
from training import report_plots as plots
from training.evaluate import (BUDGETS, Labels, calibration, propensity,
                               selection_metrics, top_k)
from training.report_plots import ci, escape, img, lohi, num, page, pct, table

BUDGET_GRID = tuple(float(b) for b in np.geomspace(0.0025, 0.10, 20))
PSI_BINS = 10
PSI_FLOOR = 1e-4
PSI_ALERT = 0.2
MIN_CELL = 20
N_BOOT = 500
#: feature importance is averaged over at most this many evaluated rows
IMPORTANCE_ROWS = 20_000
SOURCES = ("model", "lookout", "random", "officer")
VALUES = (("firearms_seized", "firearms"), ("rounds_seized", "rounds"),
          ("currency_seized_usd", "USD"))


class ReportError(ValueError):
    """There is nothing to report on (no outbound rows in the window); says why."""


def psi(expected, actual, *, categorical=False, bins=PSI_BINS, floor=PSI_FLOOR):
    """Population stability index of ``actual`` against ``expected``.

    ``PSI = sum((a - e) * ln(a / e))`` over bins, with shares floored at ``floor``
    so an empty bin does not give infinity. Numeric values are binned at the
    deciles of ``expected``; categories are their own bins. Missing values (NaN,
    None) form one more bin, since "not recorded" can drift too.

    Parameters
    ----------
    expected, actual : array-like, shape (n,) and (m,)
    categorical : bool
    bins : int
        Quantile bins of ``expected`` for numeric values.
    floor : float

    Returns
    -------
    float
        0 for identical distributions; above 0.2 is usually read as a shift.

    Examples
    --------
    >>> x = np.arange(1000.0)
    >>> psi(x, x)
    0.0
    >>> psi(x, x + 500) > 0.2
    True
    """
    e_share, a_share = _shares(pd.Series(expected), pd.Series(actual), categorical, bins)
    e_share = np.maximum(e_share, floor)
    a_share = np.maximum(a_share, floor)
    return float(np.sum((a_share - e_share) * np.log(a_share / e_share)))


def _shares(expected, actual, categorical, bins):
    """Bin shares of both samples: the last bin is missing, then (categories) unseen ones."""
    if categorical:
        e, a = expected.astype(object), actual.astype(object)
        known = pd.Index(e.dropna().astype(str).unique())
        codes = [known.get_indexer(s.dropna().astype(str)) for s in (e, a)]
        width = len(known) + 1
        counts = [np.bincount(np.where(c < 0, width - 1, c), minlength=width) for c in codes]
    else:
        e = pd.to_numeric(expected, errors="coerce").to_numpy(float)
        a = pd.to_numeric(actual, errors="coerce").to_numpy(float)
        present = e[~np.isnan(e)]
        edges = (np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1]))
                 if len(present) else np.array([]))
        counts = [np.bincount(np.searchsorted(edges, s[~np.isnan(s)], side="right"),
                              minlength=len(edges) + 1) for s in (e, a)]
    out = []
    for sample, count in zip((expected, actual), counts):
        full = np.append(count, sample.isna().sum()).astype(float)
        out.append(full / max(len(sample), 1))
    return out


def referral_source(outbound):
    """Who referred each row: model, lookout, random, officer or none.

    The contract has no ``lookout`` value: the service exports a lookout referral
    as ``officer`` with selection probability 1, and an officer's own call with
    none, so the two are told apart by that probability.
    """
    referral = outbound["referral"].fillna("none").to_numpy(dtype=object)
    certain = outbound["selection_probability"].to_numpy(float) == 1.0
    return np.where((referral == "officer") & certain, "lookout", referral).astype(str)


def outcome_table(outbound, groups, *, min_cell=MIN_CELL, n_boot=N_BOOT, seed=0):
    """The outcome test: referral rate, hit rate and value found per group and source.

    A group whose hit rate is much lower than others' under the same source is
    referred on weaker evidence: it is being over-referred.

    Parameters
    ----------
    outbound : DataFrame, shape (n, contract columns)
    groups : array of str, shape (n,)
        The group of each row (a port, a plate country).
    min_cell : int
        A cell with fewer inspected rows is suppressed: no figure at all.
    n_boot : int
        Bootstrap samples of the 95% intervals (fixed ``seed``).

    Returns
    -------
    list of dict
        One per (group, source): ``"all"`` first, then groups by volume. Keys ``group``,
        ``source``, ``outbound``, ``suppressed``; when not suppressed also
        ``referrals``, ``inspected``, ``referral_rate``, ``hit_rate``, ``firearms``,
        ``rounds``, ``USD`` (per inspection), each with ``_lo`` / ``_hi``, and for
        groups ``below_others``: the hit rate is below that of the other groups
        under the same source (Fisher's exact test, one-sided p < 0.025).
    """
    rng = np.random.default_rng(seed)
    groups = np.asarray(groups, dtype=object)
    source = referral_source(outbound)
    seizure = outbound["seizure"].to_numpy(float)
    resolved = (outbound["inspected"].to_numpy(float) == 1.0) & ~np.isnan(seizure)
    values = {label: np.nan_to_num(outbound[col].to_numpy(float)) for col, label in VALUES}
    present = [s for s in SOURCES if (source == s).any()]
    order = pd.Series(groups).value_counts(sort=True).index.tolist()
    rows = []
    for group in ["all"] + order:
        in_group = np.ones(len(groups), bool) if group == "all" else groups == group
        for s in present:
            cell = _cell(rng, in_group, source == s, resolved, seizure, values, min_cell, n_boot)
            cell.update(group=group, source=s)
            if group != "all" and not cell["suppressed"]:
                cell["below_others"] = _below_others(in_group, source == s, resolved, seizure)
            rows.append(cell)
    return rows


def _cell(rng, in_group, by_source, resolved, seizure, values, min_cell, n_boot):
    n = int(in_group.sum())
    inspected = in_group & by_source & resolved
    k = int(inspected.sum())
    if k < min_cell:
        return {"outbound": n, "suppressed": True}
    referrals = int((in_group & by_source).sum())
    cell = {"outbound": n, "suppressed": False, "referrals": referrals, "inspected": k}
    # a proportion's bootstrap is a binomial draw; means of amounts resample rows
    for name, hits, of in (("referral_rate", referrals, n),
                           ("hit_rate", seizure[inspected].sum(), k)):
        cell[name] = hits / of
        cell[f"{name}_lo"], cell[f"{name}_hi"] = np.percentile(
            rng.binomial(of, hits / of, n_boot) / of, [2.5, 97.5])
    picks = rng.integers(0, k, size=(n_boot, k))
    for label, amount in values.items():
        found = amount[inspected]
        cell[label] = found.mean()
        cell[f"{label}_lo"], cell[f"{label}_hi"] = np.percentile(found[picks].mean(1),
                                                                 [2.5, 97.5])
    return cell


def _below_others(in_group, by_source, resolved, seizure):
    """Whether a group's hit rate is below the other groups' under the same source.

    Fisher's exact test, one-sided at 2.5%: a bootstrap of a cell without seizures
    has no spread at all and would flag every such cell.
    """
    from scipy.stats import fisher_exact
    here, rest = (in_group & by_source & resolved), (~in_group & by_source & resolved)
    if not rest.any():
        return False
    a, b = int(seizure[here].sum()), int(seizure[rest].sum())
    table = [[a, int(here.sum()) - a], [b, int(rest.sum()) - b]]
    return bool(fisher_exact(table, alternative="less").pvalue < 0.025)


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
                 min_cell=MIN_CELL):
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
        UTC µs; default the manifest's ``validate_from``, or every row when absent.
    min_cell : int
        Outcome-test cells with fewer inspected rows are suppressed.

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
    if since is None and manifest.get("data", {}).get("windows", {}).get("validate_from"):
        since = int(pd.Timestamp(manifest["data"]["windows"]["validate_from"]).value // 1000)
    active_model, active_manifest = active if active is not None else (None, None)
    if active_model is model or (manifest.get("version") is not None and active_manifest
                                 and active_manifest.get("version") == manifest["version"]):
        active_model = None  # this model is the one in service: one curve, not two
    w = _Window(model, frame, since, training_frame, active_model)
    sections = [
        ("card", "Model card", _model_card(manifest, w)),
        ("budget", "Budget curves: recall and hit rate", _budget_section(w, active_manifest)),
        ("calibration", "Calibration", _calibration_section(w)),
        ("importance", "Feature importance", _importance_section(model, manifest, w)),
        ("drift", "Drift: recent traffic against training", _drift_section(model, w)),
    ]
    for key, title, groups in (
            ("outcome-port", "Outcome test by port",
             [f"{c} {port_name(c)}" for c in w.feats["port_code"]]),
            ("outcome-country", "Outcome test by plate country",
             w.feats["plate_country"].fillna("not recorded").astype(str).to_numpy())):
        sections.append((key, title, _outcome_section(w, groups, min_cell, title)))
    version = manifest.get("version", "unsaved model")
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return page(f"Model report: {version}",
                f"Made {made}; outbound crossings from {_iso(w.start)} to {_iso(w.end)}.",
                sections)


# --- sections --------------------------------------------------------------

def _budget_section(w, active_manifest):
    policies = {"this model": w.scores}
    if w.active_scores is not None:
        policies["model in service"] = w.active_scores
    policies["legacy policy"] = w.pi  # the policy in force ranks by its own selection probability
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
            rows.append([b, name, ci(r["recall"], r.get("recall_ci")),
                         ci(r["hit_rate"], hit_ci and np.minimum(hit_ci, 1.0), 2),
                         f"{r['estimated_seizures']:.1f}"])
    curves["random"] = {"recall": np.array(BUDGET_GRID),
                        "hit_rate": np.full(len(BUDGET_GRID), w.prevalence)}
    rows += [[b, "random", pct(b), pct(w.prevalence, 2), f"{b * w.prevalence * w.labels.n:.1f}"]
             for b in BUDGETS]
    rows = [[f"{r[0]:.1%}"] + r[1:] for r in sorted(rows, key=lambda r: r[0])]
    note = ("" if w.labels.y.sum() else
            "<p class=warn>No seizure among the inspected crossings of this window: recall "
            "and hit rate cannot be estimated yet.</p>")
    served = "" if active_manifest is None else (
        " This model is the one in service." if w.active_scores is None
        else f" The model in service is {escape(active_manifest.get('version', '?'))}.")
    return (f"<p>Estimated from inspected crossings weighted by 1 / selection probability "
            f"(Horvitz&ndash;Thompson); shaded: 95% bootstrap interval of this model. The "
            f"legacy policy is whatever chose the inspections, ranked by its own selection "
            f"probability.{served} "
            f"Random inspection finds the estimated prevalence, {pct(w.prevalence, 3)}.</p>"
            + note
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
    return (f"<p>Inspected crossings in bins of equal weight. Observed / expected "
            f"{num(cal['observed_over_expected'])}, ECE {num(cal['ece'], 4)}, "
            f"Brier {num(cal['brier'], 4)}.</p>"
            + img(plots.reliability(cal["bins"]), "reliability diagram")
            + table(["mean predicted", "observed", "inspected rows", "crossings represented"],
                     rows))


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


def _outcome_section(w, groups, min_cell, title):
    cells = outcome_table(w.outbound, groups, min_cell=min_cell)
    if not cells:
        return "<p class=warn>No referred crossings in this window.</p>"
    hidden = f"n &lt; {min_cell}"
    rows = []
    for c in cells:
        head = [escape(c["group"]), escape(c["source"]), f"{c['outbound']:,}"]
        if c["suppressed"]:
            rows.append(head + [f"<span class=muted>{hidden}</span>"] * 7)
            continue
        flag = " <b class=warn>&#9660; below others</b>" if c.get("below_others") else ""
        rows.append(head + [f"{c['referrals']:,}",
                            ci(c["referral_rate"], lohi(c, "referral_rate"), 2),
                            f"{c['inspected']:,}", ci(c["hit_rate"], lohi(c, "hit_rate")) + flag]
                    + [ci(c[v], lohi(c, v), fmt="{:,.0f}" if v == "USD" else "{:,.1f}")
                       for _, v in VALUES])
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
            f"with fewer than {min_cell} inspected crossings are suppressed ({hidden}).</p>"
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
                             f"inspected, {split[k]['seizures']:,} seizures"]
              for k in ("fit", "calibrate", "validate") if k in split]
    facts += [["source", f"{s.get('path')} ({s.get('rows', 0):,} rows, sha256 "
                         f"{str(s.get('sha256'))[:12]})"] for s in sources]
    if at1:
        facts.append(["validation recall at 1%", pct(at1.get("recall", np.nan))])
    facts.append(["evaluated here", f"{_iso(w.start)} to {_iso(w.end)}: {w.labels.n:,} "
                                    f"outbound, {int(w.labels.resolved.sum()):,} inspected, "
                                    f"{int(w.labels.y.sum()):,} seizures"])
    features = "".join(f"<li><code>{escape(f)}</code> {escape(HELP.get(f, ''))}</li>"
                       for f in used)
    return (table(["", ""], [[escape(k), escape(str(v))] for k, v in facts])
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


def _limits(manifest):
    used = set(manifest.get("features") or [])
    plate = used & {"plate_country", "plate_jurisdiction"}
    out = ["Labels exist only where someone inspected: seizures are learned and measured "
           "through the selection probability of each inspection, and a crossing nobody "
           "inspected is never known to be clean.",
           ("Plate jurisdiction can stand in for national origin: " + (
               "<code>" + "</code>, <code>".join(sorted(plate)) + "</code> are used; read the "
               "outcome test by plate country before serving, or switch them off."
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
