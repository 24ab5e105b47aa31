"""History features in the store: one SQL query per entity for one crossing.

The query gathers each spec's raw aggregates (:mod:`scoring.features.stats`) as columns
of one row (specs reading the same rows share them), and :func:`history_values` finishes
them with the same functions as the in-process pass, on Python numbers. SQLAlchemy is
imported where the query is built, never by the core's import.

A ``below`` spec counts earlier rows by each row's own value of its base, which a query
per earlier row would compute over the base's whole history: instead every row keeps its
base's raw aggregates in columns of its own (:func:`base_columns`), written when it is
stored (:func:`base_select`) and kept exact when an earlier row arrives late
(:func:`base_update`).
"""
from __future__ import annotations

import math
from functools import cache

import numpy as np

from scoring.features.catalog import HISTORY, HISTORY_BY_NAME
from scoring.features.spec import ENTITY_COLUMN, OUTCOME_LAG_US
from scoring.features.stats import AGGREGATES, DAY_US, value_octave


def history_select(table, entity):
    """One SQL query giving every history feature of ``entity`` for one crossing.

    Parameters
    ----------
    table : sqlalchemy.Table
        Crossings with the contract's columns, ``crossed_at`` in UTC µs and
        ``inspected`` / ``seizure`` as 1 / 0 / NULL.
    entity : {"plate", "carrier", "port"}

    Returns
    -------
    sqlalchemy.Select
        With bound parameters ``key`` (the plate_id, carrier_id or port_code) and ``t``
        (the crossing's UTC µs; only rows strictly before it are seen), and ``port``
        (the crossing's port) for a spec of other plates at the port. One row: raw
        aggregates, a column each (see :func:`history_values`).

    Examples
    --------
    >>> row = conn.execute(history_select(crossings, "plate"),   # doctest: +SKIP
    ...                    {"key": "P1", "t": t, "port": "2304"}).mappings().one()
    """
    import sqlalchemy as sa

    c = table.c
    key = sa.bindparam("key", type_=sa.String)
    t = sa.bindparam("t", type_=sa.BigInteger)
    earlier = sa.and_(c[ENTITY_COLUMN[entity]] == key, c.crossed_at < t)
    columns = {}
    for spec, labels in _labelled(entity):
        cond = _conditions(c, spec, t)
        for aggregate, label in labels.items():
            if label not in columns:
                columns[label] = _SQL[aggregate](table, spec, cond, earlier, t).label(label)
    select = sa.select(*columns.values()).where(earlier)
    windows = [h.window_us for h in HISTORY if h.entity == entity]
    if None not in windows:  # every spec windowed: let the index bound the rows read
        select = select.where(c.crossed_at >= t - max(windows))
    return select


def history_values(entity, row, t, port):
    """Turn the raw aggregates of :func:`history_select` into feature values.

    Parameters
    ----------
    entity : {"plate", "carrier", "port"}
    row : mapping
        The query's one row, by column label.
    t : int
        The crossing's UTC µs.
    port : str
        The crossing's port_code.

    Returns
    -------
    dict
        Feature name to float (NaN where unseen), plus the columns the specs add
        (``plate_last_inbound_port`` for plates); identical to the in-process values
        of the same crossing.
    """
    out = {}
    for spec, labels in _labelled(entity):
        found = {aggregate: _number(aggregate, row[label]) for aggregate, label in labels.items()}
        out[spec.name] = spec.statistic.finish(found, t, port)
        for name, finish in spec.extras:
            out[name] = finish(found, t, port)
    return out


def unseen_history(entity):
    """History values of an entity with no earlier rows (or no entity at all)."""
    out = {}
    for spec in HISTORY:
        if spec.entity == entity:
            out[spec.name] = np.nan
            out.update((name, None) for name, _ in spec.extras)
    return out


@cache
def base_columns():
    """The ``crossings`` columns that keep each row's own raw aggregates of the base of a
    ``below`` spec (the base as if the row were the crossing scored).

    Returns
    -------
    dict
        ``{base name: {aggregate: column name}}``, built once (not to be changed): a
        column ``f"{base}_{aggregate}"`` per aggregate the base's statistic reads, bases
        in catalog order. NULL on a row the base is not computed for (not of its
        direction, no entity).

    Examples
    --------
    >>> base_columns()["carrier_value_share"]
    {'valued': 'carrier_value_share_valued', 'alike': 'carrier_value_share_alike'}
    """
    bases = {spec.below[0] for spec in HISTORY if spec.below is not None}
    return {spec.name: {aggregate: f"{spec.name}_{aggregate}"
                        for aggregate in spec.statistic.reads}
            for spec in HISTORY if spec.name in bases}


def keeps_base(spec, record):
    """Whether a stored row keeps its own aggregates of the base ``spec``: it has the
    base's entity and its direction (the rows the base is computed for)."""
    return (bool(record.get(ENTITY_COLUMN[spec.entity]))
            and spec.direction in (None, record.get("direction")))


