"""A ``below`` spec in the store (plate_unusual_loads): each row keeps its own aggregates of
the base (carrier_value_share), exact whatever the order the rows arrive in, after a
purge, and after the migration that adds them, on SQLite and PostgreSQL."""
import math
import threading
import time

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from scoring.contract import parse_frame, parse_record
from scoring.features import FEATURES, LAST_INBOUND_PORT, feature_frame, feature_record
from scoring.features.history_sql import base_columns
from service.store import MIGRATIONS, Store, crossings
from service.store.retention import delete
from service.store.tables import BASE_COLUMNS, now_us, sql_value
from tests.helpers.logs import T0, at, raw, random_log, row
from tests.helpers.schema import migrate_to

SHARE = base_columns()["carrier_value_share"]


def unusual_rows():
    """Plate u under carrier ku, which mostly declares about 2048: u's loads of 300 are
    unusual for it, and some arrive at the same time as another of ku's."""
    rows = []
    for i in range(36):
        value = "300" if i % 6 == 0 else ("2048" if i % 4 else "3000")
        rows.append(row(crossing_id=f"u{i:02d}", crossed_at=at(6 * (i // 2)),
                        plate_id="u" if i % 6 == 0 else f"v{i % 3}", vehicle_class="truck",
                        carrier_id="ku", manifest_value_usd=value, port_code="2402"))
    return rows


def world(seed):
    """A random log with the unusual plate's rows: (rows, their records, the offline
    features)."""
    rows = random_log(seed, n=400) + unusual_rows()
    records = [parse_record(r) for r in rows]
    return rows, records, feature_frame(parse_frame(raw(rows)).frame)


def store_all(store, records):
    with store.write() as conn:
        for record in records:
            store.insert_crossing(conn, record)


def missing(value):
    return value is None or (isinstance(value, float) and math.isnan(value))


def assert_equals_offline(store, records, offline):
    """Every outbound crossing's features looked up in the store equal the offline pass,
    and each row's stored base is its own offline carrier_value_share."""
    with store.engine.connect() as conn:
        kept = {r.crossing_id: r for r in conn.execute(
            sa.select(crossings.c.crossing_id, *(crossings.c[n] for n in SHARE.values())))}
        for i in offline.index:
            online = feature_record(records[i], store.history(conn, records[i]))
            for name in list(FEATURES) + [LAST_INBOUND_PORT]:
                want = offline.loc[i, name]
                assert missing(online[name]) if missing(want) else online[name] == want, (
                    i, name, online[name], want)
            stored = kept[records[i]["crossing_id"]]
            valued, alike = stored[1], stored[2]
            share = alike / valued if valued and alike is not None else np.nan
            want = offline.loc[i, "carrier_value_share"]
            assert math.isnan(share) if math.isnan(want) else share == want, (i, share, want)


@pytest.mark.parametrize("order", ["shuffled", "reversed"])
def test_the_stored_base_is_exact_in_any_order_of_arrival(store, order):
    """Rows stored out of time order (ties, inbound trucks, trucks without a value) end
    with the aggregates of the rows before them: late rows are counted into later ones."""
    rows, records, offline = world(5)
    arrival = (np.random.default_rng(0).permutation(len(records)) if order == "shuffled"
               else sorted(range(len(records)), key=lambda i: records[i]["crossed_at"],
                           reverse=True))
    store_all(store, [records[i] for i in arrival])
    assert_equals_offline(store, records, offline)
    assert (offline["plate_unusual_loads"] > 0).sum() > 20
    assert offline.loc[[i for i, r in enumerate(rows) if r["plate_id"] == "u"],
                       "plate_unusual_loads"].max() >= 3


def test_a_row_stored_in_order_changes_no_other(store):
    """On arrival in time order the late-arrival update touches no row: the stored
    aggregates are those the row was written with."""
    _, records, _ = world(2)
    records.sort(key=lambda r: r["crossed_at"])
    written = []
    with store.write() as conn:
        for record in records:
            store.insert_crossing(conn, record)
            written.append(conn.execute(sa.select(*(crossings.c[n] for n in SHARE.values()))
                                        .where(crossings.c.crossing_id ==
                                               record["crossing_id"])).one())
    with store.engine.connect() as conn:
        now = {r[0]: tuple(r[1:]) for r in conn.execute(sa.select(
            crossings.c.crossing_id, *(crossings.c[n] for n in SHARE.values())))}
    assert [now[r["crossing_id"]] for r in records] == [tuple(w) for w in written]
    assert sum(1 for w in written if w[0]) > 50


def test_after_a_purge_the_store_equals_the_offline_pass_over_the_rows_kept(store):
    rows, records, before = world(3)
    store_all(store, records)
    cutoff = int((T0 + pd.Timedelta(days=20)).value // 1000)
    with store.write() as conn:
        assert delete(conn, cutoff)["crossings"] > 100
    kept = [i for i, r in enumerate(records) if r["crossed_at"] >= cutoff]
    offline = feature_frame(parse_frame(raw([rows[i] for i in kept])).frame)
    assert_equals_offline(store, [records[i] for i in kept], offline)
    # the purge changed what the kept rows' bases read
    after = offline.set_axis([kept[i] for i in offline.index])
    assert (after["carrier_value_share"] != before.loc[after.index, "carrier_value_share"]
            ).sum() > 10
    assert (after["plate_unusual_loads"] != before.loc[after.index, "plate_unusual_loads"]
            ).any()
    assert (after["plate_unusual_loads"] > 0).any()


def test_the_migration_fills_in_a_store_written_before_it(database_url):
    """A store at migration 8, its crossings stored without the columns, gets each row's
    octave and base aggregates from migration 9: the features equal the offline pass."""
    rows, records, offline = world(4)
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        migrate_to(conn, 8)
        for name in BASE_COLUMNS:   # the table as migration 1 made it then
            conn.execute(sa.text(f"ALTER TABLE crossings DROP COLUMN {name}"))
        conn.execute(crossings.insert(), [
            dict({k: sql_value(k, v) for k, v in r.items() if k in crossings.c},
                 received_at=now_us()) for r in records])
    engine.dispose()
    store = Store(database_url)
    try:
        assert store.migrate() == MIGRATIONS[-1][0]
        assert_equals_offline(store, records, offline)
        with store.engine.connect() as conn:
            octaves = dict(conn.execute(sa.select(crossings.c.crossing_id,
                                                  crossings.c.value_octave)).all())
        assert octaves["u00"] == 9 and octaves["u01"] == 12 and octaves["c0000"] in (
            None, *range(9, 16))
        assert store.migrate() == MIGRATIONS[-1][0]  # again: nothing to do
    finally:
        store.engine.dispose()
    assert (offline["plate_unusual_loads"] > 0).sum() > 20


def test_a_late_row_stored_while_a_later_one_is_uncommitted_is_counted(store):
    """Two writers of one carrier at once: the later row's transaction is still open when
    the earlier row is stored. The second waits for the first (PostgreSQL: an advisory
    lock; SQLite: the write lock), so each sees the other."""
    late, early = (parse_record(row(crossing_id=name, crossed_at=at(hours), plate_id="p",
                                    vehicle_class="truck", carrier_id="k",
                                    manifest_value_usd="1000"))
                   for name, hours in (("late", 10), ("early", 1)))
    stored = threading.Event()

    def first():
        with store.write() as conn:
            store.insert_crossing(conn, late)
            stored.set()
            time.sleep(0.5)   # the other writer comes meanwhile

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert stored.wait(10)
        with store.write() as conn:
            store.insert_crossing(conn, early)
    finally:
        thread.join(10)
    with store.engine.connect() as conn:
        got = dict(conn.execute(sa.select(crossings.c.crossing_id,
                                          crossings.c[SHARE["alike"]])).all())
    assert got == {"early": 0, "late": 1}
