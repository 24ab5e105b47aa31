"""The risk model: category encoding, gradient-boosted trees, calibration.

:class:`RiskModel` follows the scikit-learn estimator contract. Its trees are
flattened into a :class:`TreeEnsemble` after fitting, which the service uses to
score one crossing in tens of microseconds (numpy over all trees at once) and
which gives each score's additive contributions (Saabas path attribution: the
contributions and the bias sum to the raw score exactly).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import scipy.sparse
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder
from sklearn.utils.validation import check_is_fitted

from scoring.features import CATEGORICAL, FEATURES, resolve_exclusions

#: calibrated scores stay inside this interval, never exactly 0 or 1
PROBABILITY_FLOOR = 1e-6


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


class TreeEnsemble:
    """All trees of a fitted HistGradientBoostingClassifier in flat arrays.

    Node ``i`` of tree ``t`` is global node ``offsets[t] + i``. Leaves point to
    themselves, so a fixed number of steps walks every tree to its leaf.
    ``contrib[node]`` is the sum of value changes, per input column, along the
    path from the root to ``node`` (zero except at leaves' paths' features).
    """

    def __init__(self, booster, n_columns):
        predictors = [p[0] for p in booster._predictors]
        self.booster = booster
        self.n_columns = n_columns
        # The booster reorders columns (categorical first) and re-encodes categories.
        pre = booster._preprocessor
        order, cat_maps = [], {}
        if pre is not None:
            for name, transformer, mask in pre.transformers_:
                cols = np.flatnonzero(mask) if np.asarray(mask).dtype == bool else list(mask)
                if name == "encoder":
                    for col, cats in zip(cols, transformer.categories_):
                        # a trailing NaN "category" is encoded as missing, not as a code
                        cats = np.asarray(cats, dtype=float)
                        cat_maps[int(col)] = cats[~np.isnan(cats)]
                order.extend(int(c) for c in cols)
        else:
            order = list(range(n_columns))
        self.internal_to_column = np.asarray(order, dtype=np.int64)
        sizes = [len(p.nodes) for p in predictors]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        nodes = np.concatenate([p.nodes for p in predictors])
        n = len(nodes)
        leaf = nodes["is_leaf"].astype(bool)
        shift = np.repeat(self.offsets, sizes)
        idx = np.arange(n, dtype=np.int64)
        self.left = np.where(leaf, idx, nodes["left"].astype(np.int64) + shift)
        self.right = np.where(leaf, idx, nodes["right"].astype(np.int64) + shift)
        self.is_leaf = leaf
        self.feature = np.where(leaf, 0, self.internal_to_column[nodes["feature_idx"]])
        self.threshold = nodes["num_threshold"].astype(float)
        self.missing_left = nodes["missing_go_to_left"].astype(bool)
        self.is_categorical = nodes["is_categorical"].astype(bool) & ~leaf
        self.roots = self.offsets.copy()
        self.depth = int(nodes["depth"].max())
        self.baseline = float(np.ravel(booster._baseline_prediction)[0])
        self._build_categories(predictors, sizes, nodes, cat_maps)
        self._build_values(nodes)

    def _build_categories(self, predictors, sizes, nodes, cat_maps):
        """Per categorical node, which of our codes go left (a row of a bool table)."""
        width = int(max((m.max() for m in cat_maps.values()), default=0)) + 2
        cat_nodes = np.flatnonzero(self.is_categorical)
        self.cat_row = np.zeros(len(nodes), dtype=np.int64)
        self.cat_left = np.zeros((len(cat_nodes) + 1, width), dtype=bool)
        tree_of = np.repeat(np.arange(len(sizes)), sizes)
        for row, node in enumerate(cat_nodes, start=1):
            bitsets = predictors[tree_of[node]].raw_left_cat_bitsets
            bits = bitsets[nodes["bitset_idx"][node]]
            known = cat_maps[int(self.feature[node])]
            for internal, code in enumerate(known):
                if (bits[internal // 32] >> np.uint32(internal % 32)) & 1:
                    self.cat_left[row, int(code)] = True
            # a code the booster never saw behaves as missing
            unseen = np.setdiff1d(np.arange(width), known.astype(np.int64))
            self.cat_left[row, unseen] = self.missing_left[node]
            self.cat_row[node] = row
        self.cat_width = width

    def _build_values(self, nodes):
        """Node values (leaves: the booster's; inner: count-weighted mean) and path sums."""
        n = len(nodes)
        value = np.where(self.is_leaf, nodes["value"], 0.0).astype(float)
        count = nodes["count"].astype(float)
        # children always have larger indices than their parent within a tree
        for i in range(n - 1, -1, -1):
            if not self.is_leaf[i]:
                l, r = self.left[i], self.right[i]
                total = count[l] + count[r]
                value[i] = (count[l] * value[l] + count[r] * value[r]) / total if total else 0.0
        self.value = value
        self.bias = self.baseline + float(value[self.roots].sum())
        contrib = np.zeros((n, self.n_columns))
        for i in range(n):
            if not self.is_leaf[i]:
                for child in (self.left[i], self.right[i]):
                    contrib[child] = contrib[i]
                    contrib[child, self.feature[i]] += value[child] - value[i]
        self.contrib = contrib

    def leaves(self, X):
        """Global leaf index per (row, tree), shape (n, n_trees), numpy over all trees."""
        X = np.asarray(X, dtype=float)
        rows = np.arange(len(X))[:, None]
        node = np.broadcast_to(self.roots, (len(X), len(self.roots))).copy()
        for _ in range(self.depth):
            x = X[rows, self.feature[node]]
            missing = np.isnan(x)
            code = np.where(missing | (x < 0), self.cat_width - 1,
                            np.minimum(np.nan_to_num(x), self.cat_width - 1)).astype(np.int64)
            go_left = np.where(
                missing, self.missing_left[node],
                np.where(self.is_categorical[node], self.cat_left[self.cat_row[node], code],
                         x <= self.threshold[node]))
            node = np.where(go_left, self.left[node], self.right[node])
        return node

    def leaves_row(self, x):
        """Leaf of every tree for one row (shape (n_trees,)): the service's hot path.

        Every node's test is decided at once (one vectorised pass over all nodes),
        giving each node its next node; leaves point to themselves, so following
        that map ``depth`` times from the roots ends at the leaves, and squaring the
        map (pointer jumping) gets there in log2(depth) steps. About a dozen numpy
        calls whatever the number of trees.
        """
        value = x[self.feature]
        go_left = value <= self.threshold                 # NaN compares False
        cat = self.categorical_nodes
        if len(cat):
            code = value[cat]
            known = (code == code) & (code >= 0)
            code = np.where(known, np.minimum(np.where(known, code, 0), self.cat_width - 1),
                            self.cat_width - 1).astype(np.int64)
            go_left[cat] = self.cat_left[self.cat_row[cat], code]
        missing = value != value
        np.copyto(go_left, self.missing_left, where=missing)
        step = np.where(go_left, self.left, self.right)
        for _ in range(max(self.depth - 1, 0).bit_length()):
            step = step[step]
        return step[self.roots]

    def internal_columns(self):
        """The booster's own input columns, in its order: ``[(model column, the codes its
        encoder knows, sorted, or None for a number)]``; None when its preprocessing
        is not the plain one (see :func:`_plain_steps`)."""
        steps = _plain_steps(self.booster._preprocessor)
        if steps is None:
            return None
        return [(int(col), None if known is None else known[k])
                for cols, known in steps for k, col in enumerate(cols)]

    def internal(self, matrix):
        """The booster's own input matrix, ``booster._preprocess_X(matrix, reset=False)``,
        bit for bit and faster (scikit-learn's column transformer checks its
        categories row by row).

        The transformer scikit-learn builds for a float matrix puts the categorical
        columns first, each of our codes replaced by its index among the codes its
        encoder saw in training (NaN where unseen or missing), then the numbers as
        they are: one binary search per categorical column here. Any other
        transformer (another scikit-learn's, say) is left to scikit-learn.
        """
        columns = self.internal_columns()
        if columns is None:
            return self.booster._preprocess_X(matrix, reset=False)
        out = np.empty((len(matrix), len(columns)))
        for j, (col, known) in enumerate(columns):
            out[:, j] = _index_in(known, np.asarray(matrix[:, col], dtype=np.float64))
        return out

    @property
    def categorical_nodes(self):
        """Indices of the categorical split nodes (cached; older pickles lack it)."""
        nodes = self.__dict__.get("_categorical_nodes")
        if nodes is None:
            nodes = self.__dict__["_categorical_nodes"] = np.flatnonzero(self.is_categorical)
        return nodes

    def leaves_compiled(self, X_internal, n_threads=1):
        """The same leaves through scikit-learn's compiled predictor (fast for big batches).

        ``X_internal`` is the booster's own preprocessed matrix. A chunk of rows at a
        time goes through every tree, so that it stays in cache; one thread by default
        (a thread team per chunk and tree costs more than it gives).
        """
        known, f_idx_map = self.booster._bin_mapper.make_known_categories_bitsets()
        walkers = []
        for predictor, in self.booster._predictors:
            nodes = predictor.nodes.copy()
            nodes["value"] = np.arange(len(nodes), dtype=float)
            walkers.append(TreePredictor(nodes, predictor.binned_left_cat_bitsets,
                                         predictor.raw_left_cat_bitsets))
        out = np.empty((len(X_internal), len(self.roots)), dtype=np.int64)
        for rows in _chunks(len(X_internal), LEAF_CHUNK_ROWS):
            X = X_internal[rows]
            for t, walker in enumerate(walkers):
                out[rows, t] = walker.predict(X, known, f_idx_map, n_threads) + self.offsets[t]
        return out

    def raw(self, leaves):
        """Raw score (log-odds) of each row from its leaves."""
        out = np.empty(len(leaves))
        for rows in _chunks(len(leaves)):  # a row's sum is the same; the chunk stays in cache
            out[rows] = self.baseline + self.value[leaves[rows]].sum(axis=1)
        return out


def _plain_steps(pre):
    """The booster's column transformer as ``[(columns, known codes per column or None)]``
    when it is the one scikit-learn builds for a float matrix (an ordinal encoder of
    the categorical columns, unknown and missing both NaN, over sorted categories;
    then the numeric columns through ``check_array``; nothing else kept), else None."""
    if pre is None:
        return None
    steps = []
    for name, transformer, mask in pre.transformers_:
        mask = np.asarray(mask)
        cols = np.flatnonzero(mask) if mask.dtype == bool else mask.astype(np.int64)
        if isinstance(transformer, str) and transformer == "drop":
            continue
        if isinstance(transformer, OrdinalEncoder):
            if (transformer.handle_unknown != "use_encoded_value"
                    or not _is_nan(transformer.unknown_value)
                    or not _is_nan(transformer.encoded_missing_value)
                    or transformer.dtype not in (np.float64, float)):
                return None
            known = []
            for cats in transformer.categories_:
                cats = np.asarray(cats, dtype=float)
                cats = cats[~np.isnan(cats)]  # a NaN "category" is encoded as missing
                if not len(cats) or (np.diff(cats) <= 0).any():
                    return None
                known.append(cats)
            steps.append((cols, known))
        elif isinstance(transformer, FunctionTransformer) and name == "numerical":
            steps.append((cols, None))
        else:
            return None
    return steps


def _index_in(known, x):
    """Each value's index in the sorted ``known`` (NaN where absent); ``x`` itself when
    ``known`` is None."""
    if known is None:
        return x
    at = np.minimum(np.searchsorted(known, x), len(known) - 1)
    return np.where(known[at] == x, at, np.nan)


def _is_nan(value):
    return isinstance(value, float) and math.isnan(value)


class RiskModel(ClassifierMixin, BaseEstimator):
    """Calibrated probability that an outbound crossing carries contraband.

    Parameters
    ----------
    exclude : tuple of str
        Features switched off (see :func:`scoring.features.resolve_exclusions`).
    learning_rate, max_iter, max_leaf_nodes, max_depth, min_samples_leaf, l2_regularization
        Passed to :class:`~sklearn.ensemble.HistGradientBoostingClassifier`.
    random_state : int
    early_stopping : bool
        Stop adding trees when a random 15% of the rows, kept apart, stops improving;
        False grows exactly ``max_iter`` trees on every row (the number chosen
        elsewhere, e.g. from cross-fitted models).
    increasing : tuple of str
        Numeric features the score may only rise with (monotone constraints).

    Examples
    --------
    >>> model = RiskModel().fit(X_fit, y_fit, w_fit, calibration=(X_cal, y_cal, w_cal))  # doctest: +SKIP
    >>> model.predict_proba(X_new)[:, 1]                                                   # doctest: +SKIP
    """

    def __init__(self, exclude=(), learning_rate=0.08, max_iter=250, max_leaf_nodes=15,
                 max_depth=5, min_samples_leaf=30, l2_regularization=1.0, random_state=0,
                 early_stopping=True, increasing=()):
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

    def fit(self, X, y, sample_weight=None, *, calibration, calibration_raw=None):
        """Fit the trees on ``X`` and the calibration on data kept apart from them.

        Parameters
        ----------
        X : DataFrame, shape (n, len(FEATURES))
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
        self.features_ = [f for f in FEATURES if f not in off]
        self.categorical_ = [f for f in self.features_ if f in CATEGORICAL]
        self.encoder_ = CategoryEncoder(tuple(self.categorical_)).fit(X)
        matrix = self._matrix(X)
        self.booster_ = HistGradientBoostingClassifier(
            learning_rate=self.learning_rate, max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes, max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            categorical_features=[f in self.categorical_ for f in self.features_],
            monotonic_cst=[int(f in self.increasing) for f in self.features_],
            early_stopping=self.early_stopping, validation_fraction=0.15, n_iter_no_change=25,
            random_state=self.random_state,
        ).fit(matrix, y, sample_weight=sample_weight)
        self.ensemble_ = TreeEnsemble(self.booster_, len(self.features_))
        X_cal, y_cal, w_cal = calibration
        raw = self.decision_function(X_cal) if calibration_raw is None else calibration_raw
        platt = LogisticRegression(C=1e4).fit(raw[:, None], np.asarray(y_cal, dtype=int),
                                              sample_weight=w_cal)
        self.calibration_ = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))
        self.classes_ = np.array([0, 1])
        return self

    def _matrix(self, X, internal=False):
        """The model's input matrix, shape (n, len(features_)): the encoder's codes and
        the numbers as floats (column by column, without copying the frame).
        ``internal``: the booster's own matrix instead (:meth:`TreeEnsemble.internal` of
        it), built at once in its order, with no model matrix between."""
        columns = list(enumerate([None] * len(self.features_)))
        if internal:
            columns = self.ensemble_.internal_columns()
            if columns is None:
                return self.ensemble_.internal(self._matrix(X))
        # filled column by column in column order, then one copy to row order (what
        # the tree walks read): writing a row-order matrix a column at a time touches a
        # cache line per cell (500k rows, 36 columns: 0.15-0.2 s against 0.35-0.65 s)
        matrix = np.empty((len(X), len(columns)), order="F")
        for j, (col, known) in enumerate(columns):
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
        row = np.empty(len(plan))
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
        z = np.clip(slope * np.asarray(raw, dtype=float) + intercept, -700, 700)
        return np.clip(1.0 / (1.0 + np.exp(-z)), PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)

    def calibrate_one(self, raw):
        """:meth:`calibrate` of one raw score, in plain floats (the service's path)."""
        slope, intercept = self.calibration_
        z = min(max(slope * raw + intercept, -700.0), 700.0)
        return min(max(1.0 / (1.0 + math.exp(-z)), PROBABILITY_FLOOR), 1 - PROBABILITY_FLOOR)

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
            ``contributions.sum(1) + ensemble_.bias == raw`` up to rounding.
        """
        check_is_fitted(self, "ensemble_")
        if compiled:
            leaves = self.ensemble_.leaves_compiled(self._matrix(X, internal=True))
        else:
            leaves = self.ensemble_.leaves(self._matrix(X))
        return self.ensemble_.raw(leaves), self._contributions(leaves)

    def explain_row(self, row):
        """Raw score and contributions of one model input row (see :meth:`vector`)."""
        leaves = self.ensemble_.leaves_row(np.asarray(row, dtype=float))
        raw = self.ensemble_.baseline + float(self.ensemble_.value[leaves].sum())
        return raw, self.ensemble_.contrib[leaves].sum(axis=0)

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


#: rows per step of the raw scores' sums over trees (:meth:`TreeEnsemble.raw`): a chunk
#: stays in cache
CHUNK_ROWS = 8192


#: rows per sparse product of :meth:`RiskModel._contributions` (its index arrays stay
#: small: 65536 rows x 67 trees)
SPARSE_CHUNK_ROWS = 65536


#: rows per step of :meth:`TreeEnsemble.leaves_compiled` (500k rows, 68 trees: 2.6 s
#: in one pass per tree, 1.8 s in 16k-row chunks)
LEAF_CHUNK_ROWS = 16384


def _chunks(n, size=None):
    """Slices of ``range(n)``, ``size`` (default :data:`CHUNK_ROWS`) rows each."""
    size = size or CHUNK_ROWS
    return [slice(start, start + size) for start in range(0, n, size)]
