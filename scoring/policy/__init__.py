"""Referral policy: risk bands and who goes to secondary inspection.

Bands and capacity are configuration applied after the probability, so changing
them never needs retraining (the file form: :mod:`scoring.policy.config`).

One module per part: :mod:`~scoring.policy.config` (the settings and the risk
bands), :mod:`~scoring.policy.quantiles` (the model's own score quantiles, and the
batch referral pass at them) and :mod:`~scoring.policy.online` (the service's
policy over recent scores, lookouts, random picks and exploration).
"""
from scoring.policy.config import DEFAULT_BANDS, PolicyConfig, risk_band, risk_bands
from scoring.policy.online import (CellReferrals, Decision, RecentScores, ReferralPolicy,
                                   exploration_cell)
from scoring.policy.quantiles import (MIN_PORT_ROWS, QUANTILE_SHARES, ScoreQuantiles,
                                      batch_referrals, quantile_table, score_quantiles)

__all__ = ["DEFAULT_BANDS", "MIN_PORT_ROWS", "QUANTILE_SHARES", "CellReferrals", "Decision",
           "PolicyConfig", "RecentScores", "ReferralPolicy", "ScoreQuantiles",
           "batch_referrals", "exploration_cell", "quantile_table", "risk_band", "risk_bands",
           "score_quantiles"]
