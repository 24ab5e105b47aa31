"""Synthetic port world: the project's embedded default crossing log.

:func:`generate_world` simulates every vehicle crossing (both directions) at the
US-Mexico land ports over a period, calibrated on BTS volumes, together with the
latent truth: which outbound crossings really carried firearms, ammunition or
cash, and for whom. Plates are persistent vehicles (commuters, travellers,
trucks, buses, and three kinds of traffickers), the history a model can learn
from. The outcome columns come from a legacy policy (random referrals plus weak
officer rules on context only), so seizures exist only where someone looked.

Everything is drawn from one ``np.random.default_rng(seed)`` in a fixed order:
the same :class:`WorldConfig` gives byte-identical files.

This module is the world's front door; its parts live in :mod:`training.world`.
"""
from training.world.config import WorldConfig
from training.world.generate import generate_world
from training.world.tables import (ACTORS, ANT, BUS, COMMUTER, DETECTION, FRONT, LOG_COLUMNS,
                                   STRAW, TRAVELLER, TRUCK, TRUTH_COLUMNS)
from training.world.variants import VARIANTS, get_variant
from training.world.writer import summarize, write_world

__all__ = ["ACTORS", "ANT", "BUS", "COMMUTER", "DETECTION", "FRONT", "LOG_COLUMNS", "STRAW",
           "TRAVELLER", "TRUCK", "TRUTH_COLUMNS", "VARIANTS", "WorldConfig", "generate_world",
           "get_variant", "summarize", "write_world"]
