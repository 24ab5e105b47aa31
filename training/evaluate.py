"""Model quality at inspection budgets, estimated without bias from inspected rows.

Only inspected crossings have labels, and they were not chosen at random. Each
inspected row ``i`` stands for ``1 / pi_i`` crossings, where ``pi_i`` is its
``selection_probability`` (Horvitz–Thompson). A policy's catch at budget ``k``
(the top ``k`` share of outbound crossings by its score) is then estimated as
``sum(seizure_i / pi_i)`` over the inspected rows it would pick, whatever their
other rows' labels. Its hit rate is a ratio (Hájek) estimate: the weighted
seizures of the inspected rows it would pick over their weighted count, so it
stays in [0, 1] (``caught / k`` does not). Confidence intervals come from a
Poisson bootstrap over the labelled rows. A figure that rests on fewer than
``FEW_SEIZURES`` labelled seizures is flagged ``unstable``.
"""
from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import average_precision_score

from scoring.wording import FEW_SEIZURES, number, plural
# names that fit, fit_dask, the command line and tests import from here
from training.propensity import (MIN_PROPENSITY, fit_propensity, numeric_features,  # noqa: F401
                                 propensity, propensity_check)
from training.window import NothingUnseen, graded_window  # noqa: F401

BUDGETS = (0.005, 0.01, 0.02, 0.05)
VALUE_COLUMNS = ("firearms_seized", "rounds_seized", "currency_seized_usd")


class Labels:
    """The labelled view of a set of outbound crossings (shape n each).

    ``weight`` is ``1 / pi`` on inspected rows with a resolved outcome, 0 elsewhere;
    ``y`` is the seizure flag there (0 elsewhere).
    """

    def __init__(self, outbound, pi):
        seizure = outbound["seizure"].to_numpy(float)
        resolved = (outbound["inspected"].to_numpy(float) == 1.0) & ~np.isnan(seizure)
        self.n = len(outbound)
        self.weight = np.where(resolved, 1.0 / pi, 0.0)
        self.y = np.where(resolved, seizure, 0.0)
        self.values = {c: np.where(resolved, np.nan_to_num(outbound[c].to_numpy(float)), 0.0)
                       for c in VALUE_COLUMNS}
        self.referred = (outbound["referral"].fillna("none") != "none").to_numpy()
        self.resolved = resolved

    def subset(self, mask):
        other = object.__new__(Labels)
        other.n = int(mask.sum())
        for name in ("weight", "y", "referred", "resolved"):
            setattr(other, name, getattr(self, name)[mask])
        other.values = {c: v[mask] for c, v in self.values.items()}
        return other


def top_k(scores, budget, seed=0):
    """Boolean mask of the ``ceil(budget * n)`` highest scores (ties broken at random)."""
    n = len(scores)
    k = min(n, math.ceil(budget * n))
    tiebreak = np.random.default_rng(seed).random(n)
    order = np.lexsort((tiebreak, -np.asarray(scores, dtype=float)))
    mask = np.zeros(n, dtype=bool)
    mask[order[:k]] = True
    return mask


def _ci(samples):
    samples = np.asarray(samples, dtype=float)
    if not np.isfinite(samples).any():  # no replicate had a defined figure
        return [math.nan, math.nan]
    lo, hi = np.nanpercentile(samples, [2.5, 97.5])
    return [float(lo), float(hi)]


