"""The legacy policy: officer rules and random referrals, inspections, seizures, seized plates."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from .plates import add_plates
from .tables import ANT, DETECTION, FIRST_MX, FRONT, GENERATIONS, PAD, STRAW


def exclusive_cumsum(key, x):
    """Per-group count of earlier true ``x``; ``key`` sorted."""
    if key.size == 0:
        return np.zeros(0, np.int64)
    cs = np.cumsum(x) - x
    start = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    return cs - np.repeat(cs[start], np.diff(np.append(start, key.size)))


def register(w, ev, rows):
    """Registration day of the plates in ``rows``: their first use minus their lead."""
    plate, day = ev.plate[rows], ev.day[rows]
    first = np.full(w.P["actor"].size, np.iinfo(np.int64).max)
    np.minimum.at(first, plate, day)
    used = np.unique(plate)
    lead = w.P["lead"][used] + w.tau(first[used]) * w.P["lead_drift"][used]
    w.reg_day[used] = first[used] - np.rint(lead).astype(np.int64)


def officer_probability(body, occupants, hour, reg_age, out_of_state, empty_trailer):
    """Legacy officer rules: context only (no plate history), informative but weak."""
    z = (-4.95 + .8 * np.isin(body, (1, 2, 3)) + .7 * (occupants == 1)
         + 1.0 * ((hour >= 22) | (hour < 5)) + .7 * ((reg_age >= 0) & (reg_age < 90))
         + .5 * out_of_state + 1.0 * empty_trailer)
    return 1 / (1 + np.exp(-z))


def officer_cues_probability(cues, body, occupants, hour, weekday, reg_age, mexican_plate,
                             empty_trailer):
    """The ``officer-cues`` variant's officers: vans, Mexican plates, weekend evenings,
    new registrations (:class:`~.variants.OfficerCues` holds the weights)."""
    z = (cues.intercept + cues.van * (body == 3) + cues.mexican_plate * mexican_plate
         + cues.weekend_evening * ((weekday >= 4) & (hour >= 17))
         + cues.new_registration * ((reg_age >= 0) & (reg_age < cues.new_days))
         + cues.lone_driver * (occupants == 1) + cues.empty_trailer * empty_trailer)
    return 1 / (1 + np.exp(-z))


def outcomes(w, ev, rows):
    """Legacy referral, selection probability, inspection and seizure of ``rows``."""
    P, plate = w.P, ev.plate[rows]
    reg_age = np.where(P["reg_known"][plate], ev.day[rows] - w.reg_day[plate], -1)
    out_of_state = ~w.local[ev.port[rows], P["juris"][plate]]
    cues = w.variant.officer
    if cues is None:
        p = officer_probability(P["body"][plate], ev.occ[rows], ev.hour[rows], reg_age,
                                out_of_state, ev.trailer[rows] == 1)
    else:
        p = officer_cues_probability(cues, P["body"][plate], ev.occ[rows], ev.hour[rows],
                                     w.dow[ev.day[rows] + PAD], reg_age,
                                     P["juris"][plate] >= FIRST_MX, ev.trailer[rows] == 1)
    rs, u = w.random_rate[ev.port[rows]], ev.u[rows]
    referral = np.where(u[:, 0] < rs, 1, np.where(u[:, 1] < p, 2, 0))
    referral = np.where(ev.out[rows], referral, -1)
    inspected = referral > 0
    return SimpleNamespace(referral=referral, selection=rs + (1 - rs) * p, inspected=inspected,
                           seized=inspected & ev.carrier[rows] & (u[:, 2] < DETECTION),
                           reg_age=reg_age)


def retire_seized(w, ev):
    """A seized vehicle is gone: the ring's later legs use a fresh plate.

    Referral and detection draws are fixed per row, so alternating 'plates given
    seizures' and 'seizures given plates' settles on what the sequential story
    gives: each pass fixes at least one more seizure of every chain.
    """
    P, g = w.P, GENERATIONS - 1
    ret = np.flatnonzero(np.isin(P["actor"], (STRAW, ANT, FRONT)))
    rep = add_plates(w, np.repeat(P["actor"][ret], g), np.repeat(P["port"][ret], g),
                     np.repeat(P["nat"][ret], g), np.repeat(P["carrier"][ret], g),
                     np.repeat(P["style"][ret], g))
    table = np.column_stack([ret, rep.reshape(ret.size, g)])
    w.reg_day = np.zeros(w.P["actor"].size, np.int64)
    register(w, ev, np.arange(ev.plate.size))
    rows = np.flatnonzero(np.isin(ev.plate, ret))
    rows = rows[np.lexsort((ev.utc[rows], ev.plate[rows]))]
    slot = np.searchsorted(ret, ev.plate[rows])
    gen = np.zeros(rows.size, np.int64)
    for _ in range(10 * GENERATIONS):
        ev.plate[rows] = table[slot, gen]
        register(w, ev, rows)
        new = np.minimum(exclusive_cumsum(slot, outcomes(w, ev, rows).seized), g)
        if np.array_equal(new, gen):
            break
        gen = new
