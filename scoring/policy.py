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

import tomllib
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
