"""Batch scoring: every outbound row of a log, with the rest of the log as history."""
from __future__ import annotations

import numpy as np
import pandas as pd

from scoring.features import feature_frame
from scoring.policy import PolicyConfig, ScoreQuantiles, batch_referrals, risk_bands
from scoring.reasons import group_matrix, reason_lines, top_groups

OUTPUT_COLUMNS = ("crossing_id", "risk_score", "risk_band", "refer", "reasons")
_NEVER = ScoreQuantiles({"0.5": float("inf")})  # no quantiles, no model referral


def score_frame(model, frame, policy=None, quantiles=None):
    """Score the outbound rows of a canonical log frame.

    Parameters
    ----------
    model : scoring.model.RiskModel
    frame : DataFrame
        Canonical log; all its rows serve as history, outcome cells may be empty.
    policy : PolicyConfig, optional
    quantiles : ScoreQuantiles, optional
        The model's own score quantiles (``ScoreQuantiles.from_manifest``): a row is
        referred when its score reaches its port's threshold for the port's capacity.
        Without them no row is referred.

    Returns
    -------
    DataFrame, shape (n_outbound, 5)
        ``crossing_id, risk_score, risk_band, refer, reasons`` (top three, in
        words, joined by "; "; a referred row's weakest gives its place to
        "selected for inspection", as in the service), in the log's order.
    """
    feats = feature_frame(frame)
    return score_features(model, feats, frame.loc[feats.index, "crossing_id"].to_numpy(),
                          policy, quantiles)


def score_features(model, feats, crossing_ids, policy=None, quantiles=None):
    """Score rows whose features are computed (``feature_frame``'s columns), in their
    order: the row-local half of :func:`score_frame`, which every execution shares."""
    policy = policy or PolicyConfig()
    if feats.empty:
        return pd.DataFrame({"crossing_id": pd.Series([], dtype=object),
                             "risk_score": pd.Series([], dtype=float),
                             "risk_band": pd.Series([], dtype=object),
                             "refer": pd.Series([], dtype=bool),
                             "reasons": pd.Series([], dtype=object)})
    raw, contributions = model.explain(feats)
    scores = model.calibrate(raw)
    groups = top_groups(contributions, group_matrix(model.features_))
    refer = batch_referrals(scores, feats["port_code"].to_numpy(dtype=object), policy,
                            quantiles if quantiles is not None else _NEVER)
    reasons = reason_lines(feats, groups, refer)
    return pd.DataFrame({
        "crossing_id": np.asarray(crossing_ids, dtype=object),
        "risk_score": np.round(scores, 6),
        "risk_band": risk_bands(scores, policy.bands),
        "refer": refer,
        "reasons": reasons,
    })
