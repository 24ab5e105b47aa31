"""Category encoding: text categories to integer codes, fitted with the model."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted


class CategoryEncoder(TransformerMixin, BaseEstimator):
    """Map text categories to integer codes; rare and unseen ones share one code.

    Codes are 0..k-1 for the kept categories (most frequent first) and k for
    "other"; a missing value stays NaN, so the trees learn where it goes.

    Parameters
    ----------
    columns : tuple of str
        Columns to encode; others pass through as float.
    min_count : int
        A category seen fewer times than this in ``fit`` counts as "other".
    max_categories : int
        At most this many categories kept per column (the trees allow 255).
    """

    def __init__(self, columns=(), min_count=20, max_categories=60):
        self.columns = columns
        self.min_count = min_count
        self.max_categories = max_categories

    def fit(self, X, y=None):
        self.categories_ = {}
        for col in self.columns:
            counts = pd.Series(X[col]).dropna().astype(str).value_counts()
            kept = counts[counts >= self.min_count].index[: self.max_categories]
            self.categories_[col] = [str(c) for c in kept]
        self.lookup_ = {col: {c: float(i) for i, c in enumerate(cats)}
                        for col, cats in self.categories_.items()}
        return self

    def transform(self, X):
        """Return a float copy of ``X`` with the category columns as codes."""
        check_is_fitted(self, "lookup_")
        X = X.copy()
        for col in self.lookup_:
            X[col] = self.codes(col, X[col])
        return X

    def codes(self, col, values):
        """Codes of one column's values (text; None for missing), as floats: the batch
        execution of :meth:`encode`, a look-up per distinct value, not per row."""
        lookup = self.lookup_[col]
        found, distinct = pd.factorize(values)  # missing: -1; arrow's own for arrow text
        table = np.array([lookup.get(v, float(len(lookup))) for v in distinct]
                         + [np.nan])
        return table[found]

    def encode(self, col, value):
        """Code of one value (the service's execution of ``transform``)."""
        if value is None:
            return np.nan
        lookup = self.lookup_[col]
        return lookup.get(str(value), float(len(lookup)))
