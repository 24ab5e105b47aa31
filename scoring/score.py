"""The scoring recipe, written once: probability, band, reasons, referral.

Every place that scores calls it: the service and a challenger in shadow score one
crossing (:func:`score_one`), batch scoring and each Dask partition score a frame
of them (:func:`score_batch`). Both give a :class:`Scored`: the same fields, plain
values for one crossing, arrays for a batch.

The recipe: the model's raw score (and its additive contributions) from the
features; the calibrated probability; its risk band; the reasons, the groups of
features that raised the raw score most, in words; the referral; and a referred
crossing's reasons with "selected for inspection" in the weakest place.

Examples
--------
>>> decide = lambda p: policy.decide(p, port, False, rng.random())       # doctest: +SKIP
>>> score_one(model, features, config.bands, groups=groups, decide=decide)  # doctest: +SKIP
>>> score_batch(model, feats, config, quantiles).frame(crossing_ids)     # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.policy import (DEFAULT_BANDS, Decision, PolicyConfig, ScoreQuantiles,
                            batch_referrals, risk_band, risk_bands)
from scoring.reasons import explain, group_matrix, reason_lines, top_groups, with_selection

#: the columns of batch scoring's output, in order (:meth:`Scored.frame`)
OUTPUT_COLUMNS = ("crossing_id", "risk_score", "risk_band", "refer", "reasons")
_NEVER = ScoreQuantiles({"0.5": float("inf")})  # no quantiles, no model referral


@dataclass(slots=True)
class Scored:
    """What scoring gives: one crossing's values (:func:`score_one`), or arrays of
    shape (n,) of a batch's (:func:`score_batch`).

    Attributes
    ----------
    raw : float or array
        The raw score (log-odds before calibration).
    probability : float or array
        The calibrated probability, never exactly 0 or 1.
    band : str or array of str
    refer : bool or array of bool
    reasons : list of dict, array of str, or None
        One crossing's reasons (``{"factor", "text"}``, strongest first; None when
        not asked for); a batch's as lines of text joined by "; ".
    decision : Decision or None
        The online policy's decision of one crossing (its source and selection
        probability), when a ``decide`` was given.
    threshold : float or None
        The score quantile one crossing was held against, when given.
    """

    raw: float | np.ndarray
    probability: float | np.ndarray
    band: str | np.ndarray
    refer: bool | np.ndarray
    reasons: list | np.ndarray | None
    decision: Decision | None = None
    threshold: float | None = None

    def frame(self, crossing_ids):
        """A batch's scores as written by ``southbound score``: :data:`OUTPUT_COLUMNS`,
        the probability rounded to 6 decimals, a row per ``crossing_ids``, in order."""
        return pd.DataFrame({
            "crossing_id": np.asarray(crossing_ids, dtype=object),
            "risk_score": np.round(self.probability, 6),
            "risk_band": self.band,
            "refer": self.refer,
            "reasons": self.reasons,
        })


def score_one(model, features, bands=DEFAULT_BANDS, *, groups=None, decide=None,
              threshold=None):
    """Score one crossing from its features (the service's path, and a challenger's).

    Parameters
    ----------
    model : scoring.model.RiskModel
    features : mapping
        The crossing's feature values (``scoring.features.feature_record``).
    bands : sequence of (name, lower bound)
        ``PolicyConfig.bands``.
    groups : array, optional
        ``group_matrix(model.features_)``, computed once per model: the reasons are
        worded. None: no reasons and no contributions (a shadow score's path).
    decide : callable, optional
        ``decide(probability) -> Decision``: the online policy's decision (lookouts,
        random share, model, exploration), called once.
    threshold : float, optional
        Without ``decide``: the crossing is referred when its probability reaches it
        (the batch rule, :func:`scoring.policy.batch_referrals`, for one crossing).
        With neither, nothing is referred.

    Returns
    -------
    Scored
        Plain values: ``raw`` and ``probability`` floats, ``refer`` a bool.
    """
    row = model.vector(features)
    if groups is None:
        raw, contributions = model.raw_row(row), None
    else:
        raw, contributions = model.explain_row(row)
    probability = model.calibrate_one(raw)
    band = risk_band(probability, bands)
    reasons = None if groups is None else explain(features, top_groups(contributions, groups)[0])
    decision = None
    if decide is not None:
        decision = decide(probability)
        refer = decision.refer
    else:
        refer = threshold is not None and bool(probability >= threshold)
    if refer and reasons is not None:
        reasons = with_selection(reasons)
    return Scored(raw, probability, band, refer, reasons, decision, threshold)


def score_batch(model, feats, config=None, quantiles=None):
    """Score rows whose features are computed, vectorised (batch scoring, and each
    partition of a Dask job).

    Parameters
    ----------
    model : scoring.model.RiskModel
    feats : DataFrame, shape (n, ...)
        ``scoring.features.feature_frame``'s columns (and ``port_code``).
    config : PolicyConfig, optional
        Bands and capacity per port (default: ``PolicyConfig()``).
    quantiles : ScoreQuantiles, optional
        The model's own score quantiles (``ScoreQuantiles.from_manifest``): a row is
        referred when its probability reaches its port's quantile for the port's
        capacity. Without them no row is referred.

    Returns
    -------
    Scored
        Arrays of shape (n,); ``reasons`` the top three, in words, joined by "; " (a
        referred row's weakest gives its place to "selected for inspection").
    """
    config = config or PolicyConfig()
    if feats.empty:
        return Scored(np.empty(0), np.empty(0), np.empty(0, dtype=object),
                      np.empty(0, dtype=bool), np.empty(0, dtype=object))
    raw, contributions = model.explain(feats)
    probability = model.calibrate(raw)
    groups = top_groups(contributions, group_matrix(model.features_))
    refer = batch_referrals(probability, feats["port_code"].to_numpy(dtype=object), config,
                            quantiles if quantiles is not None else _NEVER)
    reasons = reason_lines(feats, groups, refer)
    return Scored(raw, probability, risk_bands(probability, config.bands), refer, reasons)
