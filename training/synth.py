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
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

LOG_COLUMNS = (
    "crossing_id", "crossed_at", "direction", "port_code", "vehicle_class", "body_type",
    "plate_id", "plate_jurisdiction", "vehicle_make", "vehicle_model_year",
    "registration_age_days", "occupants", "carrier_id", "trailer_empty",
    "manifest_value_usd", "referral", "selection_probability", "inspected", "seizure",
    "firearms_seized", "rounds_seized", "currency_seized_usd")
TRUTH_COLUMNS = ("crossing_id", "carrier", "actor", "firearms", "rounds", "currency_usd")
#: probability that a secondary inspection finds what a vehicle really carries
DETECTION = 0.85

_BODIES = ("sedan", "suv", "pickup", "van", "motorcycle", "tractor_trailer",
           "box_truck", "bus", "other")
_CLASSES = ("personal", "truck", "bus")
ACTORS = ("commuter", "traveller", "truck", "bus", "straw", "ant", "front")
COMMUTER, TRAVELLER, TRUCK, BUS, STRAW, ANT, FRONT = range(7)
_REFERRALS = ("none", "random", "officer")
# body mix per actor, in _BODIES order
_BODY_MIX = {
    COMMUTER: (.38, .27, .22, .08, .02, 0, 0, 0, .03),
    TRAVELLER: (.33, .29, .24, .09, .02, 0, 0, 0, .03),
    STRAW: (.12, .38, .40, .08, 0, 0, 0, 0, .02),
    ANT: (.38, .26, .22, .10, .01, 0, 0, 0, .03),
    TRUCK: (0, 0, 0, 0, 0, .8, .2, 0, 0),
    FRONT: (0, 0, 0, 0, 0, .8, .2, 0, 0),
    BUS: (0, 0, 0, 0, 0, 0, 0, 1, 0),
}
_MAKES = {
    0: ("Toyota", "Nissan", "Chevrolet", "Ford", "Honda", "Volkswagen", "Hyundai", "Kia", "Mazda"),
    1: ("Chevrolet", "Ford", "Jeep", "Toyota", "Honda", "Nissan", "GMC", "Hyundai", "Kia"),
    2: ("Ford", "Chevrolet", "Ram", "Toyota", "GMC", "Nissan"),
    3: ("Chrysler", "Honda", "Toyota", "Ford", "Mercedes-Benz", "Dodge"),
    4: ("Honda", "Harley-Davidson", "Yamaha", "Kawasaki", "Italika"),
    5: ("Freightliner", "Kenworth", "International", "Volvo", "Peterbilt", "Mack"),
    6: ("Isuzu", "Hino", "Freightliner", "International", "Ford"),
    7: ("MCI", "Prevost", "Volvo", "Irizar", "Mercedes-Benz"),
    8: ("Ford", "Chevrolet", "Polaris", "Dodge"),
}
_US = ("US-TX", "US-NM", "US-AZ", "US-CA", "US-NV", "US-CO", "US-OK", "US-IL", "US-FL",
       "US-UT", "US-WA", "US-GA", "US-NC", "US-NY")
_US_W = (.30, .06, .12, .18, .05, .05, .04, .04, .03, .03, .03, .03, .02, .02)
_MX = ("MX-BCN", "MX-SON", "MX-CHH", "MX-COA", "MX-NLE", "MX-TAM", "MX-SIN", "MX-DUR",
       "MX-JAL", "MX-ZAC", "MX-SLP", "MX-MIC", "MX-CMX", "MX-GUA")
_JURIS = ("", "UNK") + _US + _MX          # code 0 is "not recorded"
_STATES = {"Texas": "US-TX", "New Mexico": "US-NM", "Arizona": "US-AZ", "California": "US-CA"}
# each port's time zone comes from the shipped port table's time_zone column
# (primary, secondary) Mexican state across the line from each port
_MX_ACROSS = {"Texas": ("MX-TAM", "MX-NLE"), "New Mexico": ("MX-CHH", "MX-CHH"),
              "Arizona": ("MX-SON", "MX-SON"), "California": ("MX-BCN", "MX-BCN")}
_MX_ACROSS_PORT = (dict.fromkeys(("2302", "2303", "2410"), ("MX-COA", "MX-COA"))
                   | dict.fromkeys(("2401", "2402", "2403", "2404"), ("MX-CHH", "MX-CHH")))
