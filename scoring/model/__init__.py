"""The risk model: category encoding, gradient-boosted trees, calibration.

One module per part: :mod:`~scoring.model.encoder` (categories to codes),
:mod:`~scoring.model.trees` (the fitted trees as flat arrays, for one row or a
batch, with contributions), :mod:`~scoring.model.calibration` (Platt scaling) and
:mod:`~scoring.model.estimator` (:class:`RiskModel`, which holds them).

Models saved before this package was split name their classes
``scoring.model.RiskModel``, ``scoring.model.CategoryEncoder`` and
``scoring.model.TreeEnsemble`` in their pickles: these names are kept here, so
those artifacts load as they are.
"""
from scoring.model.calibration import PROBABILITY_FLOOR, PlattCalibration
from scoring.model.encoder import CategoryEncoder
from scoring.model.estimator import RiskModel
from scoring.model.trees import TreeEnsemble

__all__ = ["PROBABILITY_FLOOR", "CategoryEncoder", "PlattCalibration", "RiskModel",
           "TreeEnsemble"]
