"""Innocent traffic: commuters, occasional travellers, trucks (with front carriers) and buses."""
from __future__ import annotations

import numpy as np

from .plates import add_plates
from .rings import loads
from .state import overlapping
from .tables import BUS, COMMUTE_WEEK, COMMUTER, FRONT, PAD, TRAVEL_WEEK, TRAVELLER, TRUCK


def daily_starts(w, per_month, season, week, last_day, first_day=-PAD):
    """Poisson trip starts per port and day; returns (port, day)."""
    week = np.asarray(week) / np.mean(week)
    lam = per_month[:, None] * w.k * season[None, :] * week[w.dow][None, :]
    days = np.arange(-PAD, w.cfg.days + PAD)
    lam[:, (days < first_day) | (days >= last_day)] = 0
    flat = np.repeat(np.arange(lam.size), w.rng.poisson(lam).ravel())
    return flat // lam.shape[1], flat % lam.shape[1] - PAD


def commuters(w):
    """Daily round trips at the home port; Mexican residents go north in the morning."""
    rng, days = w.rng, w.cfg.days
    port = np.repeat(np.arange(w.n_ports),
                     np.rint(.55 * w.pv * w.k / np.mean(COMMUTE_WEEK)).astype(int))
    n = port.size
    mx_res = rng.random(n) < .75
    nat = np.where(mx_res, rng.random(n) < .85, rng.random(n) < .1).astype(np.int8)
    plate = add_plates(w, COMMUTER, port, nat)
    d = np.arange(days)
    q = np.asarray(COMMUTE_WEEK)[w.dow[d + PAD]] * w.season_pv[d + PAD]
    go = rng.random((n, days)) < np.minimum(rng.uniform(.6, 1.4, n)[:, None] * q, .98)
    i, day = np.nonzero(go)
    m = i.size
    occ = np.where(rng.random(m) < .6, 1, rng.integers(2, 5, m))
    w.round_trip(plate[i], port[i], w.switch(port[i], .03), day,
                 rng.normal(7.3, 1.2, m).clip(4.5, 12), rng.normal(9.5, 1.2, m).clip(6, 13),
                 ~mx_res[i], occ)


