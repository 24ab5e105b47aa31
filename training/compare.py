"""Off-policy comparison of two models from what the service logged while one shadowed the other.

Every crossing scored while a challenger was in shadow carries both scores, the
service's selection probability ``pi`` (1 for the model's picks, the random share
otherwise, 1 for lookouts) and, where secondary looked, the outcome. The inspected
crossings were picked by the model in service, so counting seizures among each
model's picks favours it; weighting each labelled crossing by ``1 / pi`` does not.

Each model's referral list is what it would refer at each port's capacity: the
``ceil(capacity * n)`` highest of its scores among the port's crossings (ties by
crossing_id), so both lists have the same size. For a list ``R``:

- inverse-propensity (Horvitz-Thompson) catch: ``sum over R of L y / pi``;
- doubly robust catch: ``sum over R of mu + L (y - mu) / pi``, with ``mu`` the
  champion's calibrated probability (fixed before the window; unbiased whatever
  ``mu`` is, as long as ``pi`` is right, and tighter where ``mu`` is good);

where ``L`` is 1 for a crossing the service referred and whose outcome was recorded.
Rows in both lists cancel in the difference, which rests on the crossings only one
model would refer: those the champion alone would refer are mostly its own picks
(``pi = 1``, known exactly), those the challenger alone would refer are labelled
only by the random share, so their seizures are few. Resampling rows cannot show
the uncertainty of a stratum where nothing has been found yet, so each replicate
(2,000) draws the labelled-seizure count of each stratum of equal ``pi`` from its
Jeffreys posterior and the rest of the doubly robust sum by a Poisson bootstrap
over crossings (see :func:`_part_draws`); intervals are the replicates' 2.5% and
97.5% points. ``tests/test_compare.py`` checks their coverage of the true
difference over 40 simulated histories.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from training.evaluate import FEW_SEIZURES

#: the figures a comparison estimates for each list
VALUES = ("firearms_seized", "rounds_seized", "currency_seized_usd")
N_BOOT = 2000
#: columns of a shadow history (one row per crossing scored with both models)
COLUMNS = ("crossing_id", "port_code", "champion", "challenger", "mu", "selection_probability",
           "labelled", "seizure", *VALUES)


class CompareError(ValueError):
    """The history cannot support a comparison (no rows, no labels); the message says why."""


def referral_list(scores, ports, ids, capacity_of):
    """Boolean mask: the ``ceil(capacity * n)`` highest scores of each port (ties by id)."""
    frame = pd.DataFrame({"s": np.asarray(scores, float), "p": np.asarray(ports, object),
                          "id": np.asarray(ids, object)})
    frame = frame.sort_values(["p", "s", "id"], ascending=[True, False, True])
    rank = frame.groupby("p", sort=False).cumcount().to_numpy()
    size = frame.groupby("p", sort=False)["s"].transform("size").to_numpy()
    share = np.array([capacity_of(p) for p in frame["p"]], dtype=float)
    chosen = rank < np.ceil(share * size)
    mask = np.zeros(len(frame), dtype=bool)
    mask[frame.index.to_numpy()] = chosen
    return mask


def compare(history, capacity_of, champion="champion", challenger="challenger", n_boot=N_BOOT,
            seed=0):
    """Each model's estimated catch at the ports' capacities, and their difference.

    Parameters
    ----------
    history : DataFrame
        :data:`COLUMNS`, one row per crossing (``labelled`` bool; ``seizure`` and the
        amounts where labelled).
    capacity_of : callable
        Port code to the share of its crossings it can inspect.
    champion, challenger : str
        Their names in the answer (the model versions).

    Returns
    -------
    dict
        ``models`` (per model: referred, estimated seizures IPW and DR with intervals,
        hit rate, value caught), ``difference`` (challenger - champion, absolute and
        relative, IPW and DR, with intervals), ``agreement``, ``labels`` (what the
        estimates rest on), ``warnings`` and the ``verdict`` in words.
    """
    h = history.reset_index(drop=True)
    n = len(h)
    if n == 0:
        raise CompareError("no crossing was scored by both models: set the challenger in "
                           "shadow (southbound models shadow VERSION) and let traffic through")
    pi = h["selection_probability"].to_numpy(float)
    labelled = h["labelled"].to_numpy(bool) & np.isfinite(pi) & (pi > 0)
    if not labelled.any():
        raise CompareError(f"none of the {n:,} crossings scored by both models has a recorded "
                           "outcome of a referral: nothing to estimate from yet")
    inv = np.where(labelled, 1.0 / np.where(labelled, pi, 1.0), 0.0)
    y = np.where(labelled, h["seizure"].to_numpy(float), 0.0)
    y = np.nan_to_num(y)
    mu = np.clip(np.nan_to_num(h["mu"].to_numpy(float)), 0.0, 1.0)
    ports, ids = h["port_code"].to_numpy(object), h["crossing_id"].to_numpy(object)
    lists = {name: referral_list(h[col], ports, ids, capacity_of)
             for name, col in ((champion, "champion"), (challenger, "challenger"))}
    a, b = lists[champion], lists[challenger]
    parts = {"both": a & b, "champion_only": a & ~b, "challenger_only": b & ~a}
    rng = np.random.default_rng(seed)
    draws = {}
    for part, mask in parts.items():
        draws[part] = _part_draws(mask, y, pi, labelled, mu, n_boot, rng)
    models, replicates = {}, {}
    for name, own in ((champion, "champion_only"), (challenger, "challenger_only")):
        mask = lists[name]
        k = int(mask.sum())
        est = {m: draws["both"][m][0] + draws[own][m][0] for m in ("ipw", "dr")}
        reps = {m: draws["both"][m][1] + draws[own][m][1] for m in ("ipw", "dr")}
        replicates[name] = reps
        value = {v: float((np.nan_to_num(np.where(labelled, h[v].to_numpy(float), 0.0))
                           * inv)[mask].sum()) for v in VALUES}
        models[name] = {
            "referred": k, "estimated_seizures_ipw": est["ipw"], "ipw_ci": _ci(reps["ipw"]),
            "estimated_seizures_dr": est["dr"], "dr_ci": _ci(reps["dr"]),
            "hit_rate_dr": est["dr"] / k if k else math.nan,
            "hit_rate_dr_ci": _ci(reps["dr"] / k) if k else [math.nan, math.nan],
            "labelled_seizures": int(((y > 0) & mask).sum()), "value_caught_ipw": value}
    only = a ^ b
    difference = {}
    for method in ("ipw", "dr"):
        ca, cb = models[champion][f"estimated_seizures_{method}"], \
            models[challenger][f"estimated_seizures_{method}"]
        ra, rb = replicates[champion][method], replicates[challenger][method]
        with np.errstate(divide="ignore", invalid="ignore"):
            relative_b = rb / ra - 1.0
        difference[method] = {"seizures": cb - ca, "seizures_ci": _ci(rb - ra),
                              "relative": cb / ca - 1.0 if ca > 0 else math.nan,
                              "relative_ci": _ci(relative_b),
                              "se": float(np.std(rb - ra, ddof=1)) if n_boot > 1 else math.nan}
    behind = int(((y > 0) & only).sum())
    labels = {"crossings": n, "labelled": int(labelled.sum()),
              "labelled_seizures": int((y > 0).sum()),
              "referred_without_outcome": int((h["referred"].to_numpy(bool) & ~labelled).sum())
              if "referred" in h else 0,
              "seizures_where_lists_differ": behind}
    warnings = []
    if labels["labelled_seizures"] < FEW_SEIZURES:
        warnings.append(f"the estimates rest on {labels['labelled_seizures']} labelled seizures "
                        f"(fewer than {FEW_SEIZURES}): unstable")
    if labels["referred_without_outcome"]:
        warnings.append(f"{labels['referred_without_outcome']:,} referred crossings have no "
                        "recorded outcome: they count as not looked at, which is unbiased "
                        "only if outcomes go unrecorded at random")
    out = {"champion": champion, "challenger": challenger, "models": models,
           "difference": difference,
           "agreement": {"both": int((a & b).sum()), "champion_only": int((a & ~b).sum()),
                         "challenger_only": int((b & ~a).sum()),
                         "share_of_list": float((a & b).sum() / max(a.sum(), 1))},
           "labels": labels, "warnings": warnings}
    out["verdict"] = verdict(out)
    return out


def verdict(result):
    """The comparison in one sentence, from the doubly robust difference."""
    d = result["difference"]["dr"]
    lo, hi = d["relative_ci"]
    champion, challenger = result["champion"], result["challenger"]
    if math.isfinite(lo) and math.isfinite(hi) and (lo > 0 or hi < 0):
        word = "more" if d["relative"] > 0 else "fewer"
        return (f"{challenger} catches an estimated {abs(d['relative']):.0%} {word} "
                f"[{lo:+.0%}, {hi:+.0%}] than {champion} at the same capacity")
    seizures = result["labels"]["labelled_seizures"]
    diff, se = d["seizures"], d["se"]
    if not (math.isfinite(se) and se > 0) or abs(diff) < 1e-9:
        return (f"no difference shown yet between {challenger} and {champion}: the estimates "
                "are level, and more seizures would not tell them apart at this difference")
    needed = seizures * ((1.96 * se / abs(diff)) ** 2 - 1.0)
    return (f"no difference shown yet between {challenger} and {champion} "
            f"({d['relative']:+.0%} [{lo:+.0%}, {hi:+.0%}]): about {math.ceil(needed):,} more "
            f"labelled seizures needed to tell a difference this size")


def format_comparison(result):
    """The comparison as lines of text for the terminal."""
    width = max(28, *(len(f"{name} (challenger)") for name in result["models"]))
    lines = [f"{'model':<{width}} {'referred':>8}  {'est. seizures (DR)':>26}  "
             f"{'IPW':>22}  {'hit rate':>8}"]
    for name, m in result["models"].items():  # whole version ids: they are what is typed
        role = "champion" if name == result["champion"] else "challenger"
        lines.append(f"{name + ' (' + role + ')':<{width}} {m['referred']:>8,}  "
                     f"{m['estimated_seizures_dr']:>9.1f} [{m['dr_ci'][0]:6.1f}, "
                     f"{m['dr_ci'][1]:6.1f}]  {m['estimated_seizures_ipw']:>6.1f} "
                     f"[{m['ipw_ci'][0]:5.1f}, {m['ipw_ci'][1]:5.1f}]  {m['hit_rate_dr']:>8.1%}")
    for method in ("dr", "ipw"):
        d = result["difference"][method]
        lines.append(f"difference ({method.upper()}): {d['seizures']:+.1f} seizures "
                     f"[{d['seizures_ci'][0]:+.1f}, {d['seizures_ci'][1]:+.1f}], "
                     f"{d['relative']:+.0%} [{d['relative_ci'][0]:+.0%}, "
                     f"{d['relative_ci'][1]:+.0%}]")
    g, lab = result["agreement"], result["labels"]
    lines.append(f"agreement: {g['both']:,} crossings in both lists ({g['share_of_list']:.0%} "
                 f"of the champion's), {g['champion_only']:,} only the champion's, "
                 f"{g['challenger_only']:,} only the challenger's")
    lines.append(f"from {lab['crossings']:,} crossings scored by both, {lab['labelled']:,} "
                 f"referred with an outcome, {lab['labelled_seizures']} seizures "
                 f"({lab['seizures_where_lists_differ']} where the lists differ)")
    lines += [f"warning: {w}" for w in result["warnings"]]
    lines.append(result["verdict"])
    return lines


def _part_draws(mask, y, pi, labelled, mu, n_boot, rng):
    """Point estimates and replicates of one part of the lists, by both estimators.

    The part's labelled seizures fall into strata of equal ``pi``. A stratum with
    ``pi = 1`` was looked at whole: its count is known. In another, the count ``K``
    of labelled seizures is Poisson with mean ``pi * S`` (``S`` the stratum's
    seizures, looked at or not); a replicate draws that mean from its Jeffreys
    posterior, Gamma(K + 1/2), and adds it divided by ``pi``: even a stratum where
    nothing was found yet keeps the uncertainty of what was not looked at, where
    resampling rows would have none. The doubly robust estimate adds
    ``sum(mu) - sum over labelled of mu / pi`` (a sum over many rows: replicated by
    a Poisson bootstrap over the part's rows).
    """
    rows = np.flatnonzero(mask)
    seized = labelled[rows] & (y[rows] > 0)
    weight = np.where(labelled[rows], 1.0 / np.where(labelled[rows], pi[rows], 1.0), 0.0)
    # every stratum of the part's rows, found seizures or not (pi of rows never
    # referred is the chance they had: the random share)
    strata = np.round(np.where(np.isfinite(pi[rows]), pi[rows], 1.0), 12)
    counts = pd.Series(seized.astype(int), index=strata).groupby(level=0).sum()
    ipw = float(weight[seized].sum())
    ipw_draws = np.zeros(n_boot)
    for p, k in counts.items():
        if p >= 1.0:
            ipw_draws += k
        else:
            ipw_draws += rng.gamma(k + 0.5, 1.0, size=n_boot) / p
    control = mu[rows] - labelled[rows] * mu[rows] * weight
    boot = rng.poisson(1.0, size=(n_boot, len(rows))).astype(float) if len(rows) else \
        np.zeros((n_boot, 0))
    return {"ipw": (ipw, ipw_draws),
            "dr": (float(control.sum()) + ipw, boot @ control + ipw_draws)}


def _ci(samples):
    samples = np.asarray(samples, dtype=float)
    samples = samples[np.isfinite(samples)]
    if not len(samples):
        return [math.nan, math.nan]
    lo, hi = np.percentile(samples, [2.5, 97.5])
    return [float(lo), float(hi)]
