"""Off-policy comparison of two models from what the service logged while one shadowed the other.

Every crossing scored while a challenger was in shadow carries both scores, the
service's selection probability ``pi`` (1 for the model's picks and lookouts, the
chance of the random share or exploration otherwise) and, where secondary looked,
the outcome. The inspected crossings were picked by the model in service, so
counting seizures among each model's picks favours it; weighting each labelled
crossing by ``1 / pi`` does not.

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
only by the random share and exploration, so their seizures are few. Each of the
three parts (both lists, the champion's only, the challenger's only) is replicated
2,000 times (:func:`_part_draws`); intervals are the replicates' 2.5% and 97.5%
points, always holding their estimate, and a list's catch stays between the
seizures found in it and its size. ``benchmarks/compare_coverage.py`` measures the
intervals' coverage of the true catch on simulated shadow periods of a generated
world (:mod:`training.shadow_sim`); ``tests/test_compare.py`` asserts it.

Where no crossing of either list has a recorded outcome, there is nothing to tell
the models apart: the answer says so and is marked ``sufficient: false``, which a
promotion that requires a comparison does not accept.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from scoring.wording import FEW_SEIZURES, plural

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
    shares = {port: capacity_of(port) for port in pd.unique(frame["p"])}
    share = frame["p"].map(shares).to_numpy(float)
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
    inv = np.where(labelled, 1.0 / np.where(labelled, pi, 1.0), 0.0)
    y = np.where(labelled, h["seizure"].to_numpy(float), 0.0)
    y = np.nan_to_num(y)
    mu = np.clip(np.nan_to_num(h["mu"].to_numpy(float)), 0.0, 1.0)
    ports, ids = h["port_code"].to_numpy(object), h["crossing_id"].to_numpy(object)
    lists = {name: referral_list(h[col], ports, ids, capacity_of)
             for name, col in ((champion, "champion"), (challenger, "challenger"))}
    a, b = lists[champion], lists[challenger]
    labels = {"crossings": n, "labelled": int(labelled.sum()),
              "labelled_in_lists": int((labelled & (a | b)).sum()),
              "labelled_seizures": int((y > 0).sum()),
              "referred_without_outcome": int((h["referred"].to_numpy(bool) & ~labelled).sum())
              if "referred" in h else 0,
              "seizures_where_lists_differ": int(((y > 0) & (a ^ b)).sum())}
    agreement = {"both": int((a & b).sum()), "champion_only": int((a & ~b).sum()),
                 "challenger_only": int((b & ~a).sum()),
                 "share_of_list": float((a & b).sum() / max(a.sum(), 1))}
    out = {"champion": champion, "challenger": challenger, "agreement": agreement,
           "labels": labels}
    if not labels["labelled_in_lists"]:
        return _insufficient(out, lists, labels)
    paired = paired_catch(a, b, y, pi, labelled, mu, n_boot, np.random.default_rng(seed))
    models, replicates = {}, {}
    for name, side in ((champion, "a"), (challenger, "b")):
        mask = lists[name]
        k = int(mask.sum())
        bounds = paired[side]["bounds"]
        est = {m: paired[side][m][0] for m in ("ipw", "dr")}
        reps = {m: paired[side][m][1] for m in ("ipw", "dr")}
        replicates[name] = reps
        value = {v: float((np.nan_to_num(np.where(labelled, h[v].to_numpy(float), 0.0))
                           * inv)[mask].sum()) for v in VALUES}
        models[name] = {
            "referred": k, "estimated_seizures_ipw": est["ipw"],
            "ipw_ci": _ci(reps["ipw"], est["ipw"], bounds),
            "estimated_seizures_dr": est["dr"], "dr_ci": _ci(reps["dr"], est["dr"], bounds),
            "hit_rate_dr": est["dr"] / k if k else math.nan,
            "hit_rate_dr_ci": _ci(reps["dr"] / k, est["dr"] / k, (0.0, 1.0)) if k
            else [math.nan, math.nan],
            "labelled_seizures": int(((y > 0) & mask).sum()), "value_caught_ipw": value}
    difference = {}
    for method in ("ipw", "dr"):
        ca, cb = models[champion][f"estimated_seizures_{method}"], \
            models[challenger][f"estimated_seizures_{method}"]
        ra, rb = replicates[champion][method], replicates[challenger][method]
        with np.errstate(divide="ignore", invalid="ignore"):
            relative_b = rb / ra - 1.0
        relative = cb / ca - 1.0 if ca > 0 else math.nan
        difference[method] = {"seizures": cb - ca, "seizures_ci": _ci(rb - ra, cb - ca),
                              "relative": relative, "relative_ci": _ci(relative_b, relative),
                              "se": float(np.std(rb - ra, ddof=1)) if n_boot > 1 else math.nan}
    warnings = []
    if labels["labelled_seizures"] < FEW_SEIZURES:
        warnings.append(f"the estimates rest on {plural(labels['labelled_seizures'], 'labelled seizure')} "
                        f"(fewer than {FEW_SEIZURES}): unstable")
    if labels["referred_without_outcome"]:
        warnings.append(f"{plural(labels['referred_without_outcome'], 'referred crossing')} "
                        "without a recorded outcome count as not looked at, which is unbiased "
                        "only if outcomes go unrecorded at random")
    out.update(models=models, difference=difference, warnings=warnings, sufficient=True)
    out["verdict"] = verdict(out)
    return out


def paired_catch(a, b, y, pi, labelled, mu, n_boot=N_BOOT, rng=None):
    """Two lists' estimated catch from the same draws, by both estimators.

    The rows in both lists, those in ``a`` only and those in ``b`` only are each
    replicated once (:func:`_part_draws`); each list's estimate and replicates are its
    shared part plus its own, so the rows in both cancel exactly in a difference
    ``b - a``, replicate by replicate. :func:`compare` and the backtest's paired
    comparison with the plain candidate (:mod:`training.candidates`) both use it.

    Parameters
    ----------
    a, b : array of bool, shape (n,)
        The two lists.
    y : array, shape (n,)
        The seizure flag where ``labelled`` (anything elsewhere: it is not read).
    pi : array, shape (n,)
        Each row's selection probability.
    labelled : array of bool, shape (n,)
        Looked at, with a recorded outcome.
    mu : array, shape (n,)
        The outcome model of the doubly robust estimate, fixed before the window.

    Returns
    -------
    dict
        ``{"a": {"ipw": (estimate, replicates), "dr": (...), "bounds": (low, high)},
        "b": ...}``; each estimate and replicate kept within its list's ``bounds``: the
        seizures found in the list and the list's size.

    Examples
    --------
    >>> same = np.array([True, False])
    >>> out = paired_catch(same, same, np.array([1.0, 0.0]), np.ones(2), same, np.zeros(2), 10)
    >>> out["a"]["ipw"][0], out["b"]["ipw"][0]
    (1.0, 1.0)
    """
    rng = rng or np.random.default_rng(0)
    y = np.where(labelled, np.nan_to_num(np.asarray(y, float)), 0.0)
    parts = {"both": a & b, "a_only": a & ~b, "b_only": b & ~a}
    draws = {part: _part_draws(mask, y, pi, labelled, mu, n_boot, rng)
             for part, mask in parts.items()}
    out = {}
    for side, mask, own in (("a", a, "a_only"), ("b", b, "b_only")):
        # a list holds at least the seizures found in it and at most one per crossing
        bounds = (float(((y > 0) & mask).sum()), float(mask.sum()))
        out[side] = {m: (float(np.clip(draws["both"][m][0] + draws[own][m][0], *bounds)),
                         np.clip(draws["both"][m][1] + draws[own][m][1], *bounds))
                     for m in ("ipw", "dr")}
        out[side]["bounds"] = bounds
    return out


def _insufficient(out, lists, labels):
    """The answer when no crossing either model would refer has a recorded outcome: each
    list's size, no estimate, a verdict that says what is missing; kept as insufficient
    evidence, which a promotion that requires a comparison does not accept."""
    nan2 = [math.nan, math.nan]
    out["models"] = {name: {"referred": int(mask.sum()), "estimated_seizures_ipw": math.nan,
                            "ipw_ci": nan2, "estimated_seizures_dr": math.nan, "dr_ci": nan2,
                            "hit_rate_dr": math.nan, "hit_rate_dr_ci": nan2,
                            "labelled_seizures": 0,
                            "value_caught_ipw": {v: math.nan for v in VALUES}}
                     for name, mask in lists.items()}
    out["difference"] = {m: {"seizures": math.nan, "seizures_ci": nan2, "relative": math.nan,
                             "relative_ci": nan2, "se": math.nan} for m in ("ipw", "dr")}
    either = int(np.logical_or(*lists.values()).sum())
    out["warnings"] = []
    out["sufficient"] = False
    out["verdict"] = (
        f"insufficient evidence: none of the {plural(either, 'crossing')} either model would "
        f"refer (of {plural(labels['crossings'], 'crossing')} scored by both) has a recorded "
        f"outcome yet, and {plural(labels['labelled'], 'outcome')} recorded on others cannot "
        "tell the models apart; record the outcomes of inspected crossings and compare again")
    return out



def verdict(result):
    """The comparison in one sentence, from the doubly robust difference: a difference
    is shown only where its interval excludes zero."""
    d = result["difference"]["dr"]
    lo, hi = d["seizures_ci"]
    champion, challenger = result["champion"], result["challenger"]
    size = f"{d['seizures']:+.1f} seizures [{lo:+.1f}, {hi:+.1f}]"
    if math.isfinite(d["relative"]):
        rlo, rhi = d["relative_ci"]
        size += f", {d['relative']:+.0%} [{rlo:+.0%}, {rhi:+.0%}]"
    if math.isfinite(lo) and math.isfinite(hi) and (lo > 0 or hi < 0):
        word = "more" if d["seizures"] > 0 else "fewer"
        return (f"{challenger} catches {word} than {champion} at the same capacity: "
                f"an estimated {size}")
    seizures = result["labels"]["labelled_seizures"]
    diff, se = d["seizures"], d["se"]
    if not (math.isfinite(se) and se > 0) or abs(diff) < 1e-9:
        return (f"no difference shown yet between {challenger} and {champion}: the estimates "
                "are level, and more seizures would not tell them apart at this difference")
    needed = max(1, math.ceil(seizures * ((1.96 * se / abs(diff)) ** 2 - 1.0)))
    return (f"no difference shown yet between {challenger} and {champion} ({size}): "
            f"about {plural(needed, 'more labelled seizure')} needed to tell a difference "
            "this size")


def format_comparison(result):
    """The comparison as lines of text for the terminal: a table of the two models (full
    version ids), the differences, what they rest on and the verdict."""
    width = max(len("model"), *(len(name) for name in result["models"]))
    lines = [f"{'model':<{width}}  {'role':<10}  {'referred':>8}  {'est. seizures (DR)':>20}  "
             f"{'est. seizures (IPW)':>20}  {'hit rate (DR)':>21}"]
    for name, m in result["models"].items():
        role = "champion" if name == result["champion"] else "challenger"
        lines.append(f"{name:<{width}}  {role:<10}  {m['referred']:>8,}  "
                     f"{_with_ci(m['estimated_seizures_dr'], m['dr_ci'], '{:.1f}'):>20}  "
                     f"{_with_ci(m['estimated_seizures_ipw'], m['ipw_ci'], '{:.1f}'):>20}  "
                     f"{_with_ci(m['hit_rate_dr'], m['hit_rate_dr_ci'], '{:.1%}'):>21}")
    if result.get("sufficient", True):
        for method in ("dr", "ipw"):
            d = result["difference"][method]
            text = f"difference ({method.upper()}): " + _with_ci(
                d["seizures"], d["seizures_ci"], "{:+.1f}") + " seizures"
            if math.isfinite(d["relative"]):
                text += ", " + _with_ci(d["relative"], d["relative_ci"], "{:+.0%}")
            lines.append(text)
    g, lab = result["agreement"], result["labels"]
    lines.append(f"agreement: {plural(g['both'], 'crossing')} in both lists "
                 f"({g['share_of_list']:.0%} of the champion's), {g['champion_only']:,} only "
                 f"the champion's, {g['challenger_only']:,} only the challenger's")
    lines.append(f"from {plural(lab['crossings'], 'crossing')} scored by both: "
                 f"{plural(lab['labelled'], 'referral')} with an outcome, "
                 f"{plural(lab['labelled_seizures'], 'seizure')} "
                 f"({lab['seizures_where_lists_differ']:,} where the lists differ)")
    lines += [f"warning: {w}" for w in result["warnings"]]
    lines.append(result["verdict"])
    return lines


def _with_ci(value, interval, fmt):
    if not math.isfinite(value):
        return "-"
    return f"{fmt.format(value)} [{fmt.format(interval[0])}, {fmt.format(interval[1])}]"


def _part_draws(mask, y, pi, labelled, mu, n_boot, rng):
    """Point estimates and replicates of one part of the lists, by both estimators.

    A labelled row with ``pi = 1`` (a model's or a lookout's pick) was looked at for
    certain: its seizure is known. The other rows of the part were each looked at
    with their own chance ``pi < 1`` (the random share, exploration). They are
    pooled, one count for the part rather than one per distinct ``pi``: exploration
    gives nearly every crossing its own chance, and a prior per stratum adds up to
    a bias as large as the estimate. Of the pooled rows' seizures, the ``K`` found
    are known; each stands for ``(1 - p) / p`` more not looked at (``1 / p`` the
    mean weight of those found, or of all the pooled rows while none is), so the
    seizures not looked at are negative binomial given ``K``: mean ``K (1 - p) / p``,
    variance ``K (1 - p) / p^2``. A replicate draws them from the Gamma of that mean
    and variance, half the replicates with ``K`` and half with ``K + 1`` (mid-p, as
    Lancaster's interval for a count: a part where nothing was found yet reaches
    down to zero and keeps the uncertainty of what was not looked at, where
    resampling rows would have none; one lucky find at a small ``p`` does not lift
    the lower end far above the seizures found). Neither the estimate nor a replicate puts more seizures among
    the rows not looked at than there are such rows. The doubly robust estimate adds
    ``sum(mu) - sum over labelled of mu / pi``; its replicates are centred on it,
    with the spread of the seizures not looked at plus a Poisson bootstrap of that
    sum over the part's rows.
    """
    rows = np.flatnonzero(mask)
    p = pi[rows]
    p = np.where(np.isfinite(p) & (p > 0), p, 1.0)
    lab = labelled[rows]
    seized = lab & (y[rows] > 0)
    certain = p >= 1.0
    known = float((seized & certain).sum())
    ipw, ipw_draws = known, np.full(n_boot, known)
    spread = np.zeros(n_boot)
    pooled = ~certain
    if pooled.any():
        found = seized & pooled
        k = int(found.sum())
        weights = 1.0 / p[found]
        # each seizure found stands for itself and (1 - p) / p not looked at
        odds = float(weights.mean() - 1.0) if k else float(pooled.sum() / p[pooled].sum() - 1.0)
        room = float((pooled & ~lab).sum())  # pooled rows not looked at
        hidden = min(float(weights.sum()) - k, room)
        ipw += k + hidden
        # given K found at chance p, the seizures not looked at are negative binomial,
        # mean K (1 - p) / p, variance K (1 - p) / p^2: drawn from the Gamma of that
        # mean and variance, half the replicates with K found and half with K + 1
        shape = (k + (rng.random(n_boot) < 0.5)) * odds / (odds + 1.0)
        count = np.where(shape > 0, rng.gamma(np.maximum(shape, 1e-12), 1.0), 0.0)
        unseen = np.minimum(count * (odds + 1.0), room)
        ipw_draws = ipw_draws + k + unseen
        spread = unseen - unseen.mean()
    control = mu[rows] - lab * mu[rows] * np.where(lab, 1.0 / p, 0.0)
    boot = rng.poisson(1.0, size=(n_boot, len(rows))).astype(float) if len(rows) else \
        np.zeros((n_boot, 0))
    dr = float(control.sum()) + ipw
    return {"ipw": (ipw, ipw_draws),
            "dr": (dr, dr + spread + boot @ control - float(control.sum()))}


def _ci(samples, estimate, bounds=(-math.inf, math.inf)):
    """The replicates' 2.5% and 97.5% points, widened to hold ``estimate`` and kept
    within ``bounds``.

    The replicates of a part's seizures not looked at lean above its estimate (their
    mean is that of K + 1/2 found), so where most of a figure rests on such parts the
    percentiles alone could leave the estimate just outside: an interval always holds
    its own estimate.
    """
    samples = np.asarray(samples, dtype=float)
    samples = samples[np.isfinite(samples)]
    if not len(samples) or not math.isfinite(estimate):
        return [math.nan, math.nan]
    lo, hi = np.percentile(samples, [2.5, 97.5])
    lo, hi = min(float(lo), estimate), max(float(hi), estimate)
    return [max(lo, bounds[0]), min(hi, bounds[1])]