def stored_octave(value):
    """A row's ``value_octave`` column: the octave of its declared value
    (:func:`~scoring.features.stats.value_octave`), None when it declares none (missing,
    0 or not finite)."""
    if value is None or not value > 0 or math.isinf(value):
        return None
    return value_octave(float(value))


def base_select(table, name):
    """One SQL query giving a row's own raw aggregates of the base ``name``, from the
    rows stored before it: what the row keeps in its :func:`base_columns`.

    Parameters
    ----------
    table : sqlalchemy.Table
        Crossings, as for :func:`history_select`.
    name : str
        A key of :func:`base_columns`.

    Returns
    -------
    sqlalchemy.Select
        With the bound parameters of :func:`history_select` (``key`` the row's entity of
        the base, ``t`` its UTC µs, ``value_low`` / ``value_high`` its value band). One
        row: a column per aggregate, labelled by its name.

    Examples
    --------
    >>> row = conn.execute(base_select(crossings, "carrier_value_share"),  # doctest: +SKIP
    ...                    {"key": "K1", "t": t, "value_low": low, "value_high": high})
    """
    import sqlalchemy as sa

    spec = HISTORY_BY_NAME[name]
    c = table.c
    t = sa.bindparam("t", type_=sa.BigInteger)
    earlier = sa.and_(c[ENTITY_COLUMN[spec.entity]] == sa.bindparam("key", type_=sa.String),
                      c.crossed_at < t)
    cond = _conditions(c, spec, t)
    return sa.select(*(_SQL[aggregate](table, spec, cond, earlier, t).label(aggregate)
                       for aggregate in base_columns()[name])).where(earlier)


def base_update(table, name):
    """The UPDATE that counts a row stored late into the aggregates of the base ``name``
    that the rows of its entity stored after it keep: one more ``valued`` row, one more
    ``alike`` where their octave is within one of its own (alike is symmetric).

    Parameters
    ----------
    table : sqlalchemy.Table
    name : str
        A key of :func:`base_columns` (a ``value_share`` base).

    Returns
    -------
    sqlalchemy.Update
        With bound parameters ``key`` (the row's entity), ``t`` (its UTC µs: only rows
        strictly after it change, so a row stored in time order changes none) and
        ``octave`` (its :func:`stored_octave`; run it only for a row that declares a value
        and that the base reads, :func:`keeps_base`).
    """
    import sqlalchemy as sa

    spec = HISTORY_BY_NAME[name]
    c = table.c
    columns = base_columns()[name]
    valued, alike = c[columns["valued"]], c[columns["alike"]]
    octave = sa.bindparam("octave", type_=sa.Integer)
    near = sa.case((sa.func.abs(c.value_octave - octave) <= 1, 1), else_=0)
    return (table.update()
            .where(c[ENTITY_COLUMN[spec.entity]] == sa.bindparam("key", type_=sa.String),
                   c.crossed_at > sa.bindparam("t", type_=sa.BigInteger), valued.is_not(None))
            .values({valued: valued + 1, alike: alike + near}))   # NULL alike stays NULL


def _labelled(entity):
    """Each spec of ``entity`` with its aggregates' column labels: one column for every
    aggregate over the same rows (the same direction, window, outcome and parameters)."""
    columns = {}
    out = []
    for spec in HISTORY:
        if spec.entity != entity:
            continue
        rows = (spec.direction, spec.window_us, spec.outcome, spec.band_us, spec.lookback_us,
                spec.below)
        labels = {}
        for aggregate in spec.statistic.reads:
            labels[aggregate] = columns.setdefault(
                (aggregate, rows), f"{aggregate}_{len(columns)}")
        out.append((spec, labels))
    return out


def _number(aggregate, value):
    """An aggregate's column as a Python number (its value over no rows for NULL; NaN for
    ``alike`` of a crossing that declares no value)."""
    if value is None:
        return AGGREGATES[aggregate]
    return value if aggregate == "last_port" else int(value)


def _conditions(c, spec, t):
    """Which of the entity's earlier rows the spec reads, as SQL conditions."""
    cond = []
    if spec.direction is not None:
        cond.append(c.direction == spec.direction)
    if spec.window_us is not None:
        cond.append(c.crossed_at >= t - spec.window_us)
    if spec.outcome == "referred":
        cond += [c.referral.is_not(None), c.referral != "none", c.referral != ""]
    elif spec.outcome is not None:
        cond.append(c[spec.outcome] == 1)
    if spec.outcome is not None:
        cond.append(c.crossed_at + OUTCOME_LAG_US < t)
    if spec.below is not None:
        cond.append(_below(c, *spec.below))
    return cond


def _below(c, name, cut):
    """The row's own base (its :func:`base_columns`) below ``cut``: the division of the
    in-process pass, in doubles (NaN, no valued row or no value of its own, is not)."""
    import sqlalchemy as sa
    columns = base_columns()[name]
    valued, alike = c[columns["valued"]], c[columns["alike"]]
    # two doubles, as written ("/" would add SQLAlchemy's casts); NULLIF: PostgreSQL
    # may divide before it checks valued > 0
    share = sa.cast(alike, sa.Float).op("/")(sa.cast(sa.func.nullif(valued, 0), sa.Float))
    return sa.and_(valued > 0, alike.is_not(None), share < sa.literal(float(cut), sa.Float))