# relative volume by weekday, Monday first
_COMMUTE_WEEK = (.8, .8, .8, .8, .8, .3, .25)    # probability a commuter crosses that day
_TRAVEL_WEEK = (.85, .8, .8, .85, 1.1, 1.4, 1.3)
_TRUCK_WEEK = (1.2, 1.2, 1.2, 1.2, 1.15, .6, .25)
_PAD = 45                                 # days simulated before the window (long stays)
_GENERATIONS = 16                         # plates a trafficker may burn through


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

    def __post_init__(self):
        if not (isinstance(self.days, int) and self.days >= 1):
            raise ValueError(f"days {self.days!r} is not a positive integer")
        if not self.scale > 0:
            raise ValueError(f"scale {self.scale!r} is not > 0")
        for name in ("carrier_share", "random_share"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} {getattr(self, name)!r} is not in [0, 1)")
        np.datetime64(self.start, "D")   # raises on a date that is not ISO


def _data_dir():
    try:
        import scoring
        return Path(scoring.__file__).parent / "data"
    except ImportError:  # scoring not importable: use the source tree
        return Path(__file__).resolve().parents[1] / "scoring" / "data"


class _World:
    """State of one generation run: calendar, ports, and the growing plate and leg tables."""

    def __init__(self, cfg):
        self.cfg, self.rng = cfg, np.random.default_rng(cfg.seed)
        ports = pd.read_csv(_data_dir() / "sw_border_ports.csv", dtype={"port_code": str})
        monthly = pd.read_csv(_data_dir() / "sw_border_monthly.csv")
        self.codes = ports["port_code"].to_numpy(str)
        state = ports["state"].to_numpy(str)
        self.pv = ports["personal_vehicles_per_month"].to_numpy(float)
        self.tr = ports["trucks_per_month"].to_numpy(float)
        self.bus = ports["buses_per_month"].to_numpy(float)
        self.n_ports = len(ports)
        code = {j: i for i, j in enumerate(_JURIS)}
        self.us_j = np.array([code[_STATES[s]] for s in state])
        across = [_MX_ACROSS_PORT.get(c, _MX_ACROSS[s]) for c, s in zip(self.codes, state)]
        self.mx_j = np.array([[code[a], code[b]] for a, b in across])
        self.zones = tuple(sorted(set(ports["time_zone"])))
        self.tz = np.array([self.zones.index(z) for z in ports["time_zone"]])
        self.local = np.zeros((self.n_ports, len(_JURIS)), bool)   # jurisdictions at home here
        rows = np.arange(self.n_ports)
        self.local[rows, self.us_j] = self.local[rows, self.mx_j[:, 0]] = True
        self.local[rows, self.mx_j[:, 1]] = True
        self.local[:, :2] = True                # an unread plate is not 'out of state'
        self.texas = state == "Texas"
        self._neighbours(ports)
        # calendar over the extended range [-PAD, days + PAD)
        self.start = np.datetime64(cfg.start, "D")
        self.base = self.start.astype("datetime64[s]").astype(np.int64)
        dates = self.start + np.arange(-_PAD, cfg.days + _PAD)
        self.dow = (dates.astype(np.int64) + 3) % 7            # 1970-01-01 was a Thursday
        month = dates.astype("datetime64[M]").astype(np.int64) % 12
        m = monthly[monthly["month"].between("2023-01", "2024-12")]
        cal = m["month"].str[5:].astype(int).to_numpy() - 1
        for name, col in (("season_pv", "personal_vehicles"), ("season_tr", "trucks")):
            by_month = np.bincount(cal, m[col].to_numpy(float), 12) / np.bincount(cal, None, 12)
            setattr(self, name, (by_month / by_month.mean())[month])
        noon = pd.DatetimeIndex(dates.astype("datetime64[s]") + np.timedelta64(12, "h"))
        self.offsets = np.array([
            (noon - noon.tz_localize(z).tz_convert("UTC").tz_localize(None)).total_seconds()
            for z in self.zones]).astype(np.int64)
        self.k = cfg.scale * 12 / 365.25                        # monthly count -> daily, scaled
        self.P = {f: np.empty(0, t) for f, t in (
            ("actor", np.int8), ("port", np.int16), ("nat", np.int8), ("body", np.int8),
            ("juris", np.int8), ("make", np.int16), ("year", np.int16), ("lead", float),
            ("lead_drift", float), ("reg_known", bool), ("carrier", np.int32))}
        self.legs = []

    def _neighbours(self, ports):
        """Three nearest ports with traffic, chosen in proportion to volume, for port switches."""
        lat, lon = ports["latitude"].to_numpy(), ports["longitude"].to_numpy()
        dist = np.hypot(lat[:, None] - lat, (lon[:, None] - lon) * np.cos(np.radians(lat)))
        dist[:, self.pv <= 0] = np.inf
        np.fill_diagonal(dist, np.inf)
        self.near = np.argsort(dist, axis=1, kind="stable")[:, :3]
        w = self.pv[self.near]
        self.near_cum = np.cumsum(w, axis=1) / w.sum(axis=1, keepdims=True)

    def tau(self, day):
        """Position in the period in [0, 1]; fixed at 0.5 without drift."""
        if not self.cfg.drift:
            return np.full(np.shape(day), 0.5)
        return np.clip(np.asarray(day, float) / self.cfg.days, 0, 1)

    def to_utc(self, port, day, hour):
        local = self.base + day * 86400 + np.rint(hour * 3600).astype(np.int64)
        return local - self.offsets[self.tz[port], day + _PAD]

    def switch(self, port, prob):
        """Replace the port by a neighbour with probability ``prob`` (element-wise)."""
        u = self.rng.random(port.size)
        pick = (self.rng.random(port.size)[:, None] > self.near_cum[port]).sum(axis=1)
        return np.where(u < prob, self.near[port, np.minimum(pick, 2)], port)

    def add_plates(self, actor, port, nat, carrier=None):
        """Create vehicles with attributes drawn for their actor; return their indices."""
        rng, n = self.rng, port.size
        actor = np.broadcast_to(np.asarray(actor, np.int8), (n,))
        body = np.zeros(n, np.int8)
        # lead: days from registration to the plate's first crossing in the window
        # (set once first use is known, so a fresh plate looks fresh whenever it appears)
        lead, lead_drift = 60 + rng.exponential(1100, n), np.zeros(n)
        u = rng.random(n)
        for a in np.unique(actor):
            m = actor == a
            body[m] = rng.choice(9, m.sum(), p=_BODY_MIX[a])
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
        pick = rng.random(n)
        us = np.searchsorted(np.cumsum(_US_W) / sum(_US_W), pick, side="right") + 2
        mx = np.where(pick < .55, self.mx_j[port, 0], np.where(
            pick < .75, self.mx_j[port, 1], rng.integers(0, len(_MX), n) + 2 + len(_US)))
        home = rng.random(n) < .8
        juris = np.where(nat == 1, mx, np.where(home, self.us_j[port], us))
        blank = rng.random(n)
        juris = np.where(blank < .03, 0, np.where(blank < .035, 1, juris))
        makes = sorted({m for v in _MAKES.values() for m in v})
        table = np.full((9, 9), -1)
        for b, names in _MAKES.items():
            table[b, :len(names)] = [makes.index(x) for x in names]
        size = np.array([len(_MAKES[b]) for b in range(9)])
        make = table[body, (rng.random(n) * size[body]).astype(int)]
        age = np.floor(rng.gamma(2.0, np.where(body >= 5, 3.5, 4.0))).clip(0, 30)
        year = np.datetime64(self.cfg.start, "Y").astype(int) + 1970 - age
        new = dict(actor=actor, port=port, nat=nat, body=np.where(rng.random(n) < .01, -1, body),
                   juris=juris, make=np.where(rng.random(n) < .02, -1, make),
                   year=np.where(rng.random(n) < .03, -1, year), lead=lead,
                   lead_drift=lead_drift, reg_known=rng.random(n) < np.where(nat == 1, .8, .97),
                   carrier=np.full(n, -1) if carrier is None else carrier)
        first = self.P["actor"].size
        for f, v in new.items():
            self.P[f] = np.concatenate([self.P[f], np.asarray(v).astype(self.P[f].dtype)])
        return np.arange(first, first + n)

    def add_legs(self, plate, utc, port, out, occ, **extra):
        n = plate.size
        leg = dict(plate=plate, utc=utc, port=port, out=np.full(n, out), occ=occ,
                   trailer=np.full(n, -1), manifest=np.full(n, np.nan), carrier=np.zeros(n, bool),
                   firearms=np.zeros(n, np.int64), rounds=np.zeros(n, np.int64),
                   currency=np.zeros(n, np.int64))
        leg.update(extra)
        self.legs.append(leg)

    def round_trip(self, plate, port_a, port_b, day, hour, stay_h, first_out, occ,
                   out_extra=None, in_extra=None):
        """Two legs per trip: the first at ``port_a`` on ``day``/``hour`` local, the
        second ``stay_h`` hours later at ``port_b``; ``first_out`` says which is outbound."""
        t0 = self.to_utc(port_a, day, hour)
        t1 = t0 + np.rint(stay_h * 3600).astype(np.int64)
        self.add_legs(plate, np.where(first_out, t0, t1), np.where(first_out, port_a, port_b),
                      True, occ, **(out_extra or {}))
        self.add_legs(plate, np.where(first_out, t1, t0), np.where(first_out, port_b, port_a),
                      False, occ, **(in_extra or {}))


