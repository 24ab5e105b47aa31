"""Trafficking: straw-purchase and "ant" rings' runs, and what carriers carry."""
from __future__ import annotations

import numpy as np

from .plates import add_plates
from .state import overlapping
from .tables import ANT, STRAW


def loads(rng, carry, actor):
    """Contraband carried on carrier trips (zero elsewhere): firearms, rounds, currency."""
    n = carry.size
    u, extra = rng.random(n), rng.random(n)
    if actor == STRAW:
        guns, rounds, cash = rng.integers(5, 31, n), np.where(extra < .7, rng.integers(500, 5001, n), 0), 0
    elif actor == ANT:
        guns = np.where(u < .4, rng.integers(1, 4, n), 0)
        rounds = np.where((u >= .4) & (u < .8) | (u < .4) & (extra < .2), rng.integers(100, 801, n), 0)
        cash = np.where(u >= .8, rng.integers(3, 26, n) * 1000, 0)
    else:
        guns = np.where(u < .5, rng.integers(5, 41, n), 0)
        rounds = np.where((u < .5) & (extra < .7), rng.integers(1000, 20001, n), 0)
        cash = np.where(u >= .5, rng.integers(20, 301, n) * 1000, 0)
    z = np.zeros(n, np.int64)
    return dict(firearms=np.where(carry, guns, z), rounds=np.where(carry, rounds, z),
                currency=np.where(carry, cash, z))


def rings(w, actor, n, per_day, carry_p):
    """Trafficker runs: enter from Mexico, leave again after a turnaround, often carrying."""
    if n == 0:
        return
    rng, days = w.rng, w.cfg.days
    straw = actor == STRAW
    a, b = (1.3, -.6) if straw else (.7, .6)          # activity shifts from straw to ants
    top = max(a, a + b)
    ring = np.repeat(np.arange(n), rng.poisson(per_day * top * (days + 3), n))
    t = rng.uniform(-3, days, ring.size)
    keep = rng.random(ring.size) < (a + b * w.tau(t)) / top
    ring, t = ring[keep], t[keep]
    order = np.lexsort((t, ring))
    ring, day = ring[order], np.floor(t[order]).astype(int)
    m, tau = ring.size, w.tau(day)
    # ports drift from Texas towards Arizona and California
    tx = np.where(w.texas, 1.6, .6) * w.pv
    early = rng.choice(w.n_ports, n, p=tx / tx.sum())
    late = rng.choice(w.n_ports, n, p=(2.2 * w.pv - tx) / (2.2 * w.pv - tx).sum())
    port = np.where(rng.random(m) < tau, late[ring], early[ring])
    night = rng.random(m) < .25
    hour = np.where(night, rng.normal(20, 2, m), rng.normal(12 if straw else 10, 3, m)).clip(0, 23.9)
    quick = rng.random(m) < (.75 if straw else .85)
    median = (3.5 if straw else 2.0) * (1 + tau)        # turnarounds lengthen as rings adapt
    stay = np.where(quick, rng.lognormal(np.log(median), .5, m),
                    rng.uniform(20, 96, m) if straw else rng.uniform(10, 30, m))
    exit_port = w.switch(port, (.25 if straw else .15) + .3 * tau)
    shift = w.variant.tactics
    if shift is not None:
        after = day >= round(shift.at * days)
        port, hour, stay, exit_port = _shifted_runs(w, shift, n, ring, after,
                                                    (port, hour, stay, exit_port))
    t0 = w.to_utc(port, day, hour)
    ok = ~overlapping(ring, t0, t0 + (stay * 3600).astype(np.int64))
    nat = (rng.random(n) < (.08 if straw else .4)).astype(np.int8)
    plate = add_plates(w, actor, early, nat)[ring]
    occ = np.where(rng.random(m) < (.5 if straw else .75), 1, rng.integers(2, 4, m))
    if shift is not None:   # the ring changes vehicles and takes passengers along
        nat = (rng.random(n) < shift.mx_plates).astype(np.int8)
        plate = np.where(after, add_plates(w, actor, early, nat, style=1)[ring], plate)
        occ = np.where(after, np.where(rng.random(m) < shift.lone, 1,
                                       rng.integers(*shift.occupants, m)), occ)
    carry = rng.random(m) < carry_p
    out_x = dict(carrier=carry, **loads(rng, carry, actor))
    w.round_trip(plate[ok], port[ok], exit_port[ok], day[ok], hour[ok], stay[ok],
                 np.zeros(ok.sum(), bool), occ[ok], {k: v[ok] for k, v in out_x.items()})
    if w.variant.convoys is not None:
        _convoys(w, w.variant.convoys, actor, n, early, ring, ok,
                 (port, exit_port, day, hour, stay))


def _shifted_runs(w, shift, n, ring, after, runs):
    """Ports, hours, turnarounds and exit ports of the runs ``after`` the tactics shift."""
    rng, m = w.rng, ring.size
    port, hour, stay, exit_port = runs
    weight = w.pv ** shift.port_power
    moved = rng.choice(w.n_ports, n, p=weight / weight.sum())[ring]
    small_hours = rng.random(m) < shift.early_hours
    new_hour = np.where(small_hours, rng.normal(shift.early_mean, 1, m),
                        rng.normal(shift.day_mean, 2, m)).clip(0, 23.9)
    new_stay = np.where(rng.random(m) < shift.quick,
                        rng.lognormal(np.log(shift.quick_hours), .5, m),
                        rng.uniform(*shift.long_hours, m))
    new_exit = w.switch(moved, np.full(m, shift.switch))
    return (np.where(after, moved, port), np.where(after, new_hour, hour),
            np.where(after, new_stay, stay), np.where(after, new_exit, exit_port))


def _convoys(w, convoys, actor, n, early, ring, ok, runs):
    """Companions of convoy runs: other plates of the ring, minutes behind the lead."""
    rng = w.rng
    port, exit_port, day, hour, stay = runs
    uses = rng.random(n) < convoys.ring_share
    size = rng.integers(convoys.sizes[0], convoys.sizes[1] + 1, n)
    for k in range(1, convoys.sizes[1]):          # k-th companion of each convoy ring
        crew = uses & (size > k)
        mate = np.full(n, -1)
        mate[crew] = add_plates(w, actor, early[crew],
                                (rng.random(crew.sum()) < (.08 if actor == STRAW else .4))
                                .astype(np.int8))
        go = ok & crew[ring] & (rng.random(ring.size) < convoys.run_share)
        lag = rng.uniform(*convoys.gap_minutes, go.sum()) / 60
        carry = rng.random(go.sum()) < convoys.companion_carry
        out_x = dict(carrier=carry, **loads(rng, carry, actor))
        occupants = np.where(rng.random(go.sum()) < .7, 1, rng.integers(2, 4, go.sum()))
        w.round_trip(mate[ring[go]], port[go], exit_port[go], day[go], hour[go] + lag,
                     stay[go], np.zeros(go.sum(), bool), occupants, out_x)


def convoy_legs(convoys, carry_p):
    """Carrying legs per ring run with convoys, relative to one without (for the ring count)."""
    if convoys is None:
        return 1.0
    companions = (convoys.sizes[0] + convoys.sizes[1]) / 2 - 1
    extra = convoys.ring_share * convoys.run_share * companions * convoys.companion_carry
    return 1 + extra / carry_p
