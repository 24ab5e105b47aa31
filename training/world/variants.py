"""Named variants of the synthetic world, each with its parameters fixed here.

A variant changes one part of the world (how rings behave, how the legacy policy picks,
how ports write their logs) and keeps the rest, and the scale logic: the same
``carrier_share`` of outbound crossings carries, so at ``--scale 0.015`` a 90-day window
holds roughly 100-300 seizures whatever the variant. ``WorldConfig(variant=NAME)``
selects one; ``""`` or ``"base"`` is today's world, byte for byte.

The parameters are constants of the code, each variant's docstring says what it
models, and they are not to be tuned against a model: a variant is a fixed test of
what a model trained on one world does in another.

This module imports nothing but the standard library, so the command line can list
the variants without loading numpy.
"""
from __future__ import annotations

from dataclasses import dataclass

# actor codes, as in tables.py (not imported from there: keep this module light)
_STRAW, _ANT = 4, 5


@dataclass(frozen=True)
class TacticsShift:
    """Ring behaviour from the day ``at * days`` on (straw and ant rings alike)."""

    at: float                   # share of the period after which tactics change
    port_power: float           # new ports drawn in proportion to volume ** port_power
    early_hours: float          # share of runs in the small hours ...
    early_mean: float           # ... around this local hour,
    day_mean: float             # the others around this one (sd 2 h)
    quick: float                # share of runs with a short turnaround ...
    quick_hours: float          # ... of this median (hours),
    long_hours: tuple           # the others uniform in this range (hours)
    switch: float               # probability of leaving by a neighbouring port
    lone: float                 # probability of a lone driver; else 2-5 occupants
    occupants: tuple            # range of occupants otherwise (low, high exclusive)
    mx_plates: float            # share of Mexican plates among the new vehicles
    lead: tuple                 # registration lead of the new vehicles (days, uniform)
    bodies: tuple               # body mix of the new vehicles: ((actor, mix), ...)


@dataclass(frozen=True)
class OfficerCues:
    """Coefficients (log-odds) of another officer policy, and per-port random rates."""

    intercept: float
    van: float                  # body type van
    mexican_plate: float        # a plate issued in Mexico
    weekend_evening: float      # Friday to Sunday, 17:00-24:00 local
    new_registration: float     # registration under ``new_days`` days old
    new_days: int
    lone_driver: float
    empty_trailer: float
    random_rates: tuple         # (low, high): each port's random share, drawn uniformly
    rates_salt: int             # seeds the per-port draw with the world's seed
    officer_probability_known: bool   # False: officer picks' selection_probability empty


@dataclass(frozen=True)
class Convoys:
    """Rings whose runs go as convoys of two to four of their plates."""

    ring_share: float           # share of rings that use convoys
    run_share: float            # share of such a ring's runs made as a convoy
    sizes: tuple                # plates per convoy, lead included (low, high inclusive)
    gap_minutes: tuple          # each companion crosses this long after the lead (uniform)
    companion_carry: float      # probability that a companion carries too


@dataclass(frozen=True)
class Variant:
    """One world variant: its name, its line in ``--help``, and what it changes."""

    name: str
    summary: str
    shares: tuple = (.2, .45, .35)   # of the carrier target: front carriers, ants, straw
    tactics: TacticsShift | None = None
    officer: OfficerCues | None = None
    utc_ports: tuple = ()            # ports that write crossed_at in UTC ('Z')
    missing: tuple = ()              # ((column, (port, ...)), ...): cells left empty
    convoys: Convoys | None = None


BASE = Variant("base", "today's world (the default)")
"""The default world: drifting straw, ant and front-carrier rings, the legacy policy."""

TACTICS_SHIFT = Variant(
    "tactics-shift",
    "ring tactics change at once at 60% of the period",
    tactics=TacticsShift(
        at=.6, port_power=.5, early_hours=.6, early_mean=5.0, day_mean=15.0,
        quick=.35, quick_hours=8.0, long_hours=(24, 96), switch=.05, lone=.1,
        occupants=(2, 6), mx_plates=.55, lead=(180, 1500),
        bodies=((_STRAW, (.45, .08, .04, .35, 0, 0, 0, 0, .08)),
                (_ANT, (.30, .10, .05, .45, .05, 0, 0, 0, .05)))))
