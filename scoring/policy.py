"""Referral policy: risk bands and who goes to secondary inspection.

Bands and capacity are configuration applied after the probability, so changing
them never needs retraining. The configuration is a TOML file::

    random_share = 0.01            # share of outbound crossings referred at random
    default_capacity = 0.02        # share of outbound traffic a port can inspect
    explore_share = 0.01           # share picked to explore where the model knows least
    [explore]                      # relative weights of an exploration pick
    unseen_plate = 4.0             # a plate the store has never seen
    near_threshold = 4.0           # a score at least half the port's threshold
    sparse_cell = 4.0              # an hour x vehicle class the port has rarely inspected
    [capacity]                     # per port, overriding the default
    "2304" = 0.01
    [bands]                        # lower bound of each band's probability
    low = 0.0
    elevated = 0.01
    high = 0.05
    "very high" = 0.2

Every key is declared: a key the file does not know is refused (a typo never goes
unnoticed), and every key is in the policy version's hash.
"""
from __future__ import annotations

import bisect
import hashlib
import json
import tomllib
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

DEFAULT_BANDS = (("low", 0.0), ("elevated", 0.01), ("high", 0.05), ("very high", 0.2))


@dataclass(frozen=True)
class PolicyConfig:
    """Referral settings; see the module docstring for the file form."""

    #: the default split of the 2% picked beside the model's capacity, 1% uniform and 1%
    #: exploration, was chosen by closed-loop simulation (benchmarks/exploration.py)
    random_share: float = 0.01
    default_capacity: float = 0.02
    capacity: dict = field(default_factory=dict)
    bands: tuple = DEFAULT_BANDS
    #: expected share of the crossings not picked otherwise that exploration picks
    explore_share: float = 0.01
    #: relative weight of an exploration pick: 1, plus these where they hold
    explore_unseen_plate: float = 4.0
    explore_near_threshold: float = 4.0
    explore_sparse_cell: float = 4.0

    def __post_init__(self):
        for name, weight in (("explore.unseen_plate", self.explore_unseen_plate),
                             ("explore.near_threshold", self.explore_near_threshold),
                             ("explore.sparse_cell", self.explore_sparse_cell)):
            if (isinstance(weight, bool) or not isinstance(weight, (int, float))
                    or not 0 <= weight <= 1000):
                raise ValueError(f"{name} {weight!r} is not a weight between 0 and 1000")
        for name, share in [("random_share", self.random_share),
                            ("default_capacity", self.default_capacity),
                            ("explore_share", self.explore_share),
                            *[(f"capacity.{k}", v) for k, v in self.capacity.items()]]:
            if (isinstance(share, bool) or not isinstance(share, (int, float))
                    or not 0 <= share <= 1):
                raise ValueError(f"{name} {share!r} is not a share between 0 and 1")
        bounds = [b for _, b in self.bands]
        if bounds != sorted(bounds) or not bounds or bounds[0] != 0.0:
            raise ValueError(f"band bounds {bounds} must rise from 0.0")

    def capacity_of(self, port):
        return float(self.capacity.get(str(port), self.default_capacity))

    @classmethod
    def from_toml(cls, path):
        """Read a policy file; a missing key keeps its default."""
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
        unknown = sorted(set(data) - set(_KEYS))
        if unknown:
            raise ValueError(f"unknown key {unknown[0]!r}: a policy file has "
                             + ", ".join(_KEYS))
        kwargs = {k: data[k] for k in ("random_share", "default_capacity", "explore_share")
                  if k in data}
        explore = data.get("explore", {})
        if not isinstance(explore, dict):
            raise ValueError(f"explore {explore!r} is not a table ([explore])")
        for key, value in explore.items():
            if key not in _EXPLORE_KEYS:
                raise ValueError(f"unknown key 'explore.{key}': [explore] has "
                                 + ", ".join(_EXPLORE_KEYS))
            kwargs[f"explore_{key}"] = value
        for table in ("capacity", "bands"):
            if table in data and not isinstance(data[table], dict):
                raise ValueError(f"{table} {data[table]!r} is not a table ([{table}])")
            for key, value in data.get(table, {}).items():
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"{table}.{key} {value!r} is not a number")
        if "capacity" in data:
            kwargs["capacity"] = {str(k): float(v) for k, v in data["capacity"].items()}
        if "bands" in data:
            kwargs["bands"] = tuple(sorted(((str(k), float(v)) for k, v in data["bands"].items()),
                                           key=lambda kv: kv[1]))
        return cls(**kwargs)


_KEYS = ("random_share", "default_capacity", "explore_share", "capacity", "bands", "explore")
_EXPLORE_KEYS = ("unseen_plate", "near_threshold", "sparse_cell")


