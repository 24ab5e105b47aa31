"""Batch scoring: every outbound row of a log, with the rest of the log as history."""
from __future__ import annotations

from scoring.features import feature_frame
from scoring.score import OUTPUT_COLUMNS, score_batch

__all__ = ["OUTPUT_COLUMNS", "score_features", "score_frame"]


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
    order: :func:`scoring.score.score_batch` as :func:`score_frame`'s frame."""
    return score_batch(model, feats, policy, quantiles).frame(crossing_ids)