def selection_metrics(selected, labels, n_boot=200, seed=0, referred=None):
    """Estimated catch of one selection of crossings, with 95% bootstrap intervals.

    ``selected`` is a mask over the labels' rows, or each row's chance of being
    selected (a selection known by its cut, :func:`cut_selection`: the rows tied at
    the cut share its last places); ``referred`` is the selection's size when the
    labels hold only some of its rows. ``recall`` and ``estimated_seizures`` are
    Horvitz–Thompson; ``hit_rate`` is the Hájek ratio over the inspected rows of the
    selection (in [0, 1]); ``seizures_behind`` counts the labelled seizures the
    figures rest on, and ``unstable`` says it is fewer than ``FEW_SEIZURES``.
    """
    selected = np.asarray(selected)
    take = selected.astype(float)
    k = int(selected.sum()) if referred is None else int(referred)
    hits = labels.y * labels.weight
    total = hits.sum()
    caught = (hits * take).sum()
    looked = (labels.weight * take).sum()  # the selection's size, estimated from inspections
    behind = int(round(float((((labels.y > 0) & labels.resolved) * take).sum())))
    out = {"referred": k, "estimated_seizures": float(caught),
           "recall": float(caught / total) if total else math.nan,
           "hit_rate": float(caught / looked) if looked else math.nan,
           "seizures_behind": behind, "unstable": behind < FEW_SEIZURES}
    rows = np.flatnonzero(labels.weight > 0)
    if len(rows) and n_boot and total:
        boot = np.random.default_rng(seed).poisson(1.0, size=(n_boot, len(rows)))
        b_total = boot @ hits[rows]
        b_caught = boot @ (hits[rows] * take[rows])
        b_looked = boot @ (labels.weight[rows] * take[rows])
        with np.errstate(invalid="ignore", divide="ignore"):
            out["recall_ci"] = _ci(b_caught / b_total)
            out["hit_rate_ci"] = _ci(b_caught / b_looked)
    value = {}
    for name, v in labels.values.items():
        weighted = v * labels.weight
        all_value = weighted.sum()
        value[name] = {"estimated": float((weighted * take).sum()),
                       "share": float((weighted * take).sum() / all_value) if all_value else math.nan}
    out["value_captured"] = value
    return out


def cut_selection(scores, cut):
    """Each row's chance of being in a top share known by its cut ``(threshold, share of
    the tied rows taken)``: 1 above the threshold, the share at it, 0 below. It is the
    expectation of :func:`top_k`'s random tie-break, for a selection whose rows are not
    all at hand (the labelled rows of a log on a cluster)."""
    threshold, tied = cut
    scores = np.asarray(scores, dtype=float)
    return np.where(scores > threshold, 1.0, np.where(scores == threshold, tied, 0.0))


def as_run(labels, referred=None):
    """What the policy in force actually referred and found (observed, not estimated);
    ``referred`` counts the referrals when the labels hold only some of the rows."""
    found = float((labels.y * labels.resolved * labels.referred).sum())
    total = (labels.y * labels.weight).sum()
    referred = int(labels.referred.sum()) if referred is None else int(referred)
    return {"referred": referred, "share": referred / labels.n if labels.n else math.nan,
            "seizures": found, "hit_rate": found / referred if referred else math.nan,
            "recall": found / total if total else math.nan}


def budget_table(scores, labels, legacy=None, budgets=BUDGETS, truth=None, seed=0):
    """Metrics of a score at each budget, with lifts over random and over ``legacy``.

    Parameters
    ----------
    scores : array, shape (n,)
    labels : Labels
    legacy : array, shape (n,), optional
        The policy in force as a score (its selection probability).
    truth : DataFrame, optional
        Columns ``carrier`` (bool) aligned with the rows: adds the true catch.
    """
    picks = {b: top_k(scores, b, seed) for b in budgets}
    old = None if legacy is None else {b: top_k(legacy, b, seed) for b in budgets}
    return budget_rows(picks, labels, old, truth=truth, seed=seed)


def budget_rows(picks, labels, legacy=None, truth=None, seed=0, referred=None):
    """:func:`budget_table`'s rows from the selections themselves: ``picks`` and
    ``legacy`` map each budget to a selection of the labels' rows (a mask, or chances
    from :func:`cut_selection`); ``referred`` maps it to the selection's size when the
    labels hold only some rows."""
    hits = labels.y * labels.weight
    weight = labels.weight.sum()
    prevalence = hits.sum() / weight if weight else math.nan  # Hájek, like the hit rate
    rows = []
    for budget, chosen in picks.items():
        row = {"budget": budget, **selection_metrics(
            chosen, labels, seed=seed, referred=None if referred is None else referred[budget])}
        row["lift_over_random"] = (row["hit_rate"] / prevalence) if prevalence else math.nan
        if legacy is not None:
            old_caught = (hits * legacy[budget]).sum()
            row["legacy_estimated_seizures"] = float(old_caught)
            row["lift_over_legacy"] = (float((hits * chosen).sum() / old_caught)
                                       if old_caught else math.nan)
        if truth is not None:
            carrier = truth["carrier"].to_numpy(bool)
            row["true_carriers_caught"] = int(carrier[chosen].sum())
            row["true_recall"] = float(carrier[chosen].sum() / max(carrier.sum(), 1))
            row["true_hit_rate"] = float(carrier[chosen].mean()) if chosen.any() else math.nan
            if legacy is not None:
                row["legacy_true_carriers_caught"] = int(carrier[legacy[budget]].sum())
        rows.append(row)
    return rows


