"""Platt scaling: a raw score (log-odds) to a calibrated probability.

:class:`PlattCalibration` follows the scikit-learn estimator contract, like
scikit-learn's own ``_SigmoidCalibration``. It is fitted on data kept apart from
the trees (a later window, or out-of-fold scores): calibrating on the rows the
trees grew on would trust their over-confident scores.
"""
from __future__ import annotations

import math

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

#: calibrated scores stay inside this interval, never exactly 0 or 1
PROBABILITY_FLOOR = 1e-6


class PlattCalibration(BaseEstimator):
    """Weighted logistic regression of the label on the raw score.

    Parameters
    ----------
    C : float
        Inverse regularisation of the logistic regression (large: almost none).

    Examples
    --------
    >>> platt = PlattCalibration().fit(raw_cal, y_cal, w_cal)  # doctest: +SKIP
    >>> platt.predict(raw_new)                                  # doctest: +SKIP
    """

    def __init__(self, C=1e4):
        self.C = C

    def fit(self, raw, y, sample_weight=None):
        """Fit on raw scores of rows the trees never grew on.

        Parameters
        ----------
        raw : array, shape (n,)
        y : array of {0, 1}, shape (n,)
        sample_weight : array, shape (n,), optional
        """
        platt = LogisticRegression(C=self.C).fit(np.asarray(raw)[:, None],
                                                 np.asarray(y, dtype=int),
                                                 sample_weight=sample_weight)
        self.slope_ = float(platt.coef_[0, 0])
        self.intercept_ = float(platt.intercept_[0])
        return self

    def predict(self, raw):
        """Calibrated probability of each raw score, shape (n,)."""
        check_is_fitted(self, "slope_")
        return sigmoid(self.slope_, self.intercept_, raw)


def sigmoid(slope, intercept, raw):
    """Calibrated probability of raw scores (an array); never exactly 0 or 1."""
    z = np.clip(slope * np.asarray(raw, dtype=float) + intercept, -700, 700)
    return np.clip(1.0 / (1.0 + np.exp(-z)), PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)


def sigmoid_one(slope, intercept, raw):
    """:func:`sigmoid` of one raw score, in plain floats (the service's path)."""
    z = min(max(slope * raw + intercept, -700.0), 700.0)
    return min(max(1.0 / (1.0 + math.exp(-z)), PROBABILITY_FLOOR), 1 - PROBABILITY_FLOOR)
