"""The parameters of one synthetic world."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .variants import get_variant

ID_PREFIX = re.compile(r"[A-Za-z0-9_-]{0,16}")


@dataclass(frozen=True)
class WorldConfig:
    """Parameters of one synthetic world; equal configs give identical worlds."""

    days: int = 120
    seed: int = 0
    start: str = "2025-01-06"     # first day (local date), ISO
    scale: float = 0.005          # fraction of real BTS volume
    carrier_share: float = 0.01   # rough share of outbound crossings that carry contraband
    random_share: float = 0.015   # legacy policy's random referral share
    drift: bool = True
    variant: str = ""             # a name of variants.VARIANTS; "" or "base": the default world
    #: (index, count): this world is shard ``index`` of ``count`` independent shares of the
    #: world at ``scale``, with its own draws and ids (:func:`writer.write_dataset`)
    shard: tuple = (0, 1)
    #: put after each id's letter (X crossing, P plate, C carrier) so that the ids of two
    #: worlds never meet; None: derived from the world's parameters (:meth:`id_tag`)
    id_prefix: str | None = None

    def __post_init__(self):
        if not (isinstance(self.days, int) and self.days >= 1):
            raise ValueError(f"days {self.days!r} is not a positive integer")
        if not self.scale > 0:
            raise ValueError(f"scale {self.scale!r} is not > 0")
        for name in ("carrier_share", "random_share"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} {getattr(self, name)!r} is not in [0, 1)")
        index, count = self.shard
        if not (isinstance(count, int) and count >= 1 and isinstance(index, int)
                and 0 <= index < count):
            raise ValueError(f"shard {self.shard!r} is not (index, count) with 0 <= index < count")
        get_variant(self.variant)        # raises on a name that is not a variant
        if self.id_prefix is not None and not ID_PREFIX.fullmatch(self.id_prefix):
            raise ValueError(f"id_prefix {self.id_prefix!r} is not up to 16 letters, digits, "
                             "'-' or '_'")
        import numpy as np
        np.datetime64(self.start, "D")   # raises on a date that is not ISO

    def id_tag(self):
        """The text after each id's letter: ``id_prefix``, or by default six hex digits of
        a hash of every parameter that shapes the world (not the shard) and a hyphen, so
        that equal configs give equal ids and two different worlds never share one."""
        if self.id_prefix is not None:
            return self.id_prefix
        shape = (self.days, self.seed, self.start, float(self.scale),
                 float(self.carrier_share), float(self.random_share), bool(self.drift),
                 self.variant or "base")
        return hashlib.sha256(repr(shape).encode()).hexdigest()[:6] + "-"
