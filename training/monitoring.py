"""Monitoring statistics of the model report: drift (PSI) and the outcome test.

:func:`psi` compares a feature's distribution in recent traffic with the training
window's. :func:`outcome_table` is the outcome test: per group (a port, a plate
country) and referral source, how often a referral is inspected and finds something.
A group whose hit rate is below the others' under the same source is being referred
on weaker evidence. Small cells are suppressed rather than shown.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from scoring.wording import plural
from training import evaluate

PSI_BINS = 10
PSI_FLOOR = 1e-4
PSI_ALERT = 0.2
MIN_CELL = 20
N_BOOT = 500
SOURCES = ("model", "lookout", "random", "explore", "officer")
VALUES = (("firearms_seized", "firearms"), ("rounds_seized", "rounds"),
          ("currency_seized_usd", "USD"))


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

    Logs exported before the contract had the ``lookout`` value wrote a lookout
    referral as ``officer`` with selection probability 1 (an officer's own call has
    none), so such a row is read as ``lookout`` too.
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
        ``referrals``, ``inspected``, ``seizures``, ``referral_rate``, ``hit_rate``, ``firearms``,
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
    cell = {"outbound": n, "suppressed": False, "referrals": referrals, "inspected": k,
            "seizures": int(seizure[inspected].sum())}
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


# --- who a policy would refer --------------------------------------------------

#: a figure resting on fewer seizures than this is flagged with its count (one number
#: for the whole project: evaluate's budgets use it too)
FEW_SEIZURES = evaluate.FEW_SEIZURES


def capacity_picks(scores, ports, capacity_of, seed=0):
    """The crossings a score would refer: per port, its ``capacity_of(port)`` share of
    the port's outbound crossings, highest scores first (ties broken at random).

    Parameters
    ----------
    scores : array, shape (n,)
    ports : array of str, shape (n,)
    capacity_of : callable
        Port code to the share of its outbound traffic it can inspect
        (:meth:`scoring.policy.PolicyConfig.capacity_of`).

    Returns
    -------
    array of bool, shape (n,)

    Examples
    --------
    >>> capacity_picks(np.array([.1, .9, .5, .2]), np.array(["a", "a", "b", "b"]),
    ...                lambda port: 0.5).tolist()
    [False, True, True, False]
    """
    from training.evaluate import top_k
    scores, ports = np.asarray(scores, dtype=float), np.asarray(ports, dtype=object)
    picks = np.zeros(len(scores), dtype=bool)
    for port in pd.unique(ports):
        rows = np.flatnonzero(ports == port)
        picks[rows] = top_k(scores[rows], capacity_of(port), seed)
    return picks


def referral_table(labels, groups, picks, *, min_cell=MIN_CELL, n_boot=N_BOOT, seed=0):
    """Who each policy would refer, per group, and what it would find there.

    Estimates from the inspected rows among a policy's picks, each weighted by
    ``1 / selection_probability`` (``labels.weight``): the estimated seizures caught
    (Horvitz-Thompson), the hit rate of the picks (Hájek: weighted seizures over
    weighted inspected picks, so never above 100%) and the share of the group's
    estimated seizures caught; 95% intervals from a Poisson bootstrap of the group's
    inspected rows.

    Parameters
    ----------
    labels : training.evaluate.Labels
        Of the ``n`` outbound rows.
    groups : array of str, shape (n,)
        The group of each row (a plate country, a port).
    picks : dict
        Policy name to a boolean mask of shape (n,): the rows it would refer.
    min_cell : int
        A cell with fewer inspected rows among the policy's picks is suppressed.

    Returns
    -------
    list of dict
        Per (group, policy), ``"all"`` first then groups by volume: ``group``,
        ``policy``, ``outbound``, ``referred``, ``referral_rate``, ``inspected`` and
        ``seizures`` (observed, among the picks), ``suppressed``; when not suppressed
        ``estimated_seizures``, ``hit_rate``, ``recall``, each with ``_lo`` / ``_hi``,
        and ``few_seizures``: fewer than :data:`FEW_SEIZURES` observed seizures.
    """
    rng = np.random.default_rng(seed)
    groups = np.asarray(groups, dtype=object)
    hits = labels.y * labels.weight
    order = pd.Series(groups).value_counts(sort=True).index.tolist()
    rows = []
    for group in ["all"] + order:
        in_group = np.ones(len(groups), bool) if group == "all" else groups == group
        labelled = np.flatnonzero(in_group & labels.resolved)
        boot = rng.poisson(1.0, size=(n_boot, len(labelled)))
        b_total = boot @ hits[labelled]
        for name, chosen in picks.items():
            mine = chosen[labelled]
            cell = {"group": group, "policy": name, "outbound": int(in_group.sum()),
                    "referred": int((chosen & in_group).sum()),
                    "inspected": int(mine.sum()),
                    "seizures": int(labels.y[labelled][mine].sum())}
            cell["referral_rate"] = cell["referred"] / max(cell["outbound"], 1)
            cell["suppressed"] = cell["inspected"] < min_cell
            if not cell["suppressed"]:
                cell.update(_estimates(labels, labelled, mine, boot, b_total))
                cell["few_seizures"] = cell["seizures"] < FEW_SEIZURES
            rows.append(cell)
    return rows


def _estimates(labels, labelled, mine, boot, b_total):
    """Catch, hit rate and recall of one cell, each with a 95% bootstrap interval."""
    w, y = labels.weight[labelled], labels.y[labelled]
    caught, weighed = (w * y * mine), (w * mine)
    b_caught, b_weighed = boot @ caught, boot @ weighed
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, value, samples in (
                ("estimated_seizures", caught.sum(), b_caught),
                ("hit_rate", caught.sum() / weighed.sum(), b_caught / b_weighed),
                ("recall", caught.sum() / (w * y).sum() if y.any() else np.nan,
                 b_caught / b_total)):
            out[name] = float(value)
            lo, hi = (np.nanpercentile(samples, [2.5, 97.5]) if np.isfinite(samples).any()
                      else (np.nan, np.nan))
            out[f"{name}_lo"], out[f"{name}_hi"] = float(lo), float(hi)
    return out


def few_seizures_note(seizures, what="this figure"):
    """HTML-free warning when ``what`` rests on fewer than :data:`FEW_SEIZURES` seizures."""
    if seizures >= FEW_SEIZURES:
        return ""
    return (f"{what} rests on {plural(int(seizures), 'seizure')} "
            f"(fewer than {FEW_SEIZURES}): read it as unstable")
