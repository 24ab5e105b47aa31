"""All parts of the world in their fixed order: :func:`generate_world`."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .config import WorldConfig
from .legacy import outcomes, retire_seized
from .rings import convoy_legs, rings
from .state import World
from .tables import ANT, PAD, STRAW, TRAVEL_WEEK, TRUCK_WEEK
from .trips import commuters, fleet, travellers
from .writer import frames


def generate_world(config: WorldConfig = WorldConfig()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate the crossing log of all US-Mexico land ports and its latent truth.

    Parameters
    ----------
    config : WorldConfig
        Period, seed, volume scale, trafficking share, legacy random share, drift,
        and the variant of the world (:mod:`training.world.variants`).

    Returns
    -------
    log : DataFrame, shape (n_crossings, 22)
        The contract's columns in order, every cell in its text form ("" when
        unknown), sorted by ``crossed_at``; both directions, outcomes on
        outbound rows only.
    truth : DataFrame, shape (n_outbound, 6)
        ``crossing_id, carrier, actor, firearms, rounds, currency_usd`` of each
        outbound crossing, in log order.

    Examples
    --------
    >>> from training.synth import LOG_COLUMNS
    >>> log, truth = generate_world(WorldConfig(days=7, scale=0.001))
    >>> list(log.columns) == list(LOG_COLUMNS)
    True
    """
    w, days = World(config), config.days
    commuters(w)
    travellers(w)
    window = slice(PAD, PAD + days)
    expected_out = w.k * ((w.pv.sum() + w.bus.sum()) * w.season_pv[window]
                          + w.tr.sum() * w.season_tr[window]).sum()
    target = config.carrier_share * expected_out       # carrier crossings wanted
    front, ant, straw = w.variant.shares
    fleet(w, w.tr, w.season_tr, TRUCK_WEEK, .6, True, front * target)
    fleet(w, w.bus, w.season_pv, TRAVEL_WEEK, .4, False)
    for actor, share, per_day, carry in ((ANT, ant, 2.5 / 7, .65), (STRAW, straw, 1 / 8, .9)):
        n = 1.15 * share * target / (per_day * days * carry)   # ~15% of runs fall off the edges
        n /= convoy_legs(w.variant.convoys, carry)
        rings(w, actor, int(max(1, round(n))) if target > 0 else 0, per_day, carry)
    ev = w.collect()
    retire_seized(w, ev)
    return frames(w, ev, outcomes(w, ev, np.arange(ev.plate.size)))
