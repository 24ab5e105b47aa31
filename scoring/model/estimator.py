"""The risk model: a calibrated gradient-boosted classifier of outbound crossings.

:class:`RiskModel` follows the scikit-learn estimator contract. It encodes the
categories (:mod:`scoring.model.encoder`), grows the trees, flattens them into a
:class:`~scoring.model.trees.TreeEnsemble` for fast scores and contributions, and
calibrates the raw score (:mod:`scoring.model.calibration`).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils.validation import check_is_fitted

from scoring.features import CATEGORICAL, FEATURES, resolve_exclusions
from scoring.model.calibration import PlattCalibration, sigmoid, sigmoid_one
from scoring.model.encoder import CategoryEncoder
from scoring.model.trees import TreeEnsemble, _chunks, _index_in


class RiskModel(ClassifierMixin, BaseEstimator):
    """Calibrated probability that an outbound crossing carries contraband.

    Parameters
    ----------
    exclude : tuple of str
        Features switched off (see :func:`scoring.features.resolve_exclusions`).
    learning_rate, max_iter, max_leaf_nodes, max_depth, min_samples_leaf
        Passed to :class:`~sklearn.ensemble.HistGradientBoostingClassifier`.
    l2_regularization, max_features
        Passed to :class:`~sklearn.ensemble.HistGradientBoostingClassifier`.
    random_state : int
    early_stopping : bool
        Stop adding trees when a random 15% of the rows, kept apart, stops improving;
        False grows exactly ``max_iter`` trees on every row (the number chosen
        elsewhere, e.g. from cross-fitted models).
    increasing : tuple of str
        Numeric features the score may only rise with (monotone constraints).
    learn_picks : bool
        Learn how each labelled crossing was picked (its ``referral``: an officer's
        pick, a lookout, a model's, a random draw) as one more input of the trees, and
        score every crossing as if drawn at random: what an officer's hunch or a
        lookout's tip found beyond the features is put down to the pick, not to the
        features the picked crossings share (see :data:`SELECTION_COLUMN`).

    Examples
    --------
    >>> model = RiskModel().fit(X_fit, y_fit, w_fit, calibration=(X_cal, y_cal, w_cal))  # doctest: +SKIP
    >>> model.predict_proba(X_new)[:, 1]                                                   # doctest: +SKIP
    """

    # max_depth 3, not 5: shallower trees fit a few hundred seizures with less
    # row-by-row memorising; screened on worlds c (seeds 1-3), a and b (seed 1) at +0.004 to
    # +0.017 true recall at 1% each, and on the generator's variants (benchmarks/README.md,
    # "Shallower trees")
    def __init__(self, exclude=(), learning_rate=0.08, max_iter=250, max_leaf_nodes=15,
                 max_depth=3, min_samples_leaf=30, l2_regularization=1.0, random_state=0,
                 early_stopping=True, increasing=(), max_features=1.0,
                 learn_picks=True):
        self.exclude = exclude
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.random_state = random_state
        self.early_stopping = early_stopping
        self.increasing = increasing
        self.max_features = max_features
        self.learn_picks = learn_picks

    def fit(self, X, y, sample_weight=None, *, calibration, calibration_raw=None):
        """Fit the trees on ``X`` and the calibration on data kept apart from them.

        Parameters
        ----------
        X : DataFrame, shape (n, len(FEATURES))
            With ``learn_picks``, its column :data:`SELECTION_COLUMN` (how
            each row was picked) is learnt from when it holds a neutral draw and
            another stream; a frame without it fits the features alone.
        y : array of {0, 1}, shape (n,)
        sample_weight : array, shape (n,), optional
            Inverse selection probabilities, so the labelled rows stand for all traffic.
        calibration : tuple (X_cal, y_cal, w_cal)
            Later labelled rows, not used to grow trees: a weighted Platt scaling
            of the raw score is fitted on them.
        calibration_raw : array, optional
            The raw scores of the calibration rows given instead of ``X_cal`` (None
            then): out-of-fold scores from models grown without those rows.
        """
        y = np.asarray(y, dtype=int)
        if len(np.unique(y)) < 2:
            raise ValueError("training rows need both seizures and clean inspections")
        off = set(resolve_exclusions(self.exclude))  # a group goes off whole
        # a feature with no value on these rows has nothing to teach them, and
        # scikit-learn's binning fails on an all-missing column: a cross-fitting fold can
        # hold none of the few rows where a sparse feature has values
        self.features_ = [f for f in FEATURES if f not in off and X[f].notna().any()]
        self.categorical_ = [f for f in self.features_ if f in CATEGORICAL]
        self.encoder_ = CategoryEncoder(tuple(self.categorical_)).fit(X)
        streams = _streams(X) if self.learn_picks else None
        self.selection_ = (tuple(sorted(set(streams))) if streams is not None
                           and NEUTRAL_STREAM in streams and len(set(streams)) > 1 else None)
        matrix = self._matrix(X, selection=streams if self.selection_ else None)
        extra = [True] if self.selection_ else []
        self.booster_ = HistGradientBoostingClassifier(
            learning_rate=self.learning_rate, max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes, max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization, max_features=self.max_features,
            categorical_features=[f in self.categorical_ for f in self.features_] + extra,
            monotonic_cst=[int(f in self.increasing) for f in self.features_]
            + [0] * len(extra),
            # the pick's own trees: a lift per stream added to the features' score, never
            # a split of the features' trees by stream
            interaction_cst=[[len(self.features_)]] if extra else None,
            early_stopping=self.early_stopping, validation_fraction=0.15, n_iter_no_change=25,
            random_state=self.random_state,
        ).fit(matrix, y, sample_weight=sample_weight)
        self.ensemble_ = TreeEnsemble(self.booster_, len(self.features_) + len(extra))
        X_cal, y_cal, w_cal = calibration
        raw = self.decision_function(X_cal) if calibration_raw is None else calibration_raw
        platt = PlattCalibration().fit(raw, y_cal, w_cal)
        # (slope, intercept), as models saved before PlattCalibration hold it
        self.calibration_ = (platt.slope_, platt.intercept_)
        self.classes_ = np.array([0, 1])
        return self

    @property
    def streams(self):
        """The referral streams the trees learnt from, sorted (the neutral one among
        them), or None when they learnt from the features alone (models saved before
        :data:`SELECTION_COLUMN` was learnt from hold none)."""
        return self.__dict__.get("selection_")

    def _matrix(self, X, internal=False, selection=None):
        """The model's input matrix, shape (n, len(features_)), and the stream's column
        last when the trees learnt one (:attr:`streams`): ``selection``'s codes when
        fitting, else the neutral stream's on every row. The encoder's codes and
        the numbers as floats (column by column, without copying the frame).
        ``internal``: the booster's own matrix instead (:meth:`TreeEnsemble.internal` of
        it), built at once in its order, with no model matrix between."""
        streams = self.streams
        columns = list(enumerate([None] * (len(self.features_) + bool(streams))))
        if internal:
            columns = self.ensemble_.internal_columns()
            if columns is None:
                return self.ensemble_.internal(self._matrix(X))
        # filled column by column in column order, then one copy to row order (what
        # the tree walks read): writing a row-order matrix a column at a time touches a
        # cache line per cell (500k rows, 36 columns: 0.15-0.2 s against 0.35-0.65 s)
        matrix = np.empty((len(X), len(columns)), order="F")
        for j, (col, known) in enumerate(columns):
            if col == len(self.features_):   # the stream's column
                code = {stream: float(i) for i, stream in enumerate(streams)}
                x = (np.array([code[v] for v in selection]) if selection is not None
                     else np.full(len(X), code[NEUTRAL_STREAM]))
                matrix[:, j] = _index_in(known, x)
                continue
            name = self.features_[col]
            x = (self.encoder_.codes(name, X[name]) if name in self.encoder_.lookup_
                 else X[name].to_numpy(dtype=float))
            matrix[:, j] = _index_in(known, x)
        return np.ascontiguousarray(matrix)

    def vector(self, features):
        """One crossing's feature dict as the model's input row (the service's path)."""
        plan = self.__dict__.get("_row_plan")
        if plan is None:  # per feature: its category lookup, or None for a number
            check_is_fitted(self, "encoder_")
            lookups = self.encoder_.lookup_
            plan = self.__dict__["_row_plan"] = [
                (name, lookups[name] if name in self.categorical_ else None)
                for name in self.features_]
        streams = self.streams
        row = np.empty(len(plan) + bool(streams))
        if streams:   # scored as a neutral draw, whoever picks it
            row[-1] = streams.index(NEUTRAL_STREAM)
        for i, (name, lookup) in enumerate(plan):
            value = features[name]
            if value is None:
                row[i] = np.nan
            elif lookup is None:
                row[i] = value
            else:
                row[i] = lookup.get(str(value), len(lookup))
        return row

    def decision_function(self, X):
        """Raw score (log-odds before calibration), through scikit-learn's predictor."""
        check_is_fitted(self, "booster_")
        return self.booster_.decision_function(self._matrix(X))

    def calibrate(self, raw):
        """Calibrated probability of a raw score; never exactly 0 or 1."""
        slope, intercept = self.calibration_
        return sigmoid(slope, intercept, raw)

    def calibrate_one(self, raw):
        """:meth:`calibrate` of one raw score, in plain floats (the service's path)."""
        slope, intercept = self.calibration_
        return sigmoid_one(slope, intercept, raw)

    def predict_proba(self, X):
        p = self.calibrate(self.decision_function(X))
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def explain(self, X, compiled=True):
        """Raw scores and additive contributions of a frame of crossings.

        Returns
        -------
        raw : array, shape (n,)
        contributions : array, shape (n, len(features_))
            ``contributions.sum(1) + ensemble_.bias == raw`` up to rounding, less the
            neutral stream's part when the trees learnt one (:attr:`streams`): the same
            for every crossing (the stream's trees split on nothing else), and no
            crossing's reason.
        """
        check_is_fitted(self, "ensemble_")
        if compiled:
            leaves = self.ensemble_.leaves_compiled(self._matrix(X, internal=True))
        else:
            leaves = self.ensemble_.leaves(self._matrix(X))
        return (self.ensemble_.raw(leaves),
                self._contributions(leaves)[:, :len(self.features_)])

    def explain_row(self, row):
        """Raw score and contributions of one model input row (see :meth:`vector`)."""
        leaves = self.ensemble_.leaves_row(np.asarray(row, dtype=float))
        raw = self.ensemble_.baseline + float(self.ensemble_.value[leaves].sum())
        return raw, self.ensemble_.contrib[leaves].sum(axis=0)[:len(self.features_)]

    def raw_row(self, row):
        """Raw score of one model input row, without contributions (a shadow's path)."""
        leaves = self.ensemble_.leaves_row(np.asarray(row, dtype=float))
        return self.ensemble_.baseline + float(self.ensemble_.value[leaves].sum())

    def _contributions(self, leaves):
        contrib = self.ensemble_.contrib
        if len(leaves) == 1:
            return contrib[leaves[0]].sum(axis=0)[None, :]
        # a row's contributions are the sum of its leaves' rows of ``contrib``: a product
        # of the rows' one-hot leaf matrix (sparse, a leaf per tree) with ``contrib``, one
        # compiled pass that adds the leaves tree by tree, as a loop over trees would
        # (the same sums in the same order, bit for bit; 500k rows, 67 trees: 0.5 s
        # against 1.0 s for numpy's gathers and adds per tree)
        n, trees = leaves.shape
        out = np.empty((n, contrib.shape[1]))
        for rows in _chunks(n, SPARSE_CHUNK_ROWS):
            chunk = leaves[rows]
            ones = scipy.sparse.csr_matrix(
                (np.ones(chunk.size), chunk.ravel(), np.arange(0, chunk.size + 1, trees)),
                shape=(len(chunk), len(contrib)))
            out[rows] = ones @ contrib
        return out


#: the column of a training frame that says how each row was picked (the log's referral)
SELECTION_COLUMN = "referral"
#: the stream every crossing is scored as: a random draw; ``explore`` is one too (a draw
#: with a known probability, by no one's judgement)
NEUTRAL_STREAM = "random"
_AS_NEUTRAL = frozenset({"random", "explore"})


def _streams(X):
    """Each row's referral stream (``explore`` as ``random``; an empty one ``unknown``),
    or None for a frame without :data:`SELECTION_COLUMN`."""
    if SELECTION_COLUMN not in X:
        return None
    values = X[SELECTION_COLUMN].astype(object).to_numpy()
    return np.array([NEUTRAL_STREAM if v in _AS_NEUTRAL else
                     ("unknown" if v is None or v != v or v == "" else str(v))
                     for v in values], dtype=object)


#: rows per sparse product of :meth:`RiskModel._contributions` (its index arrays stay
#: small: 65536 rows x 67 trees)
SPARSE_CHUNK_ROWS = 65536
