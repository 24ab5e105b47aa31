"""A model's own score quantiles per port, and the batch referral pass they decide.

Training records them in the manifest (:func:`score_quantiles`); a batch refers a
crossing whose score reaches its port's quantile for the port's capacity
(:func:`batch_referrals`), as the service does before its window of recent scores
fills, and as a challenger in shadow would.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

#: upper shares of traffic at which training records the model's own score quantiles
QUANTILE_SHARES = (0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04,
                   0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5)
#: a port needs this many scored rows for quantiles of its own (else the pooled ones)
MIN_PORT_ROWS = 200


def quantile_table(scores, shares=QUANTILE_SHARES):
    """``{share (text): score}``: the score above which ``share`` of ``scores`` lie."""
    scores = np.asarray(scores, dtype=float)
    return {f"{s:g}": float(np.quantile(scores, 1 - s)) for s in shares}


def score_quantiles(scores, ports, min_rows=MIN_PORT_ROWS):
    """The model's score quantiles, pooled and per port, for the manifest.

    Computed by training on rows the trees never saw; a port with fewer than
    ``min_rows`` of them gets none of its own and uses the pooled table.
    """
    scores = np.asarray(scores, dtype=float)
    ports = pd.Series(np.asarray(ports, dtype=object))
    by_port = {}
    for port, index in ports.groupby(ports, sort=True).indices.items():
        if len(index) >= min_rows:
            by_port[str(port)] = quantile_table(scores[index])
    return {"pooled": quantile_table(scores), "ports": by_port,
            "rows": {str(k): int(v) for k, v in ports.value_counts().sort_index().items()}}


class ScoreQuantiles:
    """A model's score thresholds by share of traffic: its own per port, else pooled.

    Reads the manifest's ``score_quantiles``: ``{"pooled": table, "ports": {port:
    table}}``, or (models trained before per-port quantiles) one pooled table. A
    share between two recorded ones is interpolated linearly in log share; beyond
    the recorded shares the nearest one holds.
    """

    def __init__(self, pooled=None, ports=None):
        self.pooled = self._table(pooled or {})
        self.ports = {str(p): self._table(t) for p, t in (ports or {}).items()}

    @staticmethod
    def _table(table):
        items = sorted((float(k), float(v)) for k, v in table.items())
        return (np.log([k for k, _ in items]), np.array([v for _, v in items]))

    @classmethod
    def from_manifest(cls, manifest):
        quantiles = manifest.get("score_quantiles") or {}
        if not isinstance(quantiles, dict):
            return cls()
        if "pooled" in quantiles:
            return cls(quantiles["pooled"], quantiles.get("ports"))
        return cls(quantiles)

    def __bool__(self):
        return len(self.pooled[1]) > 0

    def threshold(self, port, share):
        """The score at or above which ``share`` of the port's traffic lies."""
        if share <= 0:
            return float("inf")
        if share >= 1:  # a port that can inspect everything refers everything
            return float("-inf")
        log_shares, values = self.ports.get(str(port), self.pooled)
        if len(values) == 0:
            return 0.0
        return float(np.interp(np.log(share), log_shares, values))


def batch_referrals(scores, ports, config, quantiles):
    """Model referrals of a batch: each score against its port's threshold.

    The threshold is the model's own score quantile for the port's capacity
    (``quantiles``, a :class:`ScoreQuantiles`), exactly as a fresh service decides
    before its window of recent scores fills; so the picks never depend on how the
    crossings were cut into files. Returns a boolean array.
    """
    scores = np.asarray(scores, dtype=float)
    ports = np.asarray(ports, dtype=object)
    thresholds = {port: quantiles.threshold(port, config.capacity_of(port))
                  for port in pd.unique(ports)}
    return scores >= np.array([thresholds[p] for p in ports], dtype=float)