def calibration(probabilities, labels, bins=10):
    """Weighted reliability of calibrated probabilities on the labelled rows."""
    r = labels.resolved
    p, y, w = np.asarray(probabilities)[r], labels.y[r], labels.weight[r]
    if not len(p) or w.sum() == 0:
        return {"bins": [], "observed_over_expected": math.nan, "brier": math.nan, "ece": math.nan}
    order = np.argsort(p, kind="stable")
    cum = np.cumsum(w[order]) / w.sum()
    edges = np.searchsorted(cum, np.linspace(0, 1, bins + 1)[1:-1])
    table, ece = [], 0.0
    for part in np.split(order, edges):
        if not len(part):
            continue
        wp = w[part].sum()
        mean_p = float(np.average(p[part], weights=w[part]))
        observed = float(np.average(y[part], weights=w[part]))
        ece += wp / w.sum() * abs(mean_p - observed)
        table.append({"mean_predicted": mean_p, "observed": observed,
                      "weight": float(wp), "rows": int(len(part))})
    return {"bins": table,
            "observed_over_expected": float((w * y).sum() / (w * p).sum()),
            "brier": float(np.average((p - y) ** 2, weights=w)),
            "ece": float(ece)}


def evaluate_scores(scores, outbound, features=None, truth=None, seed=0, pi=None):
    """The full evaluation report of one model's scores on a window of outbound rows.

    Parameters
    ----------
    scores : array, shape (n,)
        Calibrated probabilities for every outbound row of the window.
    outbound : DataFrame, shape (n, contract columns)
    features : DataFrame, shape (n, ...), optional
        Feature frame of the same rows (for unseen plates and the propensity fallback).
    truth : DataFrame, optional
        The generator's latent truth aligned with the rows.
    pi : array, shape (n,), optional
        The rows' selection probabilities, where the caller has them (training estimates
        missing ones once, on every outbound row); default :func:`propensity` of the
        window.

    Returns
    -------
    dict
        ``budgets`` (list of per-budget rows), ``unseen_plates`` (the same for plates
        with no earlier crossing), ``pr_auc``, ``calibration``, ``legacy_as_run``, counts.
    """
    scores = np.asarray(scores, dtype=float)
    pi = propensity(outbound, features, seed) if pi is None else np.asarray(pi, dtype=float)
    labels = Labels(outbound, pi)
    legacy = pi  # the policy in force ranks crossings by its own selection probability
    report = _report(scores, labels, budget_table(scores, labels, legacy, truth=truth, seed=seed),
                     as_run(labels))
    if features is not None:
        unseen = features["plate_days_since_first_seen"].isna().to_numpy()
        sub_truth = truth.loc[unseen] if truth is not None else None
        report["unseen_plates"] = {
            "rows": int(unseen.sum()),
            "budgets": budget_table(scores[unseen], labels.subset(unseen), legacy[unseen],
                                    truth=sub_truth, seed=seed) if unseen.any() else [],
        }
    return report


def evaluate_at_cuts(scores, outbound, pi, window, unseen, seed=0):
    """:func:`evaluate_scores`'s report from the labelled rows of a window and its cuts.

    For a window whose rows are not all at hand (a log on a Dask cluster): ``scores``,
    ``outbound``, ``pi`` and ``unseen`` (bool) are of the window's labelled rows only;
    ``window`` holds what the whole window gives, computed where it lies: ``rows``,
    ``referred`` (by the policy in force), and for the model's score (``model``) and
    the legacy one (``legacy``) the cut of each budget, ``(threshold, share of the tied
    rows taken)``; ``unseen`` the same for the rows of unseen plates. A labelled row
    counts in a top share by :func:`cut_selection`, the expectation of the in-process
    random tie-break; where no row ties at a cut the figures are the same.
    """
    scores = np.asarray(scores, dtype=float)
    labels = Labels(outbound, pi)
    labels.n = int(window["rows"])

    def table(part, subset, s, p):
        picks = {b: cut_selection(s, cut) for b, cut in part["model"].items()}
        old = {b: cut_selection(p, cut) for b, cut in part["legacy"].items()}
        sizes = {b: min(part["rows"], math.ceil(b * part["rows"])) for b in picks}
        return budget_rows(picks, subset, old, seed=seed, referred=sizes)

    report = _report(scores, labels, table(window, labels, scores, pi),
                     as_run(labels, window["referred"]))
    part = window["unseen"]
    report["unseen_plates"] = {
        "rows": int(part["rows"]),
        "budgets": (table(part, labels.subset(unseen), scores[unseen], pi[unseen])
                    if part["rows"] else [])}
    return report


