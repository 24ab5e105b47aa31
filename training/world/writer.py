"""The world as the contract's files: text forms, the log and truth files, headline figures."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from .tables import ACTORS, BODIES, BUS, CLASSES, FRONT, JURIS, MAKE_NAMES, REFERRALS, TRUCK


def digits(values, width, prefix, base=10):
    """Fixed-width decimal or hex text of non-negative integers, vectorised."""
    v = np.asarray(values, np.uint64).copy()
    out = np.empty((v.size, width), np.uint8)
    for i in range(width - 1, -1, -1):
        out[:, i] = v % base
        v //= base
    chars = np.frombuffer(b"0123456789abcdef", np.uint8)[out]
    return np.strings.add(prefix, chars.view(f"S{width}").ravel().astype(str))


def ints(values, missing):
    return np.where(missing, "", np.asarray(values).astype(np.int64).astype(str))


def bools(values, missing):
    return np.where(missing, "", np.where(values, "true", "false"))


def plate_ids(w, plate):
    """Pseudonymous plate ids: a keyed bijective mix of the plate index (no collisions)."""
    mask = np.uint64((1 << 40) - 1)
    a, b, c = (np.uint64(x) | np.uint64(1) for x in w.rng.integers(1, 1 << 40, 3))
    used, inv = np.unique(plate, return_inverse=True)
    x = (used.astype(np.uint64) * a + b) & mask
    x ^= x >> np.uint64(19)
    x = (x * c) & mask
    x ^= x >> np.uint64(21)
    return digits(x, 10, "P" + w.id_prefix, 16)[inv]


def stamps(w, ev):
    """``crossed_at`` text: local time and offset, or UTC and ``Z`` at the variant's UTC ports."""
    offset, inv = np.unique((ev.local - ev.utc) // 60, return_inverse=True)
    offset = np.array([f"{'+' if o >= 0 else '-'}{abs(o) // 60:02d}:{abs(o) % 60:02d}"
                       for o in offset], dtype=str)[inv]
    stamp = np.datetime_as_string(ev.local.astype("datetime64[s]"), unit="s")
    if w.variant.utc_ports:
        utc = np.isin(w.codes[ev.port], w.variant.utc_ports)
        stamp[utc] = np.datetime_as_string(ev.utc[utc].astype("datetime64[s]"), unit="s")
        offset = np.where(utc, "Z", offset)
    return np.strings.add(stamp, offset)


def frames(w, ev, res):
    """The log in the contract's text forms, sorted by time, and the truth of outbound rows."""
    order = np.argsort(ev.utc, kind="stable")
    ev = SimpleNamespace(**{k: v[order] for k, v in vars(ev).items()})
    res = SimpleNamespace(**{k: v[order] for k, v in vars(res).items()})
    P, plate, n = w.P, ev.plate, ev.plate.size
    ids = digits(np.arange(1, n + 1), max(7, len(str(n))), "X" + w.id_prefix)
    makes = np.array(MAKE_NAMES + ("",))
    n_car = int(P["carrier"].max()) + 1
    car_ids = np.append(digits(w.rng.choice(900000, max(n_car, 0), replace=False) + 100000,
                                6, "C" + w.id_prefix), "")
    sel, sinv = np.unique(res.selection, return_inverse=True)
    sel = np.array([f"{x:.6g}" for x in sel], dtype=str)[sinv]
    inbound, insp, seized = ~ev.out, res.inspected, res.seized
    cues = w.variant.officer
    unknown = inbound if cues is None or cues.officer_probability_known else (
        inbound | (res.referral == REFERRALS.index("officer")))
    columns = {
        "crossing_id": lambda: ids,
        "crossed_at": lambda: stamps(w, ev),
        "direction": lambda: np.where(ev.out, "outbound", "inbound"),
        "port_code": lambda: w.codes[ev.port],
        "vehicle_class": lambda: np.array(CLASSES)[np.select(
            [np.isin(P["actor"][plate], (TRUCK, FRONT)), P["actor"][plate] == BUS], [1, 2], 0)],
        "body_type": lambda: np.array(BODIES + ("",))[P["body"][plate]],
        "plate_id": lambda: plate_ids(w, plate),
        "plate_jurisdiction": lambda: np.array(JURIS)[P["juris"][plate]],
        "vehicle_make": lambda: makes[P["make"][plate]],
        "vehicle_model_year": lambda: ints(P["year"][plate], P["year"][plate] < 0),
        "registration_age_days": lambda: ints(res.reg_age, res.reg_age < 0),
        "occupants": lambda: ints(ev.occ, ev.occ < 1),
        "carrier_id": lambda: car_ids[P["carrier"][plate]],
        "trailer_empty": lambda: bools(ev.trailer == 1, ev.trailer < 0),
        "manifest_value_usd": lambda: ints(np.nan_to_num(ev.manifest), np.isnan(ev.manifest)),
        "referral": lambda: np.array(REFERRALS + ("",))[res.referral],
        "selection_probability": lambda: np.where(unknown, "", sel),
        "inspected": lambda: bools(insp, inbound),
        "seizure": lambda: bools(seized, ~insp),
        "firearms_seized": lambda: ints(np.where(seized, ev.firearms, 0), ~insp),
        "rounds_seized": lambda: ints(np.where(seized, ev.rounds, 0), ~insp),
        "currency_seized_usd": lambda: ints(np.where(seized, ev.currency, 0), ~insp),
    }
    # each column becomes compact Arrow text as soon as it is built, so the wide
    # numpy string arrays never all exist together (1M rows stay well under 3 GiB)
    absent = dict(w.variant.missing)   # columns a variant's ports do not export

    def text(name, make):
        values = make()
        if name in absent:
            values = np.where(np.isin(w.codes[ev.port], absent[name]), "", values)
        return pd.array(values, dtype="str")

    log = pd.DataFrame({k: text(k, make) for k, make in columns.items()})

    out = ev.out
    truth = pd.DataFrame({
        "crossing_id": ids[out], "carrier": ev.carrier[out],
        "actor": np.array(ACTORS)[P["actor"][plate[out]]],
        "firearms": ev.firearms[out], "rounds": ev.rounds[out], "currency_usd": ev.currency[out]})
    return log, truth


def _to_parquet(log, path):
    """The log's text columns as Parquet, empty cells as nulls."""
    log.mask(log == "").to_parquet(path, index=False)


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
        _to_parquet(log, out)
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


#: rows a world yields per day and unit of ``scale`` (the default world; for sizing shards)
ROWS_PER_SCALE_DAY = 456_000


def write_dataset(config, out, rows_per_shard=1_000_000, progress=lambda message: None):
    """Write a world too large for memory as a Parquet dataset, one shard at a time.

    The world at ``config.scale`` is made of ``count`` shards: independent worlds each
    at ``scale / count`` (:attr:`WorldConfig.shard`: their own draws, their own plates,
    carriers and rings, ids that never meet), about ``rows_per_shard`` rows each. The
    ports, calendar, variant and legacy policy are the world's; the traffic at each
    port is the sum of the shards'. Only one shard is in memory at a time.

    Writes ``out/part-SSSS-YYYY-MM.parquet`` (a shard's rows of one month of written
    dates, in time order) and ``out/truth/part-SSSS.parquet``.

    Returns
    -------
    (rows, outbound, files) : tuple of int
    """
    from dataclasses import replace

    from .generate import generate_world

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty: give a new folder")
    (out / "truth").mkdir(parents=True, exist_ok=True)
    expected = ROWS_PER_SCALE_DAY * config.scale * config.days
    count = max(1, int(np.ceil(expected / rows_per_shard)))
    rows = outbound = files = 0
    for index in range(count):
        log, truth = generate_world(replace(config, shard=(index, count)))
        month = log["crossed_at"].str.slice(0, 7)
        for name, part in log.groupby(month, sort=True):
            _to_parquet(part, out / f"part-{index:04d}-{name}.parquet")
            files += 1
        truth.to_parquet(out / "truth" / f"part-{index:04d}.parquet", index=False)
        rows += len(log)
        outbound += int((log["direction"] == "outbound").sum())
        progress(f"shard {index + 1} of {count}: {len(log):,} rows")
        del log, truth, month
    return rows, outbound, files