def travellers(w):
    """Occasional trips of days to weeks, a few per plate; some same-day shopping trips."""
    rng = w.rng
    port, day = daily_starts(w, .45 * w.pv, w.season_pv, TRAVEL_WEEK, w.cfg.days)
    m = port.size
    mx_res = rng.random(m) < .55
    kind = rng.choice(3, m, p=(.35, .35, .30))
    stay = np.select([kind == 0, kind == 1], [rng.lognormal(np.log(3.5), .5, m).clip(.5, 12),
                     rng.uniform(24, 120, m)], rng.lognormal(np.log(216), .6, m))
    hour = np.where(kind == 0, rng.normal(11, 3, m).clip(5, 20), rng.normal(13, 4.5, m) % 24)
    group = port * 2 + mx_res
    counts = np.bincount(group, minlength=2 * w.n_ports)
    pool = np.ceil(counts / 1.7).astype(int)
    offset = np.concatenate([[0], np.cumsum(pool)[:-1]])
    local = offset[group] + (pool[group] * rng.random(m) ** 1.6).astype(int)
    t0 = w.to_utc(port, day, hour)
    clash = overlapping(local, t0, t0 + (stay * 3600).astype(np.int64))
    local[clash] = pool.sum() + np.arange(clash.sum())
    p_group = np.concatenate([np.repeat(np.arange(2 * w.n_ports), pool), group[clash]])
    p_mx = p_group % 2 == 1
    nat = np.where(p_mx, rng.random(p_mx.size) < .8, rng.random(p_mx.size) < .07)
    plate = add_plates(w, TRAVELLER, p_group // 2, nat.astype(np.int8))[local]
    occ = np.where(rng.random(m) < .3, 1, 2 + rng.poisson(1.0, m)).clip(1, 7)
    w.round_trip(plate, port, w.switch(port, .07), day, hour, stay, ~mx_res, occ)


def fleet(w, per_month, season, week, per_plate_day, carriers, front_target=0.0):
    """Trucks (carriers given) or buses: round trips by a per-port pool of plates.

    With ``carriers``, some motor carriers are fronts: enough of them are chosen for
    about ``front_target`` loaded outbound trips over the period.
    """
    rng = w.rng
    port, day = daily_starts(w, per_month, season, week, w.cfg.days, -3)
    m = port.size
    n_pl = np.where(per_month > 0, np.ceil(per_month * w.k / per_plate_day) + 1, 0).astype(int)
    off = np.concatenate([[0], np.cumsum(n_pl)[:-1]])
    local = off[port] + (rng.random(m) * n_pl[port]).astype(int)
    hour = rng.normal(11, 2.5, m).clip(5, 21)
    stay = rng.lognormal(np.log(5 if carriers else 10), .8, m).clip(.5, 72)
    t0 = w.to_utc(port, day, hour)
    clash = overlapping(local, t0, t0 + (stay * 3600).astype(np.int64))
    p_port = np.repeat(np.arange(w.n_ports), n_pl)
    origin = local[clash]
    local[clash] = p_port.size + np.arange(clash.sum())
    p_port = np.concatenate([p_port, port[clash]])
    actor = np.full(p_port.size, BUS, np.int8)
    carrier, front_trip = None, np.zeros(m, bool)
    if carriers:
        n_car = np.ceil(n_pl / 5).astype(int)
        c_off = np.concatenate([[0], np.cumsum(n_car)[:-1]])
        base = np.repeat(np.arange(w.n_ports), n_pl)
        carrier = c_off[base] + (n_car[base] * rng.random(base.size) ** 1.5).astype(int)
        carrier = np.concatenate([carrier, carrier[origin]])   # a spare truck, same carrier
        trips = np.bincount(carrier[local], minlength=n_car.sum())
        order = rng.permutation(n_car.sum())
        cum = np.cumsum(trips[order])
        k = np.searchsorted(cum, front_target / .3) + 1
        chosen = order[:k]
        # carriers are lumpy: the share of loaded trips absorbs the overshoot
        share = np.clip(front_target / max(cum[min(k, cum.size) - 1], 1), .1, .5)
        front = np.isin(carrier, chosen) if front_target > 0 else np.zeros(carrier.size, bool)
        actor = np.where(front, FRONT, TRUCK).astype(np.int8)
        c_mx = rng.random(n_car.sum()) < .6
        nat = np.where(c_mx[carrier], rng.random(carrier.size) < .95, rng.random(carrier.size) < .05)
        front_trip = front[local] & (rng.random(m) < share)
    else:
        nat = rng.random(p_port.size) < .7
    plate = add_plates(w, actor, p_port, nat.astype(np.int8), carrier)[local]
    occ = np.where(carriers, np.where(rng.random(m) < .9, 1, 2), rng.integers(8, 50, m))
    out_x, in_x = {}, {}
    if carriers:
        is_front = actor[local] == FRONT
        empty_out = rng.random(m) < np.select([front_trip, is_front], [.7, .5], .35)
        value = np.where(front_trip, rng.lognormal(np.log(4000), .7, m),
                         rng.lognormal(np.log(28000), 1.0, m))
        out_x = dict(trailer=empty_out.astype(int), manifest=np.where(empty_out, 0, np.rint(value)),
                     carrier=front_trip, **loads(rng, front_trip, FRONT))
        empty_in = rng.random(m) < .2
        in_x = dict(trailer=empty_in.astype(int),
                    manifest=np.where(empty_in, 0, np.rint(rng.lognormal(np.log(40000), 1.0, m))))
    w.round_trip(plate, port, port, day, hour, stay, rng.random(m) < .5, occ, out_x, in_x)