def _report(scores, labels, budgets, legacy_as_run):
    r = labels.resolved
    return {
        "rows": int(labels.n),
        "inspected": int(r.sum()),
        "seizures": int(labels.y.sum()),
        "estimated_prevalence": (float((labels.y * labels.weight).sum() / labels.weight.sum())
                                 if labels.weight.sum() else math.nan),
        "budgets": budgets,
        "legacy_as_run": legacy_as_run,
        "calibration": calibration(scores, labels),
        "pr_auc": (float(average_precision_score(labels.y[r], scores[r],
                                                 sample_weight=labels.weight[r]))
                   if r.any() and 0 < labels.y[r].sum() < r.sum() else math.nan),
    }


def format_report(report):
    """The report as a fixed-width text table for the terminal.

    ``true carriers`` (with a truth file) reads ``legacy->model``: the true carriers
    that the legacy policy and this model would catch at the budget. A ``!`` marks a
    budget whose estimate rests on fewer than ``FEW_SEIZURES`` labelled seizures.
    """
    truth = "true_recall" in report["budgets"][0]
    lines = [f"rows {report['rows']:,}  inspected {report['inspected']:,}  "
             f"seizures {report['seizures']:,}  est. prevalence "
             f"{number(report['estimated_prevalence'], '{:.4%}')}  PR-AUC "
             f"{number(report['pr_auc'], '{:.3f}')}",
             f"{'budget':>7} {'recall':>17} {'hit rate':>17} {'lift/rand':>9} "
             f"{'lift/legacy':>11} {'seizures':>8}" + (
                 f" {'true recall':>11} {'true carriers legacy->model':>27}" if truth else "")]
    for row in report["budgets"]:
        rci = row.get("recall_ci", [math.nan, math.nan])
        hci = row.get("hit_rate_ci", [math.nan, math.nan])
        line = (f"{row['budget']:>7.1%} {number(row['recall'], '{:.1%}'):>6} "
                f"[{number(rci[0], '{:.0%}')},{number(rci[1], '{:.0%}')}]"
                f" {number(row['hit_rate'], '{:.1%}'):>6} "
                f"[{number(hci[0], '{:.0%}')},{number(hci[1], '{:.0%}')}]"
                f" {number(row['lift_over_random'], '{:.1f}'):>9}"
                f" {number(row.get('lift_over_legacy'), '{:.2f}'):>11}"
                f" {row['seizures_behind']:>7}{'!' if row['unstable'] else ' '}")
        if truth:
            line += (f" {row['true_recall']:>11.1%} "
                     f"{row['legacy_true_carriers_caught']:>13}->{row['true_carriers_caught']}")
        lines.append(line)
    if any(row["unstable"] for row in report["budgets"]):
        lines.append(f"! unstable: rests on fewer than {FEW_SEIZURES} labelled seizures; "
                     "read the intervals, not the point")
    legacy = report["legacy_as_run"]
    lines.append(f"legacy policy as run: referred {legacy['referred']:,} "
                 f"({number(legacy['share'], '{:.2%}')}), {plural(legacy['seizures'], 'seizure')}, "
                 f"hit rate {number(legacy['hit_rate'], '{:.2%}')}, est. recall "
                 f"{number(legacy['recall'], '{:.1%}')}")
    cal = report["calibration"]
    lines.append(f"calibration: observed/expected {number(cal['observed_over_expected'])}, "
                 f"ECE {number(cal['ece'], '{:.4f}')}, Brier {number(cal['brier'], '{:.4f}')}")
    return "\n".join(lines)
