"""The fitted trees of a gradient-boosted model flattened into numpy arrays.

:class:`TreeEnsemble` scores one crossing in tens of microseconds (numpy over all
trees at once) and gives each score's additive contributions (Saabas path
attribution: the contributions and the bias sum to the raw score exactly).
"""
from __future__ import annotations

import math

import numpy as np
from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder


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


#: rows per step of the raw scores' sums over trees (:meth:`TreeEnsemble.raw`): a chunk
#: stays in cache
CHUNK_ROWS = 8192


#: rows per step of :meth:`TreeEnsemble.leaves_compiled` (500k rows, 68 trees: 2.6 s
#: in one pass per tree, 1.8 s in 16k-row chunks)
LEAF_CHUNK_ROWS = 16384


def _chunks(n, size=None):
    """Slices of ``range(n)``, ``size`` (default :data:`CHUNK_ROWS`) rows each."""
    size = size or CHUNK_ROWS
    return [slice(start, start + size) for start in range(0, n, size)]