def risk_band(probability, bands=DEFAULT_BANDS):
    """Name of the band a probability falls in.

    >>> risk_band(0.07)
    'high'
    """
    name = bands[0][0]
    for band, lower in bands:
        if probability >= lower:
            name = band
    return name


def risk_bands(probabilities, bands=DEFAULT_BANDS):
    """Vectorised :func:`risk_band`."""
    lowers = np.array([b for _, b in bands])
    names = np.array([n for n, _ in bands], dtype=object)
    return names[np.searchsorted(lowers, np.asarray(probabilities), side="right") - 1]


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


# --- the online policy (the service) ------------------------------------------

@dataclass(frozen=True)
class Decision:
    """A referral decision: whether, why, and how likely it was, given what was known."""

    refer: bool
    source: str
    selection_probability: float


class RecentScores:
    """A port's last ``size`` scores, kept sorted for quantiles in O(log n)."""

    def __init__(self, size):
        self.size = size
        self.order = deque()
        self.sorted = []

    def add(self, score):
        self.order.append(score)
        bisect.insort(self.sorted, score)
        if len(self.order) > self.size:
            old = self.order.popleft()
            del self.sorted[bisect.bisect_left(self.sorted, old)]

    @classmethod
    def of(cls, size, scores_newest_first):
        """A window holding the newest ``size`` of ``scores_newest_first``."""
        recent = cls(size)
        kept = list(scores_newest_first[:size])
        recent.order = deque(reversed(kept))
        recent.sorted = sorted(kept)
        return recent

    def __len__(self):
        return len(self.order)

    def upper_quantile(self, share):
        """The score above which ``share`` of the recent scores lie."""
        k = max(int(np.ceil(share * len(self.sorted))), 1)
        return self.sorted[-k]


def exploration_cell(local_hour, vehicle_class):
    """The cell exploration counts labels in: the local hour (None where the port's zone
    is unknown) and the vehicle class."""
    hour = None if local_hour is None or local_hour != local_hour else int(local_hour)
    return hour, vehicle_class


class CellReferrals:
    """A port's last ``window`` crossings by cell (e.g. local hour x vehicle class) and
    which of them were referred: a cell is *sparse* when it was referred less than half
    as often as the port's traffic as a whole (a cell not seen lately is sparse too)."""

    def __init__(self, window):
        self.window = window
        self.order = deque()
        self.crossings = {}
        self.referred = {}
        self.total_referred = 0

    def add(self, cell, referred):
        self.order.append((cell, referred))
        self.crossings[cell] = self.crossings.get(cell, 0) + 1
        self.referred[cell] = self.referred.get(cell, 0) + referred
        self.total_referred += referred
        if len(self.order) > self.window:
            old, was = self.order.popleft()
            self.crossings[old] -= 1
            self.referred[old] -= was
            self.total_referred -= was

    def sparse(self, cell):
        n = self.crossings.get(cell, 0)
        if not n:
            return True
        # the cell's referral rate under half the port's: r / n < (R / N) / 2
        return 2 * self.referred[cell] * len(self.order) < self.total_referred * n


