"""The outbound rows of a log as a fit reads them: the interface, and its in-process execution.

:func:`training.fit.fit_log` grows the model on the labelled rows and asks its log
(:class:`OutboundLog`) only for what needs every outbound row. :class:`InProcessLog`
answers from a frame in memory; the Dask execution, :class:`training.fit_dask.DaskLog`,
answers with the same numbers from a log on a cluster (Dask is imported there only).
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from scoring.features import FEATURES
from scoring.policy import score_quantiles
from training.evaluate import evaluate_scores, propensity


class OutboundLog(ABC):
    """The outbound rows of a log, with their features, as :func:`training.fit.fit_log`
    reads them.

    Attributes
    ----------
    labelled : (DataFrame, DataFrame)
        The labelled rows (inspected, outcome known) and their features, in memory
        whatever the execution, in canonical order.
    rows : int
        How many outbound rows.
    first, last : int
        The first and last ``crossed_at`` (UTC µs).
    engine : dict
        What the manifest records of the execution (``{"name": "pandas"}``).
    """

    @abstractmethod
    def time_cuts(self, shares):
        """The outbound rows' time quantiles at ``shares`` (holdout's windows)."""

    @abstractmethod
    def block_rows(self, cuts):
        """Outbound rows per time block (``cuts`` as in ``np.searchsorted(side="right")``)."""

    @abstractmethod
    def labelled_propensity(self):
        """The selection probability of each labelled row."""

    @abstractmethod
    def out_of_fold(self, oof, scored_from, validate_from):
        """The referral quantiles (from the rows ``scored_from`` on) and the validation
        report (from ``validate_from`` on) of the out-of-fold probabilities
        ``oof(X, times)``: ``(quantiles, metrics)``."""


class InProcessLog(OutboundLog):
    """The outbound rows of a log in memory (``outbound``: contract columns, canonical
    order; ``feats``: their features, same index)."""

    engine = {"name": "pandas"}

    def __init__(self, outbound, feats, seed=0):
        self.outbound, self.feats, self.seed = outbound, feats, seed
        self.times = outbound["crossed_at"].to_numpy(np.int64)
        seizure = outbound["seizure"].to_numpy(float)
        self.mask = (outbound["inspected"].to_numpy(float) == 1.0) & ~np.isnan(seizure)
        self.rows = len(outbound)
        self.first, self.last = int(self.times.min()), int(self.times.max())
        self.labelled = (outbound.loc[self.mask], feats.loc[self.mask])
        self._pi = None

    def time_cuts(self, shares):
        """The outbound rows' time quantiles at ``shares`` (holdout's windows)."""
        return np.quantile(self.times, shares)

    def block_rows(self, cuts):
        """Outbound rows per time block (``cuts`` as in ``np.searchsorted(side="right")``)."""
        return np.bincount(np.searchsorted(cuts, self.times, side="right"),
                           minlength=len(cuts) + 1)

    def propensity(self):
        """Selection probability of every outbound row: the log's own, else estimated on
        every outbound row (once per training: the weights and the validation use it)."""
        if self._pi is None:
            self._pi = propensity(self.outbound, self.feats[list(FEATURES)], self.seed)
        return self._pi

    def labelled_propensity(self):
        return self.propensity()[self.mask]

    def out_of_fold(self, oof, scored_from, validate_from):
        """The referral quantiles (from the rows ``scored_from`` on) and the validation
        report (from ``validate_from`` on) of the out-of-fold probabilities
        ``oof(X, times)``."""
        X = self.feats[list(FEATURES)]
        p = np.full(self.rows, np.nan)
        scored = self.times >= scored_from if scored_from is not None else np.ones(self.rows, bool)
        p[scored] = oof(X.loc[scored], self.times[scored])
        quantiles = score_quantiles(p[scored], self.outbound.loc[scored, "port_code"].to_numpy())
        val = self.times >= validate_from
        return quantiles, evaluate_scores(p[val], self.outbound.loc[val], self.feats.loc[val],
                                          seed=self.seed, pi=self.propensity()[val])
