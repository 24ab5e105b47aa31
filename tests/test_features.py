"""Point-in-time features: exact values, no leakage, one definition for frame and record."""
import math

import numpy as np
import pandas as pd
import pytest

from scoring.contract import parse_frame, parse_record
from scoring.features import (CONTEXT, DAY_US, DERIVED, ENTITY_COLUMN, FEATURE_GROUPS,
                              FEATURES, HISTORY, HOUR_US, LAST_INBOUND_PORT, OUTCOME_LAG_US,
                              HistoryFeature, context_frame, context_record, feature_frame,
                              history_frame, resolve_exclusions)
from tests.helpers.logs import at, convoy_rows, random_log, raw, row

def brute_force(frame, i, specs=HISTORY):
    """The history features of row i, straight from the specs' words (the oracle)."""
    me = frame.loc[i]
    t = me["crossed_at"]
    out = {}
    for spec in specs:
        col = ENTITY_COLUMN[spec.entity]
        key = me[col]
        if pd.isna(key):
            out[spec.name] = math.nan
            continue
        rows = frame[(frame[col] == key) & (frame["crossed_at"] < t)]
        if spec.direction:
            rows = rows[rows["direction"] == spec.direction]
        if spec.outcome == "referred":
            flag = rows["referral"].notna() & (rows["referral"] != "none")
        elif spec.outcome:
            flag = rows["inspected" if spec.outcome == "inspected" else "seizure"] == 1.0
        if spec.outcome:
            rows = rows[flag & (rows["crossed_at"] + OUTCOME_LAG_US < t)]
        if spec.window_us:
            rows = rows[rows["crossed_at"] >= t - spec.window_us]
        if spec.below:   # each earlier row's own value of the base, below the cut
            base = [h for h in HISTORY if h.name == spec.below[0]]
            rows = rows[np.array([brute_force(frame, j, base)[spec.below[0]] < spec.below[1]
                                  for j in rows.index], dtype=bool)]
        rows = rows.sort_values(["crossed_at", "crossing_id"])
        if spec.stat == "count":
            out[spec.name] = float(len(rows))
        elif spec.stat == "distinct_ports":
            out[spec.name] = float(rows["port_code"].nunique())
        elif spec.stat == "convoy_partners":
            out[spec.name] = float(len(convoy_by_hand(frame, me, spec.window_us,
                                                      spec.lookback_us)))
        elif spec.stat == "hour_share":
            apart = (t - rows["crossed_at"]) % DAY_US
            near = (apart <= spec.band_us) | (apart >= DAY_US - spec.band_us)
            out[spec.name] = int(near.sum()) / len(rows) if len(rows) else math.nan
        elif spec.stat == "port_share":
            here = (rows["port_code"] == me["port_code"]).sum()
            out[spec.name] = int(here) / len(rows) if len(rows) else math.nan
        elif spec.stat == "value_share":
            out[spec.name] = value_share_by_hand(rows, me["manifest_value_usd"])
        elif spec.stat == "mean_gap_hours":
            times = rows["crossed_at"].tolist()
            out[spec.name] = ((times[-1] - times[0]) / HOUR_US / (len(times) - 1)
                              if len(times) >= 2 else math.nan)
        elif not len(rows):
            out[spec.name] = math.nan
        elif spec.stat == "days_since_first":
            out[spec.name] = (t - rows["crossed_at"].iloc[0]) / DAY_US
        elif spec.stat == "hours_since_last":
            out[spec.name] = (t - rows["crossed_at"].iloc[-1]) / HOUR_US
        elif spec.stat == "last_other_port":
            out[spec.name] = float(rows["port_code"].iloc[-1] != me["port_code"])
    return out


def value_share_by_hand(rows, value):
    """Of the rows declaring a value (> 0), the share within [value / 4, value * 4) and in
    the same or a neighbouring power-of-two band [2**(k-1), 2**k)."""
    if not value > 0:
        return math.nan
    declared = [v for v in rows["manifest_value_usd"] if v > 0]
    if not declared:
        return math.nan
    mine = math.floor(math.log2(value)) + 1
    alike = [v for v in declared if abs((math.floor(math.log2(v)) + 1) - mine) <= 1]
    return len(alike) / len(declared)


