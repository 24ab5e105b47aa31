"""The online referral policy (the service): lookouts, a random share, the model's
highest scores per port over a window of recent scores, and exploration."""
from __future__ import annotations

import bisect
import hashlib
import json
import math
import threading
from collections import deque
from dataclasses import dataclass

from scoring.policy.quantiles import ScoreQuantiles


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
        k = max(math.ceil(share * len(self.sorted)), 1)  # a float's ceiling, as numpy's
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
        # a service worker's threads share the windows: one updates them at a time
        self.lock = threading.RLock()
        digest = json.dumps([config.random_share, config.default_capacity,
                             sorted(config.capacity.items()), list(config.bands),
                             config.explore_share, config.explore_unseen_plate,
                             config.explore_near_threshold, config.explore_sparse_cell])
        self.version = "p-" + hashlib.sha256(digest.encode()).hexdigest()[:10]

    def carry_over(self, previous):
        """Take ``previous``'s recent-score, exploration-weight and cell windows (a retrained
        or newly activated model goes on from the traffic already seen)."""
        self.lock = previous.lock
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
        with self.lock:
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
        with self.lock:
            if lookout:
                decision = Decision(True, "lookout", 1.0)
            else:
                decision = self._decide(score, port, draw, unseen, cell)
            if cell is not None and self._tracks_cells():
                self.cells.setdefault(port, CellReferrals(self.window)).add(cell,
                                                                            decision.refer)
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
        with self.lock:
            self.recent.setdefault(port, RecentScores(self.window)).add(score)