"""Trafficking tactics change at once after 60% of the period (the ordinary drift goes on).

From the shift day, straw and ant rings change vehicles and habits: they cross at other
ports (drawn in proportion to the square root of volume, so small ports gain), mostly
in the small hours (60% around 05:00) or mid-afternoon instead of late morning and
evening, with long turnarounds (35% quick, median 8 h; the others 1 to 4 days) and
seldom leaving by another port, with passengers (90% carry 2-5 occupants), in vehicles
registered long ago (180-1500 days) and more often Mexican-plated, sedans and vans
rather than pickups and SUVs. What a model learned before the shift may stop working.
"""

OFFICER_CUES = Variant(
    "officer-cues",
    "other officer cues; random 0.5-4% by port; officer p unknown",
    officer=OfficerCues(
        intercept=-5.3, van=1.2, mexican_plate=.5, weekend_evening=1.1,
        new_registration=2.0, new_days=45, lone_driver=.8, empty_trailer=1.2,
        random_rates=(.005, .04), rates_salt=0x0FF1CE, officer_probability_known=False))
"""Another legacy policy: the officers' cues differ and their chances are not logged.

Officers refer registrations under 45 days old (their strongest cue), vans,
declared-empty trailers, lone drivers, weekend evenings (Friday to Sunday after 17:00
local) and Mexican-issued plates; night hours, out-of-state plates and SUVs or pickups
no longer count. Each port runs its own random share, drawn once per port uniformly
in 0.5%-4% (from the world's seed, on a stream of its own). The log leaves
``selection_probability`` empty on officer picks (the contract allows it: unknown);
random picks and rows not referred keep theirs (the port's random share plus the
officers' chance).
"""

#: every port with an odd port code (12 of the 28, in every time zone of the border)
_ODD_PORTS = ("2301", "2303", "2305", "2307", "2309", "2401", "2403", "2503", "2505",
              "2507", "2601", "2603")
UTC_EXPORT = Variant(
    "utc-export",
    "odd-numbered ports write crossed_at in UTC ('Z')",
    utc_ports=_ODD_PORTS)
"""The same world, written by two kinds of port systems.

Ports with an odd port code (Brownsville, Eagle Pass, Hidalgo, ..., Ysleta, Calexico,
Douglas, Naco: every time zone of the border) write ``crossed_at`` in UTC with a ``Z``;
the others keep writing their local offset. Every instant, and so every local hour,
is the base world's; only the text of the stamps differs.
"""

MISSING_COLUMNS = Variant(
    "missing-columns",
    "optional columns left empty at some ports",
    missing=(("registration_age_days", ("2304", "2402", "2604", "2505")),
             ("occupants", ("2504", "2402", "2309")),
             ("vehicle_make", ("2503", "2402", "2608")),
             ("body_type", ("2305", "2601", "2504")),
             ("vehicle_model_year", ("2301", "2402", "2506", "2603"))))
"""The same world, exported by ports whose systems lack some optional fields.

Each of five optional columns is empty at a fixed set of ports (every row, both
directions); El Paso (2402) lacks four of them, San Ysidro (2504) two. Every column
stays in the file. The officers still saw the vehicles: outcomes are the base world's.
"""

CONVOY_RINGS = Variant(
    "convoy-rings",
    "2-4 plates of a ring leave together, again and again",
    convoys=Convoys(ring_share=.5, run_share=.7, sizes=(2, 4), gap_minutes=(.5, 6.0),
                    companion_carry=.35))
"""Half the straw and ant rings send most runs (70%) as convoys.

A convoy is the run's own plate and one to three others of the same ring: they enter
together and leave by the same port, each companion 0.5-6 minutes after the lead, on
every convoy run of the ring, so the same plates leave together again and again; the
lead carries as in the base world and each companion with probability 0.35. A seized
companion is replaced by a fresh plate that keeps riding with the ring. Fewer rings
keep the carrier share near the base world's.
"""

TRUCK_FRONTS = Variant(
    "truck-fronts",
    "most contraband in front carriers' trucks",
    shares=(.75, .15, .10))
"""Front carriers move most of the contraband: 75% of the carrier target (base 20%),
ant rings 15% (base 45%) and straw buyers 10% (base 35%).
"""

VARIANTS = {v.name: v for v in (BASE, TACTICS_SHIFT, OFFICER_CUES, UTC_EXPORT,
                                MISSING_COLUMNS, CONVOY_RINGS, TRUCK_FRONTS)}


def get_variant(name: str) -> Variant:
    """The variant called ``name`` (``""`` is ``"base"``).

    >>> get_variant("utc-export").utc_ports[:2]
    ('2301', '2303')
    """
    try:
        return VARIANTS[name or "base"]
    except KeyError:
        raise ValueError(f"variant {name!r} is not one of {', '.join(VARIANTS)}") from None
