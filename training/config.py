"""The training configuration: what to train on and how, checked when made."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

#: a labelled row's weight is capped at this multiple of the mean weight
MAX_RELATIVE_WEIGHT = 50.0
#: an effective sample (Kish) of the training weights under this share of the labelled
#: rows is warned of
MIN_EFFECTIVE_SHARE = 0.10
MIN_SEIZURES = 10
#: features computed, stored and worded for officers but left out of the model unless
#: asked for (``--include-feature``): ``vehicle_make`` is free text (a make, or "Make
#: Model" at some ports of a log made by others) with too many values for a few hundred
#: seizures. Chosen by backtest: without it, world c's true recall at 1% rose from 0.435
#: to 0.471 (seeds 1-3), worlds a and b and the generator's base, missing-columns and
#: truck-fronts variants (seed 1) rose by 0.002-0.010, none fell (benchmarks/README.md)
DEFAULT_EXCLUDED = ("vehicle_make",)
#: the TrainConfig fields a backtest chooses (recorded in the manifest's ``training``)
DEFAULT_CHOICES = ("calibration", "weighting", "trees", "half_life_days")


@dataclass
class TrainConfig:
    """What to train on and how.

    ``split`` gives the time shares of the outbound rows for fit, calibrate and
    validate; ``until`` (UTC µs) drops every row from then on.

    Examples
    --------
    >>> TrainConfig(calibration="holdout").folds
    5
    """

    exclude: tuple = DEFAULT_EXCLUDED
    until: int | None = None
    split: tuple = (0.70, 0.15, 0.15)
    seed: int = 0
    params: dict = field(default_factory=dict)
    #: "holdout": trees on the oldest share, calibration on the next, validation on the
    #: newest; "crossfit": trees on every labelled row, calibrated out of fold.
    #: The defaults of this class are chosen by backtest on every generated variant
    #: (benchmarks/quality.py; the table in benchmarks/README.md), never on one window.
    calibration: str = "crossfit"
    folds: int = 5
    #: "ipw" (capped inverse selection probability) or "none"
    weighting: str = "ipw"
    #: crossfit only: "early-stopping" (the served model stops on a random 15% of its
    #: rows) or "from-folds" (it grows, on every row, the median of the folds' trees)
    trees: str = "from-folds"
    #: features whose rise may never lower the score (monotone constraints)
    increasing: tuple = ()
    #: a labelled row's weight halves with every this many days of age (counted back
    #: from the newest outbound row); None weighs old and new rows alike
    half_life_days: float | None = 30.0
    #: "learnt": how each labelled row was picked (officer, lookout, model, random) is an
    #: input of the trees and every crossing is scored as a random draw, so that what an
    #: officer's hunch found beyond the features is put down to the pick; "ignored": the
    #: features alone (RiskModel's ``learn_picks``); "auto": learnt when the log leaves
    #: some inspection's selection probability empty (then it is estimated from the
    #: features, which cannot see a hunch), else ignored (the log's probabilities weigh
    #: the picks). Chosen by backtest (benchmarks/README.md, "How each was picked"):
    #: learnt lifted worlds b and c (+0.003 and +0.012 at 1%, seeds 1-3), which leave
    #: probabilities empty, and cost world a 0.007, which logs them all
    picks: str = "auto"

    def __post_init__(self):
        if self.calibration not in ("holdout", "crossfit"):
            raise ValueError(f"calibration {self.calibration!r} is not holdout or crossfit")
        if self.weighting not in ("ipw", "none"):
            raise ValueError(f"weighting {self.weighting!r} is not ipw or none")
        if self.picks not in ("auto", "learnt", "ignored"):
            raise ValueError(f"picks {self.picks!r} is not auto, learnt or ignored")
        if not (isinstance(self.folds, int) and self.folds >= 2):
            raise ValueError(f"folds {self.folds!r} is not an integer of at least 2")


#: the plate history a plain candidate keeps: counts of the plate's earlier crossings,
#: inspections and seizures (beside every context feature the pipeline uses)
PLAIN_HISTORY = ("plate_out_24h", "plate_out_7d", "plate_out_30d", "plate_in_30d",
                 "plate_prior_inspections", "plate_prior_seizures")

#: what the plain candidate is, in the backtest's record and on the model card
PLAIN_DESCRIPTION = ("the same pipeline on context features and plate history counts, "
                     "unweighted")


def plain_candidate(config=None):
    """The pipeline's plain candidate: the same code, in a plain configuration.

    The same training as ``config`` (its calibration, folds, trees, parameters, seed and
    ``until``) restricted to the context features it uses and the plate history counts
    (:data:`PLAIN_HISTORY`), every labelled row counted once (no inverse-propensity
    weight, no recency half-life, no monotone constraint, the picks ignored). A feature
    added to the catalog later is left out of it without a change here. The backtest
    grades it beside the pipeline (:mod:`training.candidates`): whether the pipeline's
    other features and weights earn their keep on the log at hand.

    Examples
    --------
    >>> plain = plain_candidate(TrainConfig(seed=3))
    >>> plain.weighting, plain.half_life_days, plain.seed, "plate_prior_seizures" in plain.exclude
    ('none', None, 3, False)
    """
    from scoring.features import CONTEXT, FEATURES  # the catalog, only when asked for
    config = config or TrainConfig()
    kept = {name for name, _, _ in CONTEXT} | set(PLAIN_HISTORY)
    exclude = tuple(dict.fromkeys(tuple(config.exclude)
                                  + tuple(f for f in FEATURES if f not in kept)))
    return replace(config, exclude=exclude, weighting="none", half_life_days=None,
                   increasing=(), picks="ignored")