class ReferralPolicy:
    """Lookouts first, then a random share, then the model's highest scores per port.

    The model threshold of a port is the score that its capacity share of the
    port's recent scores exceeds; until ``min_recent`` scores are known it is the
    model's own score quantile for that share and port (``quantiles``, from the
    manifest), which is also what batch scoring uses.

    A port's window is read from the store at first sight of the port and, with
    ``refresh_seconds``, again whenever the last read is that old: every worker of every
    instance on one store then follows the same window (the store's latest scores of
    the port), each adding only its own scores between reads. Two windows differ by
    at most the scores other workers stored within one refresh interval.

    Parameters
    ----------
    config : PolicyConfig
    quantiles : ScoreQuantiles, optional
    window, min_recent : int
    refresh_seconds : float, optional
        None reads a port's window once (a simulation, where this policy is the only one).
    """

    def __init__(self, config, quantiles=None, window=2000, min_recent=200,
                 refresh_seconds=None):
        self.config = config
        self.quantiles = quantiles if quantiles is not None else ScoreQuantiles()
        self.window = window
        self.min_recent = min_recent
        self.refresh_seconds = refresh_seconds
        self.read_at = {}  # per port: when its window was last read from the store
        self.recent = {}
        self.weights = {}  # per port: the recent exploration weights (their mean scales q)
        self.cells = {}    # per port: CellReferrals, how often each cell was referred lately
        digest = json.dumps([config.random_share, config.default_capacity,
                             sorted(config.capacity.items()), list(config.bands),
                             config.explore_share, config.explore_unseen_plate,
                             config.explore_near_threshold, config.explore_sparse_cell])
        self.version = "p-" + hashlib.sha256(digest.encode()).hexdigest()[:10]

    def carry_over(self, previous):
        """Take ``previous``'s recent-score, exploration-weight and cell windows (a retrained
        or newly activated model goes on from the traffic already seen)."""
        self.recent = previous.recent
        self.read_at = previous.read_at
        self.weights = previous.weights
        self.cells = previous.cells

    def stale(self, port, now):
        """Whether the port's window is to be read from the store at ``now`` (a monotonic
        time in seconds): never read, or read ``refresh_seconds`` ago or more."""
        read = self.read_at.get(port)
        return read is None or (self.refresh_seconds is not None
                                and now - read >= self.refresh_seconds)

    def seed(self, port, scores_newest_first, now=0.0):
        """Replace a port's window with the store's latest scores of the port, read at
        ``now``."""
        self.recent[port] = RecentScores.of(self.window, scores_newest_first)
        self.read_at[port] = now

    def threshold(self, port):
        share = self.config.capacity_of(port)
        recent = self.recent.get(port)
        if share <= 0:
            return float("inf")
        if recent is not None and len(recent) >= self.min_recent:
            return recent.upper_quantile(share)
        return self.quantiles.threshold(port, share)

    def decide(self, score, port, lookout, draw, unseen=False, cell=None):
        """Decide one crossing.

        Parameters
        ----------
        score : float
            Calibrated probability.
        port : str
        lookout : bool
            The plate is on an active lookout.
        draw : float
            A uniform random number in [0, 1).
        unseen : bool
            The store has never seen the plate (an exploration cue).
        cell : hashable, optional
            The crossing's cell, such as (local hour, vehicle class): a cell the port
            has referred less than half as often as its other traffic lately is sparse
            (an exploration cue). None: no cell (the cue does not apply).

        A lookout refers; then the random share (``draw < random_share``); then the
        model (the score reaches the port's threshold); then exploration, which picks
        a crossing the others did not with probability ``q`` (:meth:`explore_chance`),
        from the same draw. ``selection_probability`` is the chance of being referred
        by any rule: 1 for the model's and lookouts' picks, else ``s + (1 - s) q``.
        """
        if lookout:
            decision = Decision(True, "lookout", 1.0)
        else:
            decision = self._decide(score, port, draw, unseen, cell)
        if cell is not None and self._tracks_cells():
            self.cells.setdefault(port, CellReferrals(self.window)).add(cell, decision.refer)
        return decision

    def _decide(self, score, port, draw, unseen, cell):
        threshold = self.threshold(port)
        by_model = score >= threshold
        share = self.config.random_share
        explore = 0.0 if by_model else self.explore_chance(port, score, threshold, unseen,
                                                           cell)
        probability = 1.0 if by_model else share + (1.0 - share) * explore
        if draw < share:
            return Decision(True, "random", probability)
        if by_model:
            return Decision(True, "model", probability)
        if draw < probability:
            return Decision(True, "explore", probability)
        return Decision(False, "none", probability)

    def _tracks_cells(self):
        return self.config.explore_share > 0 and self.config.explore_sparse_cell > 0

    def explore_chance(self, port, score, threshold, unseen, cell=None):
        """Exploration's chance ``q`` for a crossing the model does not pick.

        Its weight is 1, plus ``explore.unseen_plate`` for a plate never seen, plus
        ``explore.near_threshold`` for a score of at least half the threshold (the
        crossings the model is least sure it may pass), plus ``explore.sparse_cell``
        for a cell the port has rarely referred lately (where labels are fewest);
        ``q`` is ``explore_share`` times the weight over the mean weight of the port's
        recent crossings, so that about ``explore_share`` of them are explored, more
        of the uncertain ones.
        """
        share = self.config.explore_share
        if share <= 0:
            return 0.0
        sparse = (cell is not None and self._tracks_cells()
                  and self.cells.setdefault(port, CellReferrals(self.window)).sparse(cell))
        weight = (1.0 + self.config.explore_unseen_plate * bool(unseen)
                  + self.config.explore_near_threshold * (score >= threshold / 2)
                  + self.config.explore_sparse_cell * sparse)
        recent = self.weights.get(port)
        if recent is None:
            recent = self.weights[port] = [deque(), 0.0]
        recent[0].append(weight)
        recent[1] += weight
        if len(recent[0]) > self.window:
            recent[1] -= recent[0].popleft()
        mean = recent[1] / len(recent[0])
        return min(share * weight / mean, 1.0)

    def observe(self, port, score):
        self.recent.setdefault(port, RecentScores(self.window)).add(score)
