"""The propensity model: each inspected row's chance of having been chosen.

Labels exist only where someone inspected, and the evaluation weights each inspected
row by one over its selection probability (:mod:`training.evaluate`). A log gives that
probability in ``selection_probability``; where it is empty, :func:`propensity`
estimates P(inspected | features) with boosted trees fitted on the same log, and
:func:`propensity_check` says how far to trust the estimate.
"""
from __future__ import annotations

import numpy as np

#: a selection probability below this is treated as this (caps one row's weight)
MIN_PROPENSITY = 1e-3


def propensity(outbound, features=None, seed=0):
    """Selection probability of each outbound row: the log's own, else estimated.

    Rows whose ``selection_probability`` is empty get P(inspected | features)
    from a boosted classifier fitted on the rows of the same log; this assumes
    the old policy chose on what the features show.

    Returns
    -------
    array, shape (n,)
    """
    pi = outbound["selection_probability"].to_numpy(float).copy()
    unknown = np.isnan(pi)
    if unknown.any():
        inspected = (outbound["inspected"].to_numpy(float) == 1.0).astype(int)
        if features is None or inspected.min() == inspected.max():
            pi[unknown] = max(inspected.mean(), MIN_PROPENSITY)
        else:
            numeric = numeric_features(features)
            est = fit_propensity(numeric, inspected, seed)
            pi[unknown] = est.predict_proba(numeric[unknown])[:, 1]
    return np.clip(pi, MIN_PROPENSITY, 1.0)


def fit_propensity(numeric, inspected, seed=0, weight=None):
    """The estimator of P(inspected | features) behind :func:`propensity`: boosted trees
    on the numeric features.

    ``weight``: of a weighted sample of the rows (every inspected row, a share of the
    others). The estimate is read back on the inspected rows it was fitted on, so the
    trees stop early on a held-out tenth whatever the sample's size (scikit-learn stops
    early by itself only past 10,000 rows; a sample below that overfits its inspected
    rows and inflates their probabilities)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    est = HistGradientBoostingClassifier(max_iter=100, random_state=seed,
                                         early_stopping="auto" if weight is None else True)
    return est.fit(numeric, inspected, sample_weight=weight)


def numeric_features(features):
    """The numeric columns the propensity model fits on: those with a value somewhere
    (scikit-learn's histogram binning fails on a column with none)."""
    numeric = features.select_dtypes(include="number")
    return numeric.loc[:, numeric.notna().any()]


def propensity_check(outbound, features=None, seed=0, bins=10):
    """How far to trust the estimated selection probabilities (None when none is missing).

    Two checks of the estimator :func:`propensity` uses:

    - ``bins``: among the rows whose probability was estimated, bins of equal size by
      estimate, each with its mean estimate and the share of its rows actually
      inspected (a calibrated estimate has them equal);
    - ``logged``: on the rows whose log gives the probability, the estimator's
      median ratio to the logged value and the share within a factor of two of it
      (the estimator sees only the features, so this is what it recovers where the
      truth is known).
    """
    logged = outbound["selection_probability"].to_numpy(float)
    unknown = np.isnan(logged)
    if not unknown.any() or features is None:
        return None
    inspected = (outbound["inspected"].to_numpy(float) == 1.0).astype(int)
    if inspected.min() == inspected.max():
        return None
    numeric = numeric_features(features)
    est = fit_propensity(numeric, inspected, seed)
    p = np.clip(est.predict_proba(numeric)[:, 1], MIN_PROPENSITY, 1.0)
    order = np.flatnonzero(unknown)[np.argsort(p[unknown], kind="stable")]
    table = [{"mean_estimated": float(p[part].mean()), "inspected": float(inspected[part].mean()),
              "rows": int(len(part))} for part in np.array_split(order, bins) if len(part)]
    out = {"estimated_rows": int(unknown.sum()), "bins": table,
           "observed_over_expected": float(inspected[unknown].sum() / p[unknown].sum())}
    if (~unknown).any():
        ratio = p[~unknown] / np.clip(logged[~unknown], MIN_PROPENSITY, 1.0)
        out["logged"] = {"rows": int((~unknown).sum()), "median_ratio": float(np.median(ratio)),
                         "within_factor_2": float(((ratio >= 0.5) & (ratio <= 2)).mean())}
    return out