def _of(cond, value):
    """``value`` on the rows the conditions let through, NULL on the others."""
    import sqlalchemy as sa
    return sa.case((sa.and_(*cond), value), else_=None) if cond else value


def _n(table, spec, cond, earlier, t):
    import sqlalchemy as sa
    if not cond:
        return sa.func.count()
    return sa.func.coalesce(sa.func.sum(sa.case((sa.and_(*cond), 1), else_=0)), 0)


def _first(table, spec, cond, earlier, t):
    import sqlalchemy as sa
    return sa.func.min(_of(cond, table.c.crossed_at))


def _last(table, spec, cond, earlier, t):
    import sqlalchemy as sa
    return sa.func.max(_of(cond, table.c.crossed_at))


def _last_port(table, spec, cond, earlier, t):
    # the port of the latest earlier row; ties broken by crossing_id as in-process
    import sqlalchemy as sa
    c = table.c
    return (sa.select(c.port_code).where(earlier, *cond)
            .order_by(c.crossed_at.desc(), c.crossing_id.desc()).limit(1).scalar_subquery())


def _ports(table, spec, cond, earlier, t):
    import sqlalchemy as sa
    return sa.func.count(sa.distinct(_of(cond, table.c.port_code)))


def _near(table, spec, cond, earlier, t):
    import sqlalchemy as sa
    since = (t - table.c.crossed_at) % DAY_US  # time of day apart, as t - s > 0
    near = sa.and_(*cond, sa.or_(since <= spec.band_us, since >= DAY_US - spec.band_us))
    return sa.func.coalesce(sa.func.sum(sa.case((near, 1), else_=0)), 0)


def _here(table, spec, cond, earlier, t):
    import sqlalchemy as sa
    here = sa.and_(*cond, table.c.port_code == sa.bindparam("port", type_=sa.String))
    return sa.func.coalesce(sa.func.sum(sa.case((here, 1), else_=0)), 0)


def _valued(table, spec, cond, earlier, t):
    import sqlalchemy as sa
    valued = sa.and_(*cond, table.c.manifest_value_usd > 0)
    return sa.func.coalesce(sa.func.sum(sa.case((valued, 1), else_=0)), 0)


def _alike(table, spec, cond, earlier, t):
    # NULL (NaN) when the crossing declares no value: the bounds are NULL then
    import sqlalchemy as sa
    low = sa.bindparam("value_low", type_=sa.Float)
    high = sa.bindparam("value_high", type_=sa.Float)
    value = table.c.manifest_value_usd
    alike = sa.and_(*cond, value > 0, value >= low, value < high)
    return sa.case((sa.cast(low, sa.Float).is_(None), None),
                   else_=sa.func.coalesce(sa.func.sum(sa.case((alike, 1), else_=0)), 0))


def _partners(table, spec, cond, earlier, t):
    return _convoy_select(table, spec)


def _convoy_select(table, spec):
    """The ``convoy_partners`` count as a scalar subquery: candidates through the port's
    (port_code, crossed_at) index, their earlier pairs with the plate through the plate
    index (bound parameters ``key``, ``port``, ``t``)."""
    import sqlalchemy as sa

    key = sa.bindparam("key", type_=sa.String)
    port = sa.bindparam("port", type_=sa.String)
    t = sa.bindparam("t", type_=sa.BigInteger)
    window = spec.window_us
    now, mine, theirs = (table.alias(n) for n in ("convoy_now", "convoy_mine", "convoy_theirs"))

    def moved(alias):
        return [alias.c.port_code == port] + (
            [alias.c.direction == spec.direction] if spec.direction else [])
    since = ([mine.c.crossed_at >= t - spec.lookback_us,
              theirs.c.crossed_at + 0 >= t - spec.lookback_us] if spec.lookback_us else [])
    before = (sa.select(sa.literal(1)).select_from(mine).join(theirs, sa.true())
              .where(mine.c.plate_id == key, *moved(mine), mine.c.crossed_at < t - window,
                     *since,
                     theirs.c.plate_id == now.c.plate_id, *moved(theirs),
                     # "+ 0": a bound no index may use, or SQLite ranges the index from
                     # mine - window to t - window (the whole port's history since)
                     theirs.c.crossed_at + 0 < t - window,
                     theirs.c.crossed_at >= mine.c.crossed_at - window,
                     theirs.c.crossed_at <= mine.c.crossed_at + window))
    return (sa.select(sa.func.count(sa.distinct(now.c.plate_id)))
            .where(*moved(now), now.c.crossed_at >= t - window, now.c.crossed_at < t,
                   now.c.plate_id != key, before.exists())
            .scalar_subquery())


#: how the query gathers each raw aggregate: ``column(table, spec, conditions, earlier, t)``
_SQL = {"n": _n, "first": _first, "last": _last, "last_port": _last_port, "ports": _ports,
        "near": _near, "here": _here, "valued": _valued, "alike": _alike,
        "partners": _partners}
