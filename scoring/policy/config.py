"""Referral settings: risk bands, capacity, random and exploration shares.

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

import tomllib
from dataclasses import dataclass, field

import numpy as np

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
