"""The pipeline against its plain candidate on one log: a paired comparison per budget.

At each backtest origin the pipeline and its plain candidate
(:func:`training.config.plain_candidate`: the same code on context features and plate
history counts, unweighted) are trained on the same rows, from the same features, and
score the same horizon. At each budget each picks its top share of the horizon's
outbound crossings (:func:`training.evaluate.top_k`, as the backtest grades). From the
horizon's inspected rows:

- each list's Horvitz–Thompson catch and their difference, with replicates from
  :func:`training.compare.paired_catch` (the comparison's interval method: the rows
  in both lists cancel, and each list's own rows carry the uncertainty of what was not
  looked at); the doubly robust figures beside them, with the pipeline's probability as
  the outcome model, are kept but not used for the verdict;
- recall is a catch over the horizon's estimated seizures (Horvitz–Thompson over every
  inspected row, the same denominator for both candidates, held fixed: the interval is
  the difference in catch's, scaled);
- pooled over the origins that could be graded: the mean difference, and its interval
  from the mean of the origins' replicates (each origin's draws are its own; horizons
  that overlap, a step shorter than the horizon, make it too narrow).

The verdict is fixed here, before any log is read (:func:`verdict`): **better** where the
pooled 95% interval of the difference lies above zero, **worse** where it lies below,
**cannot tell** where it holds zero or nothing could be estimated. ``train`` never
chooses by it: the model card says it.
"""
from __future__ import annotations

import math

import numpy as np

from scoring.wording import number
from training.compare import N_BOOT, _ci, paired_catch
from training.evaluate import top_k

#: the verdict's words, by where the pooled interval of the difference lies
VERDICTS = ("better", "worse", "cannot tell")


def paired_horizon(pipeline, plain, labels, pi, budgets, seed=0, carriers=None,
                   n_boot=N_BOOT):
    """Both candidates' estimated recall on one horizon, and the difference, per budget.

    Parameters
    ----------
    pipeline, plain : array, shape (n,)
        Each candidate's scores of the horizon's outbound rows.
    labels : training.evaluate.Labels
        The horizon's labels (``y``, ``weight``, ``resolved``).
    pi : array, shape (n,)
        The rows' selection probabilities (the labels' ``1 / weight``).
    carriers : array of bool, shape (n,), optional
        The truth: adds each candidate's true recall and the true difference.

    Returns
    -------
    rows : list of dict
        Per budget: ``pipeline`` and ``plain`` (estimated recall, and true recall with
        the truth), ``difference`` (pipeline - plain, in recall) and ``difference_ci``,
        ``dr_difference`` and ``dr_difference_ci``, ``differ`` (crossings in one list
        only) and ``seizures_where_lists_differ`` (labelled seizures among them).
    replicates : list of dict
        Per budget, the difference's replicates (``ipw``, ``dr``), for :func:`pool`.

    Examples
    --------
    >>> from training.evaluate import Labels                         # doctest: +SKIP
    >>> rows, reps = paired_horizon(s1, s2, Labels(out, pi), pi, (0.01,))  # doctest: +SKIP
    """
    pipeline, plain = np.asarray(pipeline, float), np.asarray(plain, float)
    labelled = np.asarray(labels.resolved, bool)
    y = np.where(labelled, labels.y, 0.0)
    total = float((labels.y * labels.weight).sum())
    mu = np.clip(np.nan_to_num(pipeline), 0.0, 1.0)
    rng = np.random.default_rng(seed)
    rows, replicates = [], []
    for budget in budgets:
        a, b = top_k(plain, budget, seed), top_k(pipeline, budget, seed)
        catch = paired_catch(a, b, y, pi, labelled, mu, n_boot, rng)
        row = {"budget": budget, "differ": int((a ^ b).sum()),
               "seizures_where_lists_differ": int(((y > 0) & (a ^ b)).sum())}
        reps = {}
        for method, key in (("ipw", ""), ("dr", "dr_")):
            (ea, ra), (eb, rb) = catch["a"][method], catch["b"][method]
            if total > 0:
                est = (eb - ea) / total
                reps[method] = (rb - ra) / total
                row[f"{key}difference"] = float(est)
                row[f"{key}difference_ci"] = _ci(reps[method], est)
            else:  # no seizure found in the horizon: no recall to estimate
                reps[method] = np.full(n_boot, math.nan)
                row[f"{key}difference"] = math.nan
                row[f"{key}difference_ci"] = [math.nan, math.nan]
            if method == "ipw":
                row["plain"] = {"recall": ea / total if total > 0 else math.nan}
                row["pipeline"] = {"recall": eb / total if total > 0 else math.nan}
        if carriers is not None:
            carriers = np.asarray(carriers, bool)
            for name, mask in (("plain", a), ("pipeline", b)):
                row[name]["true_recall"] = (float(carriers[mask].sum() / carriers.sum())
                                            if carriers.any() else math.nan)
            row["true_difference"] = row["pipeline"]["true_recall"] - row["plain"]["true_recall"]
        rows.append(row)
        replicates.append(reps)
    return rows, replicates


