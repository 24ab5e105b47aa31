"""Vehicles: one plate per vehicle, its attributes drawn for who drives it."""
from __future__ import annotations

import numpy as np

from .tables import (ANT, BODY_MIX, COMMUTER, FRONT, MAKE_NAMES, MAKES, MX, STRAW, TRAVELLER,
                     TRUCK, US, US_W)


def _make_table():
    """Make codes per body type, padded with -1, and how many each body has."""
    table = np.full((9, 9), -1)
    for b, names in MAKES.items():
        table[b, :len(names)] = [MAKE_NAMES.index(x) for x in names]
    return table, np.array([len(MAKES[b]) for b in range(9)])


def _bodies_and_leads(rng, actor, n):
    """Body type and registration lead of each vehicle, drawn for its actor."""
    body = np.zeros(n, np.int8)
    # lead: days from registration to the plate's first crossing in the window
    # (set once first use is known, so a fresh plate looks fresh whenever it appears)
    lead, lead_drift = 60 + rng.exponential(1100, n), np.zeros(n)
    u = rng.random(n)
    for a in np.unique(actor):
        m = actor == a
        body[m] = rng.choice(9, m.sum(), p=BODY_MIX[a])
        if a == COMMUTER:
            lead[m] = 365 + rng.exponential(1500, m.sum())
        elif a == TRAVELLER:   # new cars: innocent recent registrations
            lead[m] = np.where(u[m] < .08, rng.uniform(0, 60, m.sum()), lead[m])
        elif a == STRAW:       # bought for the run; rings learn to let them age
            lead[m] = np.where(u[m] < .85, rng.uniform(5, 60, m.sum()),
                               rng.uniform(60, 400, m.sum()))
            lead_drift[m] = rng.uniform(20, 100, m.sum())
        elif a == ANT:
            lead[m] = np.where(u[m] < .3, rng.uniform(10, 90, m.sum()),
                               60 + rng.exponential(700, m.sum()))
        elif a in (TRUCK, FRONT):
            lead[m] = np.where(u[m] < .07, rng.uniform(0, 60, m.sum()),
                               60 + rng.exponential(900, m.sum()))
    return body, lead, lead_drift


def _shifted_vehicles(w, actor, style, body, lead, lead_drift):
    """Vehicles of shifted tactics (``style`` 1): their own body mix and older registrations."""
    shift, rng = w.variant.tactics, w.rng
    for a, mix in shift.bodies:
        m = (style == 1) & (actor == a)
        body[m] = rng.choice(9, m.sum(), p=mix)
    m = style == 1
    lead[m], lead_drift[m] = rng.uniform(*shift.lead, m.sum()), 0


def add_plates(w, actor, port, nat, carrier=None, style=0):
    """Create vehicles with attributes drawn for their actor; return their indices.

    Parameters
    ----------
    w : World
    actor : int or array of int, shape (n,)
        Actor code of each vehicle (``tables.COMMUTER`` ...).
    port : array of int, shape (n,)
        Home port (for the plate's jurisdiction).
    nat : array of int8, shape (n,)
        1 for a Mexican plate.
    carrier : array of int, shape (n,), optional
        Motor carrier of trucks; -1 elsewhere.
    style : int or array of int8, shape (n,)
        1 for a vehicle of the ``tactics-shift`` variant's new tactics, else 0.

    Returns
    -------
    array of int, shape (n,)
        Indices of the new plates in ``w.P``.
    """
    rng, n = w.rng, port.size
    actor = np.broadcast_to(np.asarray(actor, np.int8), (n,))
    style = np.broadcast_to(np.asarray(style, np.int8), (n,))
    body, lead, lead_drift = _bodies_and_leads(rng, actor, n)
    if style.any():
        _shifted_vehicles(w, actor, style, body, lead, lead_drift)
    pick = rng.random(n)
    us = np.searchsorted(np.cumsum(US_W) / sum(US_W), pick, side="right") + 2
    mx = np.where(pick < .55, w.mx_j[port, 0], np.where(
        pick < .75, w.mx_j[port, 1], rng.integers(0, len(MX), n) + 2 + len(US)))
    home = rng.random(n) < .8
    juris = np.where(nat == 1, mx, np.where(home, w.us_j[port], us))
    blank = rng.random(n)
    juris = np.where(blank < .03, 0, np.where(blank < .035, 1, juris))
    table, size = _make_table()
    make = table[body, (rng.random(n) * size[body]).astype(int)]
    age = np.floor(rng.gamma(2.0, np.where(body >= 5, 3.5, 4.0))).clip(0, 30)
    year = np.datetime64(w.cfg.start, "Y").astype(int) + 1970 - age
    new = dict(actor=actor, port=port, nat=nat, body=np.where(rng.random(n) < .01, -1, body),
               juris=juris, make=np.where(rng.random(n) < .02, -1, make),
               year=np.where(rng.random(n) < .03, -1, year), lead=lead,
               lead_drift=lead_drift, reg_known=rng.random(n) < np.where(nat == 1, .8, .97),
               carrier=np.full(n, -1) if carrier is None else carrier, style=style)
    first = w.P["actor"].size
    for f, v in new.items():
        w.P[f] = np.concatenate([w.P[f], np.asarray(v).astype(w.P[f].dtype)])
    return np.arange(first, first + n)