def _overlapping(key, start, end):
    """Mask of trips that start before an earlier trip of the same key has ended."""
    if key.size == 0:
        return np.zeros(0, bool)
    order = np.lexsort((start, key))
    k, s, e = key[order], start[order] - start.min(), end[order] - start.min()
    span = int(max(e.max(), s.max())) + 1
    prev = np.maximum.accumulate(e + k.astype(np.int64) * span) - k.astype(np.int64) * span
    prev = np.concatenate([[-1], prev[:-1]])
    same = np.concatenate([[False], k[1:] == k[:-1]])
    mask = np.zeros(key.size, bool)
    mask[order] = same & (s < prev)
    return mask


def _exclusive_cumsum(key, x):
    """Per-group count of earlier true ``x``; ``key`` sorted."""
    if key.size == 0:
        return np.zeros(0, np.int64)
    cs = np.cumsum(x) - x
    start = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    return cs - np.repeat(cs[start], np.diff(np.append(start, key.size)))


def _daily_starts(w, per_month, season, week, last_day, first_day=-_PAD):
    """Poisson trip starts per port and day; returns (port, day)."""
    week = np.asarray(week) / np.mean(week)
    lam = per_month[:, None] * w.k * season[None, :] * week[w.dow][None, :]
    days = np.arange(-_PAD, w.cfg.days + _PAD)
    lam[:, (days < first_day) | (days >= last_day)] = 0
    flat = np.repeat(np.arange(lam.size), w.rng.poisson(lam).ravel())
    return flat // lam.shape[1], flat % lam.shape[1] - _PAD