def pool(per_origin, replicates, budgets):
    """The comparison over the origins: per budget, the mean difference, its interval and
    the verdict.

    ``per_origin`` holds, for each graded origin, a dict whose ``budgets`` are the rows
    :func:`paired_horizon` returned, and ``replicates`` its replicates; an origin whose
    horizon found no seizure is left out of that budget's pool.

    Returns
    -------
    list of dict
        Per budget: ``origins`` pooled, the candidates' mean estimated (and true)
        recall, ``difference``, ``difference_ci``, ``dr_difference``,
        ``dr_difference_ci``, ``true_difference`` with the truth, and ``verdict``.
    """
    out = []
    for i, budget in enumerate(budgets):
        rows = [(r["budgets"][i], reps[i]) for r, reps in zip(per_origin, replicates)
                if math.isfinite(r["budgets"][i]["difference"])]
        row = {"budget": budget, "origins": len(rows)}
        for key, method in (("difference", "ipw"), ("dr_difference", "dr")):
            if rows:
                est = float(np.mean([r[key] for r, _ in rows]))
                row[key] = est
                row[f"{key}_ci"] = _ci(np.mean([reps[method] for _, reps in rows], axis=0),
                                       est)
            else:
                row[key], row[f"{key}_ci"] = math.nan, [math.nan, math.nan]
        for name in ("pipeline", "plain"):
            row[name] = {k: float(np.mean([r[name][k] for r, _ in rows]))
                         for k in ("recall", "true_recall") if rows and k in rows[0][0][name]}
        if rows and "true_difference" in rows[0][0]:
            row["true_difference"] = float(np.mean([r["true_difference"] for r, _ in rows]))
        row["verdict"] = verdict(row["difference"], row["difference_ci"])
        out.append(row)
    return out


def verdict(difference, interval):
    """The rule, fixed before any log is read: ``better`` where the 95% interval of the
    pipeline's difference from its plain candidate lies above zero, ``worse`` where it
    lies below, ``cannot tell`` otherwise (it holds zero, or nothing was estimated).

    >>> verdict(0.03, [0.01, 0.05]), verdict(0.0, [0.0, 0.0]), verdict(-0.02, [-0.04, -0.01])
    ('better', 'cannot tell', 'worse')
    """
    lo, hi = interval
    if not (math.isfinite(difference) and math.isfinite(lo) and math.isfinite(hi)):
        return "cannot tell"
    if lo > 0:
        return "better"
    if hi < 0:
        return "worse"
    return "cannot tell"


def points(x):
    """A difference in recall as signed percentage points (``+2.1``)."""
    return f"{100 * x:+.1f}" if math.isfinite(x) else "-"


def plain_sentence(row):
    """One budget of the pooled comparison in words, for the model card and ``models
    show``: ``+2.1 points at 1% (95% interval -0.4 to +4.6): cannot tell``."""
    lo, hi = row["difference_ci"]
    if not math.isfinite(row["difference"]):
        return (f"no estimate at {row['budget']:.0%} (no horizon found a seizure): "
                "the log cannot tell")
    text = (f"{points(row['difference'])} points at {row['budget']:.0%} "
            f"(95% interval {points(lo)} to {points(hi)}, {row['origins']} "
            f"origin{'s' if row['origins'] != 1 else ''}): {row['verdict']}")
    if row["verdict"] == "cannot tell":
        text += " (the log cannot tell them apart)"
    return text


def plain_facts(backtest):
    """(label, text) pairs for the model card and ``models show``: how the model compares
    with its plain candidate on its own log, per budget, or why nothing is said."""
    label = "against its plain candidate on this log"
    if not backtest:
        return [(label, "not measured (southbound train --backtest K compares them on the "
                        "training log)")]
    plain = backtest.get("plain")
    if not plain:
        return [(label, "not measured (backtested without the plain candidate)")]
    return [(label, plain_sentence(row)) for row in plain.get("summary", [])]


def format_plain(plain):
    """The comparison as fixed-width lines: per origin and budget, then pooled with the
    verdict; a figure that cannot be estimated is a dash."""
    share = lambda x: number(x, "{:.1%}")  # noqa: E731
    truth = any("true_difference" in b for o in plain["origins"] for b in o["budgets"])
    lines = ["against the plain candidate (" + plain["candidate"] + "):",
             f"{'origin':<10} {'budget':>6} {'pipeline':>8} {'plain':>7} "
             f"{'difference, points':>24} {'differ':>6} {'seized':>6}"
             + (f" {'true pipeline':>13} {'true plain':>10} {'true diff.':>10}" if truth else "")]
    for o in plain["origins"]:
        for b in o["budgets"]:
            lo, hi = b["difference_ci"]
            line = (f"{o['origin']:<10} {b['budget']:>6.1%} {share(b['pipeline']['recall']):>8} "
                    f"{share(b['plain']['recall']):>7} {points(b['difference']):>6} "
                    f"[{points(lo):>6}, {points(hi):>6}]    {b['differ']:>6,} "
                    f"{b['seizures_where_lists_differ']:>6,}")
            if truth:
                line += (f" {share(b['pipeline'].get('true_recall')):>13} "
                         f"{share(b['plain'].get('true_recall')):>10} "
                         f"{points(b.get('true_difference', math.nan)):>10}")
            lines.append(line)
    for s in plain["summary"]:
        lo, hi = s["difference_ci"]
        line = (f"{'pooled':<10} {s['budget']:>6.1%} {share(s['pipeline'].get('recall')):>8} "
                f"{share(s['plain'].get('recall')):>7} {points(s['difference']):>6} "
                f"[{points(lo):>6}, {points(hi):>6}]    {s['verdict']}")
        if truth:
            line += f"  true {points(s.get('true_difference', math.nan))}"
        lines.append(line)
    return lines
