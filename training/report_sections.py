"""The model report's sections, each an HTML fragment from the scored window.

Each section takes the report's window (:class:`training.report.ReportWindow`: the
evaluated rows, their features, scores and labels, the drift reference) and returns
HTML; :func:`training.report.build_report` puts them on one page. Estimates from labels
use the Horvitz-Thompson weights of :mod:`training.evaluate`; the drift and
outcome-test statistics come from :mod:`training.monitoring`.
"""
from __future__ import annotations

import numpy as np

from scoring.features import FEATURES
from scoring.wording import plural
from training import report_plots as plots
from training.evaluate import BUDGETS, propensity_check, selection_metrics, top_k
from training.monitoring import (FEW_SEIZURES, PSI_ALERT, VALUES, few_seizures_note,
                                 outcome_table, psi, referral_table)
from training.report_plots import ci, escape, img, lohi, num, pct, table

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


def comparison_section(comparison, manifest, active_manifest):
    """The latest off-policy comparison against the model in service, or how to make one."""
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


def unstable(interval, seizures):
    """A flag for an interval without width (such as [100%, 100%]): on a bootstrap that
    says the estimate rests on too few seizures to vary, not that it is certain."""
    if interval is None or not np.all(np.isfinite(interval)) or not np.isclose(*interval):
        return ""
    return f" <b class=warn>unstable: no spread on {plural(seizures, 'seizure')}</b>"


def budget_section(w, active_manifest):
    """Recall and hit rate by budget: this model, the one in service, the policy in force."""
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
                         + unstable(r.get("recall_ci"), seizures),
                         ci(r["hit_rate"], hit_ci, 2) + unstable(hit_ci, seizures),
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


def calibration_section(w):
    """The reliability of the scores on the inspected rows, then the propensity check."""
    cal = w.evaluation.report["calibration"]
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


def importance_section(model, manifest, w):
    """Mean absolute contribution of each feature over the evaluated rows."""
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


def drift_section(model, w):
    """Scores and features of the window against the outbound rows before it (PSI)."""
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


def referral_section(w, groups, picks, policy, manifest, min_cell, what):
    """Who each policy would refer at each port's capacity, per group (a port, a plate country)."""
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


def outcome_section(w, groups, min_cell, title, what="group"):
    """The outcome test of the policy in force per group and referral source."""
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
