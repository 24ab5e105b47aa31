"""Referral policy: risk bands and who goes to secondary inspection.

Bands and capacity are configuration applied after the probability, so changing
them never needs retraining. The configuration is a TOML file::

    random_share = 0.02            # share of outbound crossings referred at random
    default_capacity = 0.02        # share of outbound traffic a port can inspect
    [capacity]                     # per port, overriding the default
    "2304" = 0.01
    [bands]                        # lower bound of each band's probability
    low = 0.0
    elevated = 0.01
    high = 0.05
    "very high" = 0.2
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

    random_share: float = 0.02
    default_capacity: float = 0.02
    capacity: dict = field(default_factory=dict)
    bands: tuple = DEFAULT_BANDS

    def __post_init__(self):
        for name, share in [("random_share", self.random_share),
                            ("default_capacity", self.default_capacity),
                            *[(f"capacity.{k}", v) for k, v in self.capacity.items()]]:
            if not 0 <= share <= 1:
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
        kwargs = {k: data[k] for k in ("random_share", "default_capacity") if k in data}
        if "capacity" in data:
            kwargs["capacity"] = {str(k): float(v) for k, v in data["capacity"].items()}
        if "bands" in data:
            kwargs["bands"] = tuple(sorted(((str(k), float(v)) for k, v in data["bands"].items()),
                                           key=lambda kv: kv[1]))
        return cls(**kwargs)


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


def batch_referrals(scores, ports, config):
    """Refer each port's highest scores up to its capacity share of the batch.

    The batch stands for the port's recent traffic, which is what the service's
    threshold follows. Returns a boolean array.
    """
    scores = np.asarray(scores, dtype=float)
    frame = pd.DataFrame({"score": scores, "port": np.asarray(ports, dtype=object)})
    rank = frame.groupby("port")["score"].rank(method="first", ascending=False).to_numpy()
    size = frame.groupby("port")["score"].transform("size").to_numpy()
    capacity = frame["port"].map(config.capacity_of).to_numpy(float)
    return rank <= np.ceil(capacity * size)


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

    def __len__(self):
        return len(self.order)

    def upper_quantile(self, share):
        """The score above which ``share`` of the recent scores lie."""
        k = max(int(np.ceil(share * len(self.sorted))), 1)
        return self.sorted[-k]


class ReferralPolicy:
    """Lookouts first, then a random share, then the model's highest scores per port.

    The model threshold of a port is the score that its capacity share of the
    port's recent scores exceeds; until ``min_recent`` scores are known it is the
    model's validation quantile for that share (``fallback``).

    Parameters
    ----------
    config : PolicyConfig
    fallback : dict
        Share (as text, e.g. ``"0.02"``) to score, from the model manifest.
    window, min_recent : int
    """

    def __init__(self, config, fallback=None, window=2000, min_recent=200):
        self.config = config
        self.fallback = {float(k): v for k, v in (fallback or {}).items()}
        self.window = window
        self.min_recent = min_recent
        self.recent = {}
        digest = json.dumps([config.random_share, config.default_capacity,
                             sorted(config.capacity.items()), list(config.bands)])
        self.version = "p-" + hashlib.sha256(digest.encode()).hexdigest()[:10]

    def seed(self, port, scores_newest_first):
        """Fill a port's window from the store (at start, or on first sight of a port)."""
        recent = self.recent.setdefault(port, RecentScores(self.window))
        for score in reversed(scores_newest_first[: self.window]):
            recent.add(score)

    def knows(self, port):
        return port in self.recent

    def threshold(self, port):
        share = self.config.capacity_of(port)
        recent = self.recent.get(port)
        if share <= 0:
            return float("inf")
        if recent is not None and len(recent) >= self.min_recent:
            return recent.upper_quantile(share)
        if self.fallback:
            nearest = min(self.fallback, key=lambda s: abs(np.log(s) - np.log(share)))
            return self.fallback[nearest]
        return 0.0

    def decide(self, score, port, lookout, draw):
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
        """
        if lookout:
            return Decision(True, "lookout", 1.0)
        by_model = score >= self.threshold(port)
        share = self.config.random_share
        probability = 1.0 if by_model else share
        if draw < share:
            return Decision(True, "random", probability)
        if by_model:
            return Decision(True, "model", probability)
        return Decision(False, "none", probability)

    def observe(self, port, score):
        self.recent.setdefault(port, RecentScores(self.window)).add(score)