def _commuters(w):
    """Daily round trips at the home port; Mexican residents go north in the morning."""
    rng, days = w.rng, w.cfg.days
    port = np.repeat(np.arange(w.n_ports),
                     np.rint(.55 * w.pv * w.k / np.mean(_COMMUTE_WEEK)).astype(int))
    n = port.size
    mx_res = rng.random(n) < .75
    nat = np.where(mx_res, rng.random(n) < .85, rng.random(n) < .1).astype(np.int8)
    plate = w.add_plates(COMMUTER, port, nat)
    d = np.arange(days)
    q = np.asarray(_COMMUTE_WEEK)[w.dow[d + _PAD]] * w.season_pv[d + _PAD]
    go = rng.random((n, days)) < np.minimum(rng.uniform(.6, 1.4, n)[:, None] * q, .98)
    i, day = np.nonzero(go)
    m = i.size
    occ = np.where(rng.random(m) < .6, 1, rng.integers(2, 5, m))
    w.round_trip(plate[i], port[i], w.switch(port[i], .03), day,
                 rng.normal(7.3, 1.2, m).clip(4.5, 12), rng.normal(9.5, 1.2, m).clip(6, 13),
                 ~mx_res[i], occ)


def _travellers(w):
    """Occasional trips of days to weeks, a few per plate; some same-day shopping trips."""
    rng = w.rng
    port, day = _daily_starts(w, .45 * w.pv, w.season_pv, _TRAVEL_WEEK, w.cfg.days)
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
    clash = _overlapping(local, t0, t0 + (stay * 3600).astype(np.int64))
    local[clash] = pool.sum() + np.arange(clash.sum())
    p_group = np.concatenate([np.repeat(np.arange(2 * w.n_ports), pool), group[clash]])
    p_mx = p_group % 2 == 1
    nat = np.where(p_mx, rng.random(p_mx.size) < .8, rng.random(p_mx.size) < .07)
    plate = w.add_plates(TRAVELLER, p_group // 2, nat.astype(np.int8))[local]
    occ = np.where(rng.random(m) < .3, 1, 2 + rng.poisson(1.0, m)).clip(1, 7)
    w.round_trip(plate, port, w.switch(port, .07), day, hour, stay, ~mx_res, occ)


def _fleet(w, per_month, season, week, per_plate_day, carriers, front_target=0.0):
    """Trucks (carriers given) or buses: round trips by a per-port pool of plates."""
    rng = w.rng
    port, day = _daily_starts(w, per_month, season, week, w.cfg.days, -3)
    m = port.size
    n_pl = np.where(per_month > 0, np.ceil(per_month * w.k / per_plate_day) + 1, 0).astype(int)
    off = np.concatenate([[0], np.cumsum(n_pl)[:-1]])
    local = off[port] + (rng.random(m) * n_pl[port]).astype(int)
    hour = rng.normal(11, 2.5, m).clip(5, 21)
    stay = rng.lognormal(np.log(5 if carriers else 10), .8, m).clip(.5, 72)
    t0 = w.to_utc(port, day, hour)
    clash = _overlapping(local, t0, t0 + (stay * 3600).astype(np.int64))
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
    plate = w.add_plates(actor, p_port, nat.astype(np.int8), carrier)[local]
    occ = np.where(carriers, np.where(rng.random(m) < .9, 1, 2), rng.integers(8, 50, m))
    out_x, in_x = {}, {}
    if carriers:
        is_front = actor[local] == FRONT
        empty_out = rng.random(m) < np.select([front_trip, is_front], [.7, .5], .35)
        value = np.where(front_trip, rng.lognormal(np.log(4000), .7, m),
                         rng.lognormal(np.log(28000), 1.0, m))
        out_x = dict(trailer=empty_out.astype(int), manifest=np.where(empty_out, 0, np.rint(value)),
                     carrier=front_trip, **_loads(rng, front_trip, FRONT))
        empty_in = rng.random(m) < .2
        in_x = dict(trailer=empty_in.astype(int),
                    manifest=np.where(empty_in, 0, np.rint(rng.lognormal(np.log(40000), 1.0, m))))
    w.round_trip(plate, port, port, day, hour, stay, rng.random(m) < .5, occ, out_x, in_x)


def _loads(rng, carry, actor):
    """Contraband carried on carrier trips (zero elsewhere)."""
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


def _rings(w, actor, n, per_day, carry_p):
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
    t0 = w.to_utc(port, day, hour)
    ok = ~_overlapping(ring, t0, t0 + (stay * 3600).astype(np.int64))
    nat = (rng.random(n) < (.08 if straw else .4)).astype(np.int8)
    plate = w.add_plates(actor, early, nat)[ring]
    occ = np.where(rng.random(m) < (.5 if straw else .75), 1, rng.integers(2, 4, m))
    carry = rng.random(m) < carry_p
    out_x = dict(carrier=carry, **_loads(rng, carry, actor))
    w.round_trip(plate[ok], port[ok], exit_port[ok], day[ok], hour[ok], stay[ok],
                 np.zeros(ok.sum(), bool), occ[ok], {k: v[ok] for k, v in out_x.items()})


def _collect(w):
    """All legs as one table, with local time, and only those inside the window."""
    ev = {k: np.concatenate([leg[k] for leg in w.legs]) for k in w.legs[0]}
    w.legs = []
    local = np.empty(ev["utc"].size, np.int64)
    zone = w.tz[ev["port"]]
    for z, name in enumerate(w.zones):
        m = zone == z
        stamps = pd.to_datetime(ev["utc"][m], unit="s", utc=True).tz_convert(name)
        local[m] = stamps.tz_localize(None).values.astype("datetime64[s]").astype(np.int64)
    day = (local - w.base) // 86400
    keep = (day >= 0) & (day < w.cfg.days)
    ev = SimpleNamespace(**{k: v[keep] for k, v in ev.items()})
    ev.local, ev.day = local[keep], day[keep]
    ev.hour = (ev.local % 86400) / 3600
    ev.occ = np.where(w.rng.random(ev.occ.size) < .03, -1, ev.occ)   # not always counted
    ev.u = w.rng.random((ev.utc.size, 3))    # referral and detection draws, fixed per row
    return ev


def _register(w, ev, rows):
    """Registration day of the plates in ``rows``: their first use minus their lead."""
    plate, day = ev.plate[rows], ev.day[rows]
    first = np.full(w.P["actor"].size, np.iinfo(np.int64).max)
    np.minimum.at(first, plate, day)
    used = np.unique(plate)
    lead = w.P["lead"][used] + w.tau(first[used]) * w.P["lead_drift"][used]
    w.reg_day[used] = first[used] - np.rint(lead).astype(np.int64)


def _officer_probability(body, occupants, hour, reg_age, out_of_state, empty_trailer):
    """Legacy officer rules: context only (no plate history), informative but weak."""
    z = (-4.95 + .8 * np.isin(body, (1, 2, 3)) + .7 * (occupants == 1)
         + 1.0 * ((hour >= 22) | (hour < 5)) + .7 * ((reg_age >= 0) & (reg_age < 90))
         + .5 * out_of_state + 1.0 * empty_trailer)
    return 1 / (1 + np.exp(-z))


def _outcomes(w, ev, rows):
    """Legacy referral, selection probability, inspection and seizure of ``rows``."""
    P, plate = w.P, ev.plate[rows]
    reg_age = np.where(P["reg_known"][plate], ev.day[rows] - w.reg_day[plate], -1)
    out_of_state = ~w.local[ev.port[rows], P["juris"][plate]]
    p = _officer_probability(P["body"][plate], ev.occ[rows], ev.hour[rows], reg_age,
                             out_of_state, ev.trailer[rows] == 1)
    rs, u = w.cfg.random_share, ev.u[rows]
    referral = np.where(u[:, 0] < rs, 1, np.where(u[:, 1] < p, 2, 0))
    referral = np.where(ev.out[rows], referral, -1)
    inspected = referral > 0
    return SimpleNamespace(referral=referral, selection=rs + (1 - rs) * p, inspected=inspected,
                           seized=inspected & ev.carrier[rows] & (u[:, 2] < DETECTION),
                           reg_age=reg_age)


def _retire_seized(w, ev):
    """A seized vehicle is gone: the ring's later legs use a fresh plate.

    Referral and detection draws are fixed per row, so alternating 'plates given
    seizures' and 'seizures given plates' settles on what the sequential story
    gives: each pass fixes at least one more seizure of every chain.
    """
    P, g = w.P, _GENERATIONS - 1
    ret = np.flatnonzero(np.isin(P["actor"], (STRAW, ANT, FRONT)))
    rep = w.add_plates(np.repeat(P["actor"][ret], g), np.repeat(P["port"][ret], g),
                       np.repeat(P["nat"][ret], g), np.repeat(P["carrier"][ret], g))
    table = np.column_stack([ret, rep.reshape(ret.size, g)])
    w.reg_day = np.zeros(w.P["actor"].size, np.int64)
    _register(w, ev, np.arange(ev.plate.size))
    rows = np.flatnonzero(np.isin(ev.plate, ret))
    rows = rows[np.lexsort((ev.utc[rows], ev.plate[rows]))]
    slot = np.searchsorted(ret, ev.plate[rows])
    gen = np.zeros(rows.size, np.int64)
    for _ in range(10 * _GENERATIONS):
        ev.plate[rows] = table[slot, gen]
        _register(w, ev, rows)
        new = np.minimum(_exclusive_cumsum(slot, _outcomes(w, ev, rows).seized), g)
        if np.array_equal(new, gen):
            break
        gen = new


def _digits(values, width, prefix, base=10):
    """Fixed-width decimal or hex text of non-negative integers, vectorised."""
    v = np.asarray(values, np.uint64).copy()
    out = np.empty((v.size, width), np.uint8)
    for i in range(width - 1, -1, -1):
        out[:, i] = v % base
        v //= base
    chars = np.frombuffer(b"0123456789abcdef", np.uint8)[out]
    return np.strings.add(prefix, chars.view(f"S{width}").ravel().astype(str))


def _ints(values, missing):
    return np.where(missing, "", np.asarray(values).astype(np.int64).astype(str))


def _bools(values, missing):
    return np.where(missing, "", np.where(values, "true", "false"))


def _plate_ids(w, plate):
    """Pseudonymous plate ids: a keyed bijective mix of the plate index (no collisions)."""
    mask = np.uint64((1 << 40) - 1)
    a, b, c = (np.uint64(x) | np.uint64(1) for x in w.rng.integers(1, 1 << 40, 3))
    used, inv = np.unique(plate, return_inverse=True)
    x = (used.astype(np.uint64) * a + b) & mask
    x ^= x >> np.uint64(19)
    x = (x * c) & mask
    x ^= x >> np.uint64(21)
    return _digits(x, 10, "P", 16)[inv]


def _frames(w, ev, res):
    """The log in the contract's text forms, sorted by time, and the truth of outbound rows."""
    order = np.argsort(ev.utc, kind="stable")
    ev = SimpleNamespace(**{k: v[order] for k, v in vars(ev).items()})
    res = SimpleNamespace(**{k: v[order] for k, v in vars(res).items()})
    P, plate, n = w.P, ev.plate, ev.plate.size
    ids = _digits(np.arange(1, n + 1), max(7, len(str(n))), "X")
    offset, inv = np.unique((ev.local - ev.utc) // 60, return_inverse=True)
    offset = np.array([f"{'+' if o >= 0 else '-'}{abs(o) // 60:02d}:{abs(o) % 60:02d}"
                       for o in offset], dtype=str)[inv]
    stamp = np.datetime_as_string(ev.local.astype("datetime64[s]"), unit="s")
    makes = np.array(sorted({m for v in _MAKES.values() for m in v}) + [""])
    n_car = int(P["carrier"].max()) + 1
    car_ids = np.append(_digits(w.rng.choice(900000, max(n_car, 0), replace=False) + 100000,
                                6, "C"), "")
    sel, sinv = np.unique(res.selection, return_inverse=True)
    sel = np.array([f"{x:.6g}" for x in sel], dtype=str)[sinv]
    inbound, insp, seized = ~ev.out, res.inspected, res.seized
    columns = {
        "crossing_id": lambda: ids,
        "crossed_at": lambda: np.strings.add(stamp, offset),
        "direction": lambda: np.where(ev.out, "outbound", "inbound"),
        "port_code": lambda: w.codes[ev.port],
        "vehicle_class": lambda: np.array(_CLASSES)[np.select(
            [np.isin(P["actor"][plate], (TRUCK, FRONT)), P["actor"][plate] == BUS], [1, 2], 0)],
        "body_type": lambda: np.array(_BODIES + ("",))[P["body"][plate]],
        "plate_id": lambda: _plate_ids(w, plate),
        "plate_jurisdiction": lambda: np.array(_JURIS)[P["juris"][plate]],
        "vehicle_make": lambda: makes[P["make"][plate]],
        "vehicle_model_year": lambda: _ints(P["year"][plate], P["year"][plate] < 0),
        "registration_age_days": lambda: _ints(res.reg_age, res.reg_age < 0),
        "occupants": lambda: _ints(ev.occ, ev.occ < 1),
        "carrier_id": lambda: car_ids[P["carrier"][plate]],
        "trailer_empty": lambda: _bools(ev.trailer == 1, ev.trailer < 0),
        "manifest_value_usd": lambda: _ints(np.nan_to_num(ev.manifest), np.isnan(ev.manifest)),
        "referral": lambda: np.array(_REFERRALS + ("",))[res.referral],
        "selection_probability": lambda: np.where(inbound, "", sel),
        "inspected": lambda: _bools(insp, inbound),
        "seizure": lambda: _bools(seized, ~insp),
        "firearms_seized": lambda: _ints(np.where(seized, ev.firearms, 0), ~insp),
        "rounds_seized": lambda: _ints(np.where(seized, ev.rounds, 0), ~insp),
        "currency_seized_usd": lambda: _ints(np.where(seized, ev.currency, 0), ~insp),
    }
    # each column becomes compact Arrow text as soon as it is built, so the wide
    # numpy string arrays never all exist together (1M rows stay well under 3 GiB)
    log = pd.DataFrame({k: pd.array(make(), dtype="str") for k, make in columns.items()})

    out = ev.out
    truth = pd.DataFrame({
        "crossing_id": ids[out], "carrier": ev.carrier[out],
        "actor": np.array(ACTORS)[P["actor"][plate[out]]],
        "firearms": ev.firearms[out], "rounds": ev.rounds[out], "currency_usd": ev.currency[out]})
    return log, truth


def generate_world(config: WorldConfig = WorldConfig()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate the crossing log of all US-Mexico land ports and its latent truth.

    Parameters
    ----------
    config : WorldConfig
        Period, seed, volume scale, trafficking share, legacy random share, drift.

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
    >>> log, truth = generate_world(WorldConfig(days=7, scale=0.001))
    >>> list(log.columns) == list(LOG_COLUMNS)
    True
    """
    w, days = _World(config), config.days
    _commuters(w)
    _travellers(w)
    window = slice(_PAD, _PAD + days)
    expected_out = w.k * ((w.pv.sum() + w.bus.sum()) * w.season_pv[window]
                          + w.tr.sum() * w.season_tr[window]).sum()
    target = config.carrier_share * expected_out       # carrier crossings wanted
    _fleet(w, w.tr, w.season_tr, _TRUCK_WEEK, .6, True, .2 * target)
    _fleet(w, w.bus, w.season_pv, _TRAVEL_WEEK, .4, False)
    for actor, share, per_day, carry in ((ANT, .45, 2.5 / 7, .65), (STRAW, .35, 1 / 8, .9)):
        n = 1.15 * share * target / (per_day * days * carry)   # ~15% of runs fall off the edges
        _rings(w, actor, int(max(1, round(n))) if target > 0 else 0, per_day, carry)
    ev = _collect(w)
    _retire_seized(w, ev)
    return _frames(w, ev, _outcomes(w, ev, np.arange(ev.plate.size)))


def write_world(log: pd.DataFrame, truth: pd.DataFrame, out: str | Path) -> tuple[Path, Path]:
    """Write the log to ``out`` and the truth beside it as ``<stem>.truth.csv``.

    Parameters
    ----------
    log, truth : DataFrame
        As returned by :func:`generate_world`.
    out : str or Path
        CSV, or Parquet when the suffix is ``.parquet`` (text columns, empty
        cells as nulls).

    Returns
    -------
    (log_path, truth_path) : tuple of Path
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".parquet":
        log.mask(log == "").to_parquet(out, index=False)
    else:
        log.to_csv(out, index=False, lineterminator="\n")
    truth_path = out.with_name(out.stem + ".truth.csv")
    truth.assign(carrier=np.where(truth["carrier"], "true", "false")).to_csv(
        truth_path, index=False, lineterminator="\n")
    return out, truth_path


def summarize(log: pd.DataFrame, truth: pd.DataFrame) -> dict:
    """Headline figures of a world: volumes, carrier share, legacy policy and its hit rates.

    Parameters
    ----------
    log, truth : DataFrame
        As returned by :func:`generate_world`, or read back from its files.

    Returns
    -------
    dict
        Counts, shares and hit rates (seizures / inspected) by referral reason.
    """
    out = log[log["direction"] == "outbound"]
    truth = truth.assign(carrier=truth["carrier"].astype(str).str.lower().isin(("true", "1")))
    carrier = out["crossing_id"].map(truth.set_index("crossing_id")["carrier"]).eq(True)
    insp, seized = out["inspected"] == "true", out["seizure"] == "true"

    def hit(mask):
        return float(seized[mask].sum() / max(mask.sum(), 1))

    random, officer = insp & (out["referral"] == "random"), insp & (out["referral"] == "officer")
    n_out = len(out)
    return {
        "rows": len(log), "outbound": n_out, "inbound": len(log) - n_out,
        "busiest_ports": log["port_code"].value_counts().index[:5].tolist(),
        "carrier_share": float(carrier.mean()),
        "carriers_by_actor": truth.loc[truth["carrier"], "actor"].value_counts().to_dict(),
        "inspected_share": float(insp.mean()),
        "random_referrals": int(random.sum()), "officer_referrals": int(officer.sum()),
        "seizures": int(seized.sum()),
        "hit_rate": hit(insp), "hit_rate_random": hit(random), "hit_rate_officer": hit(officer),
        "carriers_seized_share": float(seized[carrier].mean()) if carrier.any() else 0.0,
    }