def convoy_by_hand(frame, me, window, lookback=None):
    """Plates that left by my port in [t - window, t) and, wholly in [t - lookback,
    t - window), had left by it within window of one of my earlier crossings."""
    t = me["crossed_at"]
    out = frame[(frame["direction"] == "outbound") & (frame["port_code"] == me["port_code"])]
    now = out[(out["crossed_at"] >= t - window) & (out["crossed_at"] < t)
              & (out["plate_id"] != me["plate_id"])]
    old = out[out["crossed_at"] < t - window]
    mine = old[old["plate_id"] == me["plate_id"]]["crossed_at"].tolist()
    partners = set()
    for plate in set(now["plate_id"]):
        theirs = old[old["plate_id"] == plate]["crossed_at"].tolist()
        if any(abs(a - b) <= window and (lookback is None or min(a, b) >= t - lookback)
               for a in mine for b in theirs):
            partners.add(plate)
    return partners


def derived_by_hand(f):
    """The derived features of one crossing's values, as their docs word them."""
    return {
        "plate_out_per_day": f["plate_out_all"] / (f["plate_days_since_first_seen"] + 1),
        "plate_turnaround_ratio": f["plate_hours_since_inbound"]
                                  / (f["plate_mean_gap_hours"] + 1),
        "plate_burst_7_30": f["plate_out_7d"] / (f["plate_out_30d"] / 30 * 7 + 1),
        "registration_age_first_seen": f["registration_age_days"]
                                       - f["plate_days_since_first_seen"],
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_history_features_match_the_brute_force_definition(seed):
    convoys = [dict(r, crossing_id="k" + r["crossing_id"]) for r in convoy_rows(day0=5 * seed)]
    frame = parse_frame(raw(random_log(seed) + convoys)).frame
    feats = history_frame(frame)
    assert len(feats) == (frame["direction"] == "outbound").sum()
    for i in feats.index:
        expected = brute_force(frame, i)
        for name, value in expected.items():
            got = feats.loc[i, name]
            assert (math.isnan(value) and math.isnan(got)) or value == got, (i, name, got, value)
    assert (feats["plate_unusual_loads"] > 0).sum() >= 3   # the second order exercised


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_derived_features_match_their_definitions(seed):
    frame = parse_frame(raw(random_log(seed))).frame
    feats = feature_frame(frame)
    history = history_frame(frame)
    for i in feats.index:
        values = feats.loc[i].to_dict() | history.loc[i].to_dict()
        for name, value in derived_by_hand(values).items():
            got = feats.loc[i, name]
            assert (math.isnan(value) and math.isnan(got)) or value == pytest.approx(got), \
                (i, name, got, value)
    assert set(derived_by_hand(values)) == {d.name for d in DERIVED}
    # every derived feature and new history feature takes real values somewhere
    for name in ("plate_out_per_day", "plate_turnaround_ratio", "plate_burst_7_30",
                 "registration_age_first_seen", "plate_prior_referrals", "port_hour_share_7d"):
        assert feats[name].notna().any() and feats[name].nunique() > 2, name


def test_appending_later_rows_changes_no_earlier_row():
    """The leakage test: later crossings and later outcomes are invisible."""
    rows = random_log(5, n=400)
    frame = parse_frame(raw(rows)).frame
    cut = np.quantile(frame["crossed_at"], 0.6)
    early_rows = [r for r, t in zip(rows, frame["crossed_at"]) if t < cut]
    early = feature_frame(parse_frame(raw(early_rows)).frame)
    # the full log, shuffled, with every later outbound row inspected and seized
    later = [dict(r, inspected="true", seizure="true", referral="officer")
             if t >= cut and r["direction"] == "outbound" else r
             for r, t in zip(rows, frame["crossed_at"])]
    full_frame = parse_frame(raw(later).sample(frac=1, random_state=1)).frame
    full = feature_frame(full_frame)
    full = full.set_index(full_frame.loc[full.index, "crossing_id"])
    early.index = parse_frame(raw(early_rows)).frame.loc[early.index, "crossing_id"]
    pd.testing.assert_frame_equal(full.loc[early.index], early, check_dtype=False)


def test_same_instant_is_not_before():
    frame = parse_frame(raw([
        row(crossing_id="a", crossed_at=at(10), plate_id="p"),
        row(crossing_id="b", crossed_at=at(10), plate_id="p", port_code="2402"),
    ])).frame
    feats = history_frame(frame)
    assert feats["plate_out_24h"].tolist() == [0.0, 0.0]
    assert feats["plate_ports_used"].tolist() == [0.0, 0.0]


def test_outcome_is_seen_only_once_resolved():
    lag_h = OUTCOME_LAG_US / HOUR_US
    frame = parse_frame(raw([
        row(crossing_id="a", crossed_at=at(0), inspected="true", seizure="true", referral="random"),
        row(crossing_id="b", crossed_at=at(lag_h)),          # exactly at resolution: not yet
        row(crossing_id="c", crossed_at=at(lag_h + 0.01)),   # just after: seen
    ])).frame
    feats = history_frame(frame)
    assert feats["plate_prior_seizures"].tolist() == [0.0, 0.0, 1.0]
    assert feats["plate_prior_inspections"].tolist() == [0.0, 0.0, 1.0]
    assert feats["plate_out_24h"].tolist() == [0.0, 1.0, 2.0]


def test_referral_is_seen_only_once_resolved_and_any_pick_counts():
    lag_h = OUTCOME_LAG_US / HOUR_US
    frame = parse_frame(raw([
        row(crossing_id="a", crossed_at=at(0), referral="random", inspected="false"),
        row(crossing_id="b", crossed_at=at(1), referral="model", selection_probability="0.3"),
        row(crossing_id="c", crossed_at=at(1.5), referral="none"),
        row(crossing_id="d", crossed_at=at(1.6), referral=""),
        row(crossing_id="e", crossed_at=at(lag_h)),            # a: exactly resolved, not yet
        row(crossing_id="f", crossed_at=at(lag_h + 1.01)),     # a and b seen; c, d never
        row(crossing_id="g", crossed_at=at(lag_h + 2), plate_id="other"),
    ])).frame
    feats = history_frame(frame)
    assert feats["plate_prior_referrals"].tolist() == [0, 0, 0, 0, 0, 2, 0]


def test_port_hour_share_is_circular_and_point_in_time():
    """Within 1 h of the time of day, across midnight, over [t - 7 d, t) at the port."""
    t = 24 * 40 + 0.25                                  # 00:15 UTC on day 40
    frame = parse_frame(raw([
        row(crossing_id="near-midnight", crossed_at=at(24 * 39 - 0.5), plate_id="a"),  # 23:30
        row(crossing_id="edge-1h", crossed_at=at(24 * 35 + 1.25), plate_id="b"),       # +1 h
        row(crossing_id="past-1h", crossed_at=at(24 * 35 + 1.26), plate_id="c"),
        row(crossing_id="noon", crossed_at=at(24 * 38 + 12), plate_id="d"),
        row(crossing_id="edge-7d", crossed_at=at(t - 24 * 7), plate_id="e"),          # in
        row(crossing_id="before-7d", crossed_at=at(t - 24 * 7 - 0.01), plate_id="f"),
        row(crossing_id="inbound", crossed_at=at(24 * 39 + 0.25), plate_id="g",
            direction="inbound"),
        row(crossing_id="other-port", crossed_at=at(24 * 39 + 0.25), plate_id="h",
            port_code="2402"),
        row(crossing_id="same-instant", crossed_at=at(t), plate_id="i"),
        row(crossing_id="me", crossed_at=at(t), plate_id="j"),
    ])).frame
    feats = history_frame(frame).set_index(frame.loc[history_frame(frame).index, "crossing_id"])
    # near-midnight, edge-1h, edge-7d of 5 outbound rows at 2304 in the window
    assert feats.loc["me", "port_hour_share_7d"] == 3 / 5
    assert feats.loc["me", "port_hour_share_7d"] == feats.loc["same-instant",
                                                               "port_hour_share_7d"]
    assert math.isnan(feats.loc["before-7d", "port_hour_share_7d"])   # the port's first
    assert math.isnan(feats.loc["other-port", "port_hour_share_7d"])


def test_convoy_partners_are_plates_seen_leaving_together_again():
    rows = convoy_rows()
    frame = parse_frame(raw(rows)).frame
    feats = history_frame(frame).set_index(frame["crossing_id"])
    assert feats.loc["p0", "plate_convoy_partners"] == 0.0     # first convoy: not seen before
    assert feats.loc["q1", "plate_convoy_partners"] == 1.0     # p, seen with q on day 1
    assert feats.loc["r1", "plate_convoy_partners"] == 0.0     # p and q 20+ min earlier
    assert feats.loc["p-again", "plate_convoy_partners"] == 2.0  # q and r, both seen before
    assert feats.loc["p2", "plate_convoy_partners"] == 0.0     # nobody in the 10 min before
    assert feats.loc["elsewhere", "plate_convoy_partners"] == 0.0
    assert feats.loc["p-late", "plate_convoy_partners"] == 0.0   # last seen 8 days before
    assert feats.loc["p-later", "plate_convoy_partners"] == 1.0  # seen the day before


def test_plate_rates_against_its_own_past():
    frame = parse_frame(raw([
        row(crossing_id="in1", direction="inbound", crossed_at=at(0)),
        row(crossing_id="out1", crossed_at=at(10)),
        row(crossing_id="in2", direction="inbound", crossed_at=at(24 * 2)),
        row(crossing_id="out2", crossed_at=at(24 * 2 + 3), registration_age_days="30"),
    ])).frame
    feats = feature_frame(frame)
    first, last = feats.index
    assert math.isnan(feats.loc[first, "plate_turnaround_ratio"])    # one earlier crossing
    assert feats.loc[first, "plate_out_per_day"] == 0.0               # seen, never left
    # out2: 1 earlier outbound over 2.125 days + 1; 3 h since entry against a mean gap
    # of 48 h / 2 between its 3 earlier crossings (+1 h)
    assert feats.loc[last, "plate_out_per_day"] == pytest.approx(1 / (51 / 24 + 1))
    assert feats.loc[last, "plate_turnaround_ratio"] == pytest.approx(3 / (24 + 1))
    assert feats.loc[last, "plate_burst_7_30"] == pytest.approx(1 / (7 / 30 + 1))
    assert feats.loc[last, "registration_age_first_seen"] == pytest.approx(30 - 51 / 24)


def test_first_ever_crossing_has_missing_rates():
    feats = feature_frame(parse_frame(raw([row()])).frame)
    for name in ("plate_out_per_day", "plate_turnaround_ratio",
                 "registration_age_first_seen", "port_hour_share_7d"):
        assert math.isnan(feats.loc[0, name]), name
    assert feats.loc[0, "plate_burst_7_30"] == 0.0
    assert feats.loc[0, "plate_prior_referrals"] == 0.0


@pytest.mark.parametrize("kwargs, message", [
    (dict(stat="median"), "stat 'median' is not one of"),
    (dict(entity="driver"), "entity 'driver' is not one of"),
    (dict(outcome="arrest"), "outcome 'arrest' is not one of"),
    (dict(direction="north"), "direction 'north' is not one of"),
    (dict(stat="hours_since_last", outcome="seizure"), "an outcome restricts a count"),
    (dict(window_us=0), "window_us 0 is not > 0"),
    (dict(stat="distinct_ports", window_us=DAY_US), "distinct_ports reads all history"),
    (dict(stat="hour_share", window_us=DAY_US), "band_us is for hour_share"),
    (dict(stat="hour_share", band_us=HOUR_US), "hour_share needs a window"),
    (dict(stat="convoy_partners"), "convoy_partners is of a plate, within a window"),
], ids=["stat", "entity", "outcome", "direction", "outcome-on-recency", "window",
        "windowed-ports", "no-band", "no-window", "convoy-without-window"])
def test_a_bad_spec_fails_when_declared(kwargs, message):
    spec = dict(name="x", entity="plate", stat="count") | kwargs
    with pytest.raises(ValueError, match=message):
        HistoryFeature(**spec)


def test_turnaround_and_other_port():
    frame = parse_frame(raw([
        row(crossing_id="in", direction="inbound", crossed_at=at(0), port_code="2402"),
        row(crossing_id="out", crossed_at=at(1.8), port_code="2304"),
    ])).frame
    feats = history_frame(frame)
    assert feats.loc[1, "plate_hours_since_inbound"] == pytest.approx(1.8)
    assert feats.loc[1, "plate_inbound_other_port"] == 1.0
    assert feats.loc[1, LAST_INBOUND_PORT] == "2402"
    assert feats.loc[1, "plate_days_since_first_seen"] == pytest.approx(1.8 / 24)
    assert math.isnan(feats.loc[1, "carrier_out_7d"])  # not a truck


def test_unseen_plate_has_missing_recency_and_zero_counts():
    feats = history_frame(parse_frame(raw([row()])).frame)
    assert math.isnan(feats.loc[0, "plate_days_since_first_seen"])
    assert math.isnan(feats.loc[0, "plate_hours_since_inbound"])
    assert feats.loc[0, "plate_out_30d"] == 0.0


@pytest.mark.parametrize("stamp, port, hour, weekday", [
    ("2025-03-04T17:22:05-06:00", "2304", 17, 1),   # Tuesday evening in Laredo
    ("2025-03-04T23:22:05Z", "2304", 17, 1),        # the same instant written in UTC
    ("2025-03-02T01:00:00-07:00", "2604", 1, 6),    # Sunday night in Nogales
    ("2025-03-02T08:00:00Z", "2604", 1, 6),
])
def test_local_hour_and_weekday_come_from_the_ports_zone(stamp, port, hour, weekday):
    feats = context_frame(parse_frame(raw([row(crossed_at=stamp, port_code=port)])).frame)
    assert feats.loc[0, "local_hour"] == hour
    assert feats.loc[0, "local_weekday"] == weekday


def test_context_record_equals_context_frame():
    rows = random_log(9, n=60)
    for r in rows[::3]:
        r.update(vehicle_model_year="2015", plate_jurisdiction="MX-SON", vehicle_make=" ford ",
                 trailer_empty="true" if r["vehicle_class"] == "truck" else "")
    rows[1].update(plate_jurisdiction="", occupants="", registration_age_days="")
    frame = parse_frame(raw(rows)).frame
    table = context_frame(frame)
    for i, r in enumerate(rows):
        record = context_record(parse_record(r))
        assert list(record) == [name for name, _, _ in CONTEXT]
        for name, value in record.items():
            expected = table.loc[i, name]
            if value is None or (isinstance(value, float) and math.isnan(value)):
                assert pd.isna(expected), (i, name)
            else:
                assert value == expected, (i, name)


@pytest.mark.parametrize("written, read", [("0", None), ("1", 1.0), ("400", 400.0), ("", None)])
def test_a_registration_age_of_0_is_read_as_unknown_by_the_log_and_the_booth(written, read):
    parsed = parse_frame(raw([row(registration_age_days=written)])).frame
    frame_value = context_frame(parsed).loc[0, "registration_age_days"]
    record_value = context_record(parse_record(row(registration_age_days=written)))[
        "registration_age_days"]
    for value in (frame_value, record_value):
        assert (math.isnan(value) if read is None else value == read), (written, value)


def test_trucks_only_fields_are_ignored_on_cars():
    feats = context_frame(parse_frame(raw([row(trailer_empty="true",
                                                manifest_value_usd="10")])).frame)
    assert math.isnan(feats.loc[0, "trailer_empty"])


GROUP_NAMES = [(group, name) for group, members in FEATURE_GROUPS.items()
               for name in (group,) + members]


@pytest.mark.parametrize("group,name", GROUP_NAMES, ids=[f"{g}-by-{n}" for g, n in GROUP_NAMES])
def test_any_member_of_a_feature_group_switches_off_the_whole_group(group, name):
    assert set(FEATURE_GROUPS[group]) <= set(resolve_exclusions([name]))
    assert set(resolve_exclusions([name, "occupants"])) == set(FEATURE_GROUPS[group]) | {
        "occupants"}


def test_feature_groups_name_real_features_and_no_feature_is_in_two():
    members = [m for ms in FEATURE_GROUPS.values() for m in ms]
    assert set(members) <= set(FEATURES) and len(members) == len(set(members))
    assert not set(FEATURE_GROUPS) & set(FEATURES)


def test_exclusions_expand_groups_and_reject_unknown_names():
    assert resolve_exclusions(["plate_jurisdiction"]) == ("plate_country", "plate_jurisdiction")
    assert resolve_exclusions(["plate_country"]) == ("plate_country", "plate_jurisdiction")
    with pytest.raises(ValueError, match="feature 'race' is not one of"):
        resolve_exclusions(["race"])


def test_convoy_partners_in_chunks_equal_one_pass(world_frame, monkeypatch):
    """The port's rows are taken a chunk at a time (a busy port's near pairs never all
    at once): the same counts as the fewest chunks the lookback allows (one per span of
    the lookback less two windows; the brute-force test checks those against the
    definition)."""
    from scoring.features import convoy_numpy
    specs = tuple(s for s in HISTORY if s.stat == "convoy_partners")
    monkeypatch.setattr(convoy_numpy, "CONVOY_CHUNK_PAIRS", 10 ** 12)
    whole = history_frame(world_frame, specs=specs)
    monkeypatch.setattr(convoy_numpy, "CONVOY_CHUNK_PAIRS", 700)
    chunked = history_frame(world_frame, specs=specs)
    column = specs[0].name
    assert (whole[column] > 0).sum() > 20
    assert np.array_equal(whole[column].to_numpy(), chunked[column].to_numpy())


@pytest.mark.parametrize("chunk_pairs", [4_000_000, 997])
def test_hour_shares_by_pairs_equal_the_bands(world_frame, monkeypatch, chunk_pairs):
    """The rows near a crossing's time of day are counted one pair at a time where an
    entity's rows in the window are few (a plate's) and by the bands' prefix counts
    where they are many (a port's): both ways give every spec the same values, bit for
    bit (the brute-force test checks them against the definition), in one step or in
    runs of queries of about ``chunk_pairs`` pairs."""
    from scoring.features import history_numpy
    specs = tuple(s for s in HISTORY if s.stat == "hour_share")
    assert {s.entity for s in specs} == {"plate", "port"}
    monkeypatch.setattr(history_numpy, "NEAR_CHUNK_PAIRS", chunk_pairs)
    monkeypatch.setattr(history_numpy, "PAIRS_PER_QUERY", 0)      # bands everywhere
    bands = history_frame(world_frame, specs=specs)
    monkeypatch.setattr(history_numpy, "PAIRS_PER_QUERY", 10 ** 9)  # pairs everywhere
    pairs = history_frame(world_frame, specs=specs)
    for spec in specs:
        values = bands[spec.name].to_numpy()
        assert (np.nan_to_num(values) > 0).sum() > 100, spec.name
        assert (values < 1).sum() > 100, spec.name
        assert np.array_equal(values.view(np.int64), pairs[spec.name].to_numpy().view(np.int64)), \
            spec.name


def _sliced(frame, specs, span):
    """The values of ``specs`` from the Dask execution's cut: by (key, slice of time)."""
    from scoring.features.history_dask import _slices_history, reach_of, time_slices
    key = specs[0].key
    rows = frame[~frame[key].isna()]
    return _slices_history(time_slices(rows, reach_of(specs), span), key, specs)


def _by_id(frame, specs):
    out = history_frame(frame, specs=specs)
    out.index = pd.Index(frame.loc[out.index, "crossing_id"].to_numpy(object))
    return out


@pytest.mark.parametrize("span_days", [1, 7])
def test_a_port_cut_in_slices_of_time_gives_each_crossing_its_whole_port_values(
        world_frame, span_days):
    """The port's specs read 7 days: a slice's crossings computed from the slice and the
    7 days before it have the values of the whole log, bit for bit (slices of a day:
    each row read by eight of them)."""
    specs = tuple(s for s in HISTORY if s.key == "port_code")
    whole = _by_id(world_frame, specs)
    sliced = _sliced(world_frame, specs, span_days * DAY_US)
    assert sorted(sliced.index) == sorted(whole.index)
    sliced = sliced.loc[whole.index]
    for spec in specs:
        assert np.array_equal(whole[spec.name].to_numpy().view(np.int64),
                              sliced[spec.name].to_numpy().view(np.int64)), spec.name
    assert (whole["plate_convoy_partners"] > 0).sum() > 20


@pytest.mark.parametrize("day0", range(7))
def test_convoys_seen_across_a_slice_boundary_count_as_in_the_whole_log(day0):
    """The convoy rows (pairs a day, a week and eight days apart) shifted so that the
    week's boundary falls at each day of them."""
    frame = parse_frame(raw(convoy_rows(day0=day0))).frame
    specs = tuple(s for s in HISTORY if s.key == "port_code")
    whole = _by_id(frame, specs)
    sliced = _sliced(frame, specs, 7 * DAY_US).loc[whole.index]
    assert whole.loc[["q1", "p-again", "p-late", "p-later"],
                     "plate_convoy_partners"].tolist() == [1, 2, 0, 1]
    assert np.array_equal(whole.to_numpy(float), sliced.to_numpy(float), equal_nan=True)


def test_the_reach_of_a_spec_bounds_the_rows_its_value_reads(world_frame):
    """A windowed count of outcomes reads its window and the outcome's lag: plates cut
    in slices of a day by that reach keep their values; all-history specs have none."""
    assert HISTORY[0].reach_us == DAY_US                       # plate_out_24h
    convoy = next(s for s in HISTORY if s.stat == "convoy_partners")
    assert convoy.reach_us == 7 * DAY_US                       # the lookback, not the window
    assert next(s for s in HISTORY if s.name == "plate_prior_seizures").reach_us is None
    referred = HistoryFeature("plate_referred_2d", "plate", "count", "outbound", 2 * DAY_US,
                              outcome="referred")
    assert referred.reach_us == 2 * DAY_US + OUTCOME_LAG_US
    specs = (HISTORY[0], referred)
    whole = _by_id(world_frame, specs)
    sliced = _sliced(world_frame, specs, DAY_US).loc[whole.index]
    assert (whole["plate_referred_2d"] > 0).sum() > 10
    assert np.array_equal(whole.to_numpy(float), sliced.to_numpy(float))
    # without the lag, the cut loses the outcomes just before the reach: the test can fail
    short = HistoryFeature("plate_referred_2d", "plate", "count", "outbound", 2 * DAY_US)
    from scoring.features.history_dask import _slices_history, time_slices
    cut = _slices_history(time_slices(world_frame, short.reach_us, DAY_US), "plate_id",
                          specs).loc[whole.index]
    assert not np.array_equal(whole.to_numpy(float), cut.to_numpy(float))


def test_each_history_spec_is_in_the_one_pass_of_its_key():
    """The Dask passes, the manifest's ``slice_days`` and the benchmarks share one
    grouping: every spec once, under its own key, with the pass's reach the longest of
    its specs' (None as soon as one reads all history)."""
    from scoring.features.history_dask import history_keys
    passes = history_keys()
    assert sorted(s.name for _, specs, _ in passes for s in specs) == sorted(
        s.name for s in HISTORY)
    assert len({key for key, _, _ in passes}) == len(passes)
    for key, specs, reach in passes:
        assert {s.key for s in specs} == {key}
        reaches = [s.reach_us for s in specs]
        assert reach == (None if None in reaches else max(reaches))
    by_key = {key: reach for key, _, reach in passes}
    assert by_key["port_code"] == 7 * DAY_US and by_key["plate_id"] is None


def test_groups_are_spread_over_buckets_by_size():
    """Each (key, slice) group goes whole to one bucket, the largest first to the least
    loaded: no bucket holds more than the largest group plus the mean, and one group
    as large as the rest together sits alone."""
    from scoring.features.history_dask import balance
    rng = np.random.default_rng(0)
    sizes = np.concatenate([[1_000_000], rng.integers(1, 300_000, size=207)])
    for buckets in (1, 7, 40, 300):
        bucket = balance(sizes, buckets)
        assert bucket.min() >= 0 and bucket.max() < buckets
        load = np.bincount(bucket, weights=sizes, minlength=buckets)
        assert load.sum() == sizes.sum()
        assert load.max() <= sizes.max() + sizes.sum() / buckets
    bucket = balance(sizes, 40)
    assert (bucket == bucket[0]).sum() == 1      # the busiest group alone in its bucket
    assert balance(np.array([5, 4, 3, 3, 1]), 2).tolist() == [0, 1, 1, 0, 1]


# --- one definition: a statistic is written once, in scoring/features/stats.py ---------

PRODUCT = ("scoring", "service", "training", "models", "southbound")
STAT_MODULES = ("scoring/features/spec.py", "scoring/features/stats.py")


def stat_branches(path):
    """Lines of ``path`` that compare a statistic's name (``spec.stat == ...``)."""
    import ast
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        operands = ([node.left, *node.comparators] if isinstance(node, ast.Compare)
                    else [node.subject] if isinstance(node, ast.Match) else [])
        if any((isinstance(o, ast.Attribute) and o.attr == "stat")
               or (isinstance(o, ast.Name) and o.id == "stat") for o in operands):
            out.append(node.lineno)
    return sorted(out)


def test_no_module_of_the_product_branches_on_a_statistics_name():
    """Each statistic's meaning is in stats (and its fields checked in spec): the passes
    dispatch through ``STATS``, never by comparing ``spec.stat``."""
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    found = {str(p.relative_to(root)): stat_branches(p)
             for package in PRODUCT for p in sorted((root / package).rglob("*.py"))
             if str(p.relative_to(root)) not in STAT_MODULES}
    assert {path: lines for path, lines in found.items() if lines} == {}


def test_the_branch_check_can_fail(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("if spec.stat == 'count':\n    pass\nok = path.stat().st_size == 0\n"
                      "match spec.stat:\n    case 'count':\n        pass\n"
                      "x = [s for s in specs if 'count' != s.stat]\n")
    assert stat_branches(sample) == [1, 4, 7]


def test_both_executions_gather_every_raw_aggregate():
    from scoring.features import history_numpy, history_sql, stats
    assert set(stats.AGGREGATES) <= set(history_numpy._FRAME)
    assert set(stats.AGGREGATES) == set(history_sql._SQL)
    for name, stat in stats.STATS.items():
        assert set(stat.reads) <= set(stats.AGGREGATES), name


def span_days(a, t, port):
    """A statistic of the test only: days from the first to the last of the rows."""
    from scoring.features.stats import where
    return where(a["n"] > 0, (a["last"] - a["first"]) / DAY_US)


def test_a_statistic_registered_in_stats_alone_is_equal_in_the_frame_and_the_store(
        database_url, monkeypatch):
    """A new statistic is a finish and a row of ``STATS``: both the in-process pass and
    the store's query then compute it, the same floats (and a new spec of an existing
    statistic, windowed and of another entity, its added column named for it)."""
    from scoring.features import history_sql, stats
    from service.store import Store
    monkeypatch.setitem(stats.STATS, "span_days", stats.Stat(("n", "first", "last"), span_days))
    specs = (HistoryFeature("plate_out_span_30d", "plate", "span_days", "outbound", 30 * DAY_US),
             HistoryFeature("carrier_other_port_7d", "carrier", "last_other_port", "outbound",
                            7 * DAY_US))
    assert [name for spec in specs for name, _ in spec.extras] == [
        "carrier_last_outbound_port"]
    monkeypatch.setattr(history_sql, "HISTORY", HISTORY + specs)
    rows = random_log(4, n=300)
    frame = parse_frame(raw(rows)).frame
    offline = history_frame(frame, specs=specs)
    records = [parse_record(r) for r in rows]
    store = Store(database_url)
    try:
        store.migrate()
        with store.write() as conn:
            for record in records:
                store.insert_crossing(conn, record)
        with store.engine.connect() as conn:
            for i in offline.index:
                online = store.history(conn, records[i])
                for name in offline.columns:
                    want, got = offline.loc[i, name], online[name]
                    assert (got is None or got != got) if want is None or want != want \
                        else got == want, (i, name, got, want)
    finally:
        store.engine.dispose()
    assert offline["plate_out_span_30d"].gt(0).sum() > 10
    assert offline["carrier_other_port_7d"].eq(1).any()
