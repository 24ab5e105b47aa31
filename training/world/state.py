"""One generation run's state: calendar, ports, and the growing plate and leg tables."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from .tables import JURIS, MX_ACROSS, MX_ACROSS_PORT, PAD, STATES
from .variants import get_variant


def data_dir():
    """The shipped port tables (``scoring/data``)."""
    try:
        import scoring
        return Path(scoring.__file__).parent / "data"
    except ImportError:  # scoring not importable: use the source tree
        return Path(__file__).resolve().parents[2] / "scoring" / "data"


def overlapping(key, start, end):
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


class World:
    """State of one generation run: calendar, ports, and the growing plate and leg tables."""

    def __init__(self, cfg):
        index, count = cfg.shard
        # a shard has draws of its own; the one world of a seed keeps its stream
        self.cfg = cfg
        self.rng = np.random.default_rng(cfg.seed if count == 1 else [cfg.seed, index, count])
        #: put after each id's letter, so that the ids of shards, and of worlds, never meet
        self.id_prefix = ("" if count == 1 else f"{index:04d}") + cfg.id_tag()
        self.variant = get_variant(cfg.variant)
        ports = pd.read_csv(data_dir() / "sw_border_ports.csv", dtype={"port_code": str})
        monthly = pd.read_csv(data_dir() / "sw_border_monthly.csv")
        self.codes = ports["port_code"].to_numpy(str)
        state = ports["state"].to_numpy(str)
        self.pv = ports["personal_vehicles_per_month"].to_numpy(float)
        self.tr = ports["trucks_per_month"].to_numpy(float)
        self.bus = ports["buses_per_month"].to_numpy(float)
        self.n_ports = len(ports)
        code = {j: i for i, j in enumerate(JURIS)}
        self.us_j = np.array([code[STATES[s]] for s in state])
        across = [MX_ACROSS_PORT.get(c, MX_ACROSS[s]) for c, s in zip(self.codes, state)]
        self.mx_j = np.array([[code[a], code[b]] for a, b in across])
        self.zones = tuple(sorted(set(ports["time_zone"])))
        self.tz = np.array([self.zones.index(z) for z in ports["time_zone"]])
        self.local = np.zeros((self.n_ports, len(JURIS)), bool)   # jurisdictions at home here
        rows = np.arange(self.n_ports)
        self.local[rows, self.us_j] = self.local[rows, self.mx_j[:, 0]] = True
        self.local[rows, self.mx_j[:, 1]] = True
        self.local[:, :2] = True                # an unread plate is not 'out of state'
        self.texas = state == "Texas"
        self._neighbours(ports)
        # calendar over the extended range [-PAD, days + PAD)
        self.start = np.datetime64(cfg.start, "D")
        self.base = self.start.astype("datetime64[s]").astype(np.int64)
        dates = self.start + np.arange(-PAD, cfg.days + PAD)
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
        self.k = cfg.scale / count * 12 / 365.25               # monthly count -> daily, scaled
        self.P = {f: np.empty(0, t) for f, t in (
            ("actor", np.int8), ("port", np.int16), ("nat", np.int8), ("body", np.int8),
            ("juris", np.int8), ("make", np.int16), ("year", np.int16), ("lead", float),
            ("lead_drift", float), ("reg_known", bool), ("carrier", np.int32),
            ("style", np.int8))}                                # 1: a vehicle of shifted tactics
        self.legs = []
        self.random_rate = np.full(self.n_ports, cfg.random_share)
        if self.variant.officer is not None:   # its own stream: the world's draws stay put
            cues = self.variant.officer
            rates = np.random.default_rng([cfg.seed, cues.rates_salt])
            self.random_rate = rates.uniform(*cues.random_rates, self.n_ports)

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
        return local - self.offsets[self.tz[port], day + PAD]

    def switch(self, port, prob):
        """Replace the port by a neighbour with probability ``prob`` (element-wise)."""
        u = self.rng.random(port.size)
        pick = (self.rng.random(port.size)[:, None] > self.near_cum[port]).sum(axis=1)
        return np.where(u < prob, self.near[port, np.minimum(pick, 2)], port)

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

    def collect(self):
        """All legs as one table of events, with local time, and only those inside the window."""
        ev = {k: np.concatenate([leg[k] for leg in self.legs]) for k in self.legs[0]}
        self.legs = []
        local = np.empty(ev["utc"].size, np.int64)
        zone = self.tz[ev["port"]]
        for z, name in enumerate(self.zones):
            m = zone == z
            stamps = pd.to_datetime(ev["utc"][m], unit="s", utc=True).tz_convert(name)
            local[m] = stamps.tz_localize(None).values.astype("datetime64[s]").astype(np.int64)
        day = (local - self.base) // 86400
        keep = (day >= 0) & (day < self.cfg.days)
        ev = SimpleNamespace(**{k: v[keep] for k, v in ev.items()})
        ev.local, ev.day = local[keep], day[keep]
        ev.hour = (ev.local % 86400) / 3600
        ev.occ = np.where(self.rng.random(ev.occ.size) < .03, -1, ev.occ)   # not always counted
        ev.u = self.rng.random((ev.utc.size, 3))    # referral and detection draws, fixed per row
        return ev
