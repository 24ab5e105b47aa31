"""Simulated shadow periods with known truth: does ``compare`` cover what it estimates?

A shadow period is what the service logs while a challenger shadows the champion:
every outbound crossing scored by both, the champion's :class:`~scoring.policy.
ReferralPolicy` deciding each one in time order (its random share, its exploration
with each crossing's own selection probability, the model's picks), and the outcome
recorded where secondary looked. On a generated world the truth file says who
carried, so each model's referral list has a known true catch, and so does their
difference. Repeating the period with fresh draws of the policy, the share of
repetitions whose 95% interval holds the truth is the interval's coverage.

The two models score the window once (features from the log as generated); only
the policy's draws change between repetitions, which is the randomness the
comparison's intervals describe.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.features import feature_frame
from scoring.policy import PolicyConfig, ReferralPolicy, ScoreQuantiles, exploration_cell
from training.backtest import truth_carriers
from training.compare import compare, referral_list

#: the figures whose intervals are checked: each model's catch and their difference
CHECKED = ("champion", "challenger", "difference")


@dataclass(frozen=True)
class ShadowWindow:
    """The window's outbound crossings in time order, scored by both models, with truth."""

    crossing_id: np.ndarray
    port_code: np.ndarray
    champion: np.ndarray
    challenger: np.ndarray
    unseen: np.ndarray
    cells: list
    carrier: np.ndarray

    def __len__(self):
        return len(self.crossing_id)


def score_window(frame, truth, champion, challenger, start_us):
    """Score the outbound crossings at or after ``start_us`` with both models.

    Parameters
    ----------
    frame : DataFrame
        A crossing log (contract columns), both directions.
    truth : DataFrame
        The generator's truth file: ``crossing_id``, ``carrier``.
    champion, challenger : RiskModel
    start_us : int
        The window's first instant, UTC microseconds.

    Returns
    -------
    ShadowWindow
    """
    times = frame["crossed_at"].to_numpy("int64")
    outbound = (frame["direction"] == "outbound").to_numpy()
    query = outbound & (times >= start_us)
    if not query.any():
        raise ValueError("no outbound crossing in the shadow window")
    feats = feature_frame(frame, query=query)
    order = np.argsort(times[query], kind="stable")
    feats = feats.iloc[order]
    ids = frame["crossing_id"].to_numpy(object)[query][order]
    hours = feats["local_hour"].to_numpy(float)
    return ShadowWindow(
        crossing_id=ids, port_code=frame["port_code"].to_numpy(object)[query][order],
        champion=champion.predict_proba(feats)[:, 1],
        challenger=challenger.predict_proba(feats)[:, 1],
        unseen=np.isnan(feats["plate_days_since_first_seen"].to_numpy(float)),
        cells=[exploration_cell(h, c) for h, c in zip(hours, feats["vehicle_class"])],
        carrier=truth_carriers(truth, ids))


def shadow_history(window, manifest, config=None, seed=0):
    """One shadow period: the champion's policy decides each crossing with fresh draws.

    Returns
    -------
    DataFrame
        :data:`training.compare.COLUMNS` plus ``referred``, as
        ``Store.shadow_history`` gives it; every referred crossing is inspected and
        finds what the truth file holds.
    """
    config = config or PolicyConfig()
    policy = ReferralPolicy(config, ScoreQuantiles.from_manifest(manifest))
    draws = np.random.default_rng(seed).random(len(window))
    refer = np.zeros(len(window), dtype=bool)
    chance = np.ones(len(window))
    # Python floats and bools, as the service passes them (converted once, not per row)
    for i, (score, port, draw, unseen, cell) in enumerate(zip(
            window.champion.tolist(), window.port_code.tolist(), draws.tolist(),
            window.unseen.tolist(), window.cells)):
        decision = policy.decide(score, port, False, draw, unseen, cell)
        policy.observe(port, score)
        refer[i], chance[i] = decision.refer, decision.selection_probability
    seized = np.where(refer, window.carrier, np.nan).astype(float)
    zero = np.where(refer, 0.0, np.nan)
    return pd.DataFrame({
        "crossing_id": window.crossing_id, "port_code": window.port_code,
        "champion": window.champion, "challenger": window.challenger,
        "mu": window.champion, "selection_probability": chance, "labelled": refer,
        "referred": refer, "seizure": seized, "firearms_seized": seized,
        "rounds_seized": zero, "currency_seized_usd": zero})


def true_catch(window, capacity_of):
    """The true seizures in each model's referral list at the ports' capacities."""
    lists = {name: referral_list(getattr(window, name), window.port_code,
                                 window.crossing_id, capacity_of)
             for name in ("champion", "challenger")}
    catch = {name: int(window.carrier[mask].sum()) for name, mask in lists.items()}
    catch["difference"] = catch["challenger"] - catch["champion"]
    return catch


def coverage(window, manifest, repetitions=200, config=None, capacity_of=None, n_boot=1000,
             seed=0, progress=None):
    """How often the 95% intervals of ``compare`` hold the truth over repeated periods.

    ``config`` is the service's policy over the period; the lists are compared at
    ``capacity_of`` (default: the policy's own capacities), as ``compare --policy``
    may ask how the models would do at another capacity.

    Returns
    -------
    dict
        ``truth`` (:func:`true_catch`), ``repetitions``, and per method (``ipw``,
        ``dr``) and figure (:data:`CHECKED`): ``covered`` (a count), ``coverage``,
        ``mean_estimate``, ``sd_estimate`` (over the repetitions), ``median_width``, ``below`` and ``above`` (repetitions whose
        interval missed the truth on that side); ``insufficient``, the repetitions
        where no crossing of either list had an outcome.
    """
    config = config or PolicyConfig()
    capacity_of = capacity_of or config.capacity_of
    truth = true_catch(window, capacity_of)
    rows = {(m, f): [] for m in ("ipw", "dr") for f in CHECKED}
    insufficient = 0
    for r in range(repetitions):
        history = shadow_history(window, manifest, config, seed=seed + r)
        result = compare(history, capacity_of, n_boot=n_boot, seed=seed + r)
        if not result["sufficient"]:
            insufficient += 1
            continue
        for method in ("ipw", "dr"):
            d = result["difference"][method]
            figures = {"difference": (d["seizures"], d["seizures_ci"])}
            for name in ("champion", "challenger"):
                m = result["models"][name]
                figures[name] = (m[f"estimated_seizures_{method}"], m[f"{method}_ci"])
            for figure, (estimate, (lo, hi)) in figures.items():
                rows[method, figure].append((estimate, lo, hi))
        if progress and (r + 1) % 50 == 0:
            progress(f"  {r + 1} of {repetitions} shadow periods")
    out = {"truth": truth, "repetitions": repetitions, "insufficient": insufficient}
    for (method, figure), found in rows.items():
        est, lo, hi = (np.array(v, dtype=float) for v in zip(*found)) if found else \
            (np.array([]),) * 3
        t = truth[figure]
        out.setdefault(method, {})[figure] = {
            "covered": int(((lo <= t) & (t <= hi)).sum()),
            "coverage": float(((lo <= t) & (t <= hi)).mean()) if len(est) else float("nan"),
            "below": int((hi < t).sum()), "above": int((lo > t).sum()),
            "mean_estimate": float(est.mean()) if len(est) else float("nan"),
            "sd_estimate": float(est.std(ddof=1)) if len(est) > 1 else float("nan"),
            "median_width": float(np.median(hi - lo)) if len(est) else float("nan")}
    return out
