"""Data-contract tests: types, allowed values, unique ids, clear errors."""
import math

import numpy as np
import pandas as pd
import pytest

from scoring.contract import (COLUMNS, ContractError, parse_frame, parse_record, parse_timestamp,
                              read_log)
from tests.helpers.logs import BASE, raw, row


def write_csv(tmp_path, rows, name="log.csv"):
    path = tmp_path / name
    raw(rows).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("text, micros, offset", [
    ("2025-03-04T17:22:05-06:00", 1741130525_000000, -360),
    ("2025-03-04T23:22:05Z", 1741130525_000000, 0),
    ("2025-03-04T23:22:05.250+00:00", 1741130525_250000, 0),
    ("2025-03-05T04:52:05+05:30", 1741130525_000000, 330),
], ids=["central", "zulu", "fraction", "half-hour"])
def test_timestamps_become_utc_micros_with_their_offset(text, micros, offset):
    assert parse_timestamp(text) == (micros, offset)
    frame = parse_frame(raw([row(crossed_at=text)])).frame
    assert frame.loc[0, "crossed_at"] == micros
    assert frame.loc[0, "utc_offset_min"] == offset


@pytest.mark.parametrize("column, value, match", [
    ("port_code", "23O4", "column port_code: value '23O4' is not a 4-digit port code"),
    ("direction", "north", "column direction: value 'north' is not one of outbound, inbound"),
    ("crossed_at", "2025-03-04T17:22:05", "column crossed_at: value '2025-03-04T17:22:05' is not an ISO"),
    ("crossed_at", "2025-02-30T10:00:00Z", "column crossed_at"),
    ("occupants", "0", "column occupants: value '0' is not an integer from 1 to 200"),
    ("registration_age_days", "-3", "column registration_age_days"),
    ("selection_probability", "0", r"column selection_probability: value '0' is not a number in \(0, 1\]"),
    ("inspected", "maybe", "column inspected: value 'maybe' is not true or false"),
    ("plate_jurisdiction", "Texas", "column plate_jurisdiction"),
    ("vehicle_class", "tank", "column vehicle_class"),
    ("plate_id", "", "column plate_id: is required"),
    ("seizure", "true", "column seizure: value 'true': seizure is given but inspected is not true"),
], ids=lambda v: str(v)[:24])
def test_a_bad_value_is_named_with_file_row_column_and_value(tmp_path, column, value, match):
    path = write_csv(tmp_path, [row(crossing_id="a"), row(crossing_id="b", **{column: value})])
    with pytest.raises(ContractError, match=match) as info:
        read_log(path)
    message = str(info.value)
    assert message.startswith(f"{path}, row 3, column {column}")
    assert "\n" not in message


def test_outcomes_on_inbound_rows_are_an_error():
    rows = [row(direction="inbound", seizure="false", inspected="true", referral="officer")]
    with pytest.raises(ContractError, match="column"):
        parse_frame(raw(rows))


def test_repeated_crossing_id_is_an_error():
    with pytest.raises(ContractError, match="row 3, column crossing_id: value 'x' is a repeated"):
        parse_frame(raw([row(crossing_id="x"), row(crossing_id="x")]))


def test_missing_required_column_is_named(tmp_path):
    path = tmp_path / "log.csv"
    raw([row()]).drop(columns=["plate_id"]).to_csv(path, index=False)
    with pytest.raises(ContractError, match="missing required column 'plate_id'"):
        read_log(path)


def test_unknown_columns_are_ignored_and_reported(tmp_path):
    path = tmp_path / "log.csv"
    frame = raw([row()])
    frame["lane"] = "3"
    frame.to_csv(path, index=False)
    result = read_log(path)
    assert result.ignored_columns == ("lane",)
    assert "lane" not in result.frame.columns


def test_optional_columns_may_be_absent():
    frame = raw([row()])[["crossing_id", "crossed_at", "direction", "port_code",
                          "vehicle_class", "plate_id"]]
    parsed = parse_frame(frame).frame
    assert math.isnan(parsed.loc[0, "occupants"])
    assert pd.isna(parsed.loc[0, "body_type"])


def test_skip_mode_sets_bad_rows_aside_with_reasons_and_keeps_the_rest():
    rows = [row(crossing_id="a"), row(crossing_id="b", port_code="X"),
            row(crossing_id="c", occupants="-1"), row(crossing_id="d")]
    result = parse_frame(raw(rows), on_error="skip")
    assert list(result.frame["crossing_id"]) == ["a", "d"]
    assert list(result.rejected["row"]) == [3, 4]
    assert result.rejected["reason"].str.startswith("column ").all()
    assert "port_code" in result.rejected["reason"].iloc[0]


def test_not_utf8_names_the_row(tmp_path):
    path = write_csv(tmp_path, [row(crossing_id="a"), row(crossing_id="b")])
    data = path.read_bytes().replace(b"Ford", b"F\xf6rd", 2)
    path.write_bytes(data)
    with pytest.raises(ContractError, match=r"row 2: not UTF-8"):
        read_log(path)


def test_truncated_file_gives_one_line_error(tmp_path):
    path = write_csv(tmp_path, [row(crossing_id=f"c{i}") for i in range(5)])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 60])
    with pytest.raises(ContractError) as info:
        read_log(path)
    assert str(info.value).startswith(str(path))
    assert "\n" not in str(info.value)


def test_empty_file_is_an_error(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(ContractError, match="empty"):
        read_log(path)


def test_parquet_reads_like_csv(tmp_path):
    rows = [row(crossing_id="a", occupants="3"),
            row(crossing_id="b", direction="inbound", crossed_at="2025-03-04T12:00:00Z")]
    csv_path = write_csv(tmp_path, rows)
    typed = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    typed["occupants"] = pd.to_numeric(typed["occupants"])
    parquet_path = tmp_path / "log.parquet"
    typed.to_parquet(parquet_path)
    a, b = read_log(csv_path).frame, read_log(parquet_path).frame
    pd.testing.assert_frame_equal(a, b)


def test_record_and_frame_give_the_same_canonical_values():
    """The service's parse and the batch parse agree on every column."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(40):
        rows.append(row(crossing_id=f"c{i}", occupants=str(rng.integers(1, 6)),
                        registration_age_days=rng.choice(["", "5", "700"]),
                        vehicle_class=rng.choice(["personal", "truck"]),
                        trailer_empty=rng.choice(["", "true", "0"]),
                        crossed_at=f"2025-0{rng.integers(1, 9)}-1{rng.integers(0, 9)}"
                                   f"T0{rng.integers(0, 9)}:15:00{rng.choice(['Z', '-07:00'])}"))
    frame = parse_frame(raw(rows)).frame
    for i, r in enumerate(rows):
        record = parse_record(r)
        for name, value in record.items():
            expected = frame.loc[i, name]
            if isinstance(value, float) and math.isnan(value):
                assert pd.isna(expected), name
            elif value is None:
                assert pd.isna(expected), name
            else:
                assert value == expected, name


def test_record_errors_name_the_field():
    with pytest.raises(ContractError, match="column port_code: value 'abc'") as info:
        parse_record(dict(BASE, port_code="abc"))
    assert info.value.column == "port_code"
    with pytest.raises(ContractError, match="column crossed_at: is required"):
        parse_record(dict(BASE, crossed_at=None))


#: a value no column of any kind takes
_NOT_ANY = "\u00bfwhat?"


@pytest.mark.parametrize("name", [c.name for c in COLUMNS
                                  if c.kind not in ("text", "id")], ids=str)
def test_every_kind_of_column_says_what_the_value_is_not(tmp_path, name):
    """The message of a bad value reads "value X is not <what is allowed>", whatever the
    column's kind (a timestamp's message once dropped the "not")."""
    path = write_csv(tmp_path, [row(crossing_id="a"), row(crossing_id="b", **{name: _NOT_ANY})])
    with pytest.raises(ContractError) as info:
        read_log(path)
    assert f"column {name}: value {_NOT_ANY!r} is not " in str(info.value)


# --- doubtful input: contradictory outcomes, ports the table lacks -------------------

from scoring.contract import SEIZED_AMOUNTS, outcome_problem  # noqa: E402
from scoring.ports import PortTableError, known_ports, read_ports  # noqa: E402

CONTRADICTIONS = [
    (dict(inspected="true", seizure="false"), "is more than 0 but seizure is false"),
    (dict(inspected="false", seizure=""), "is more than 0 but inspected is not true"),
    (dict(inspected="", seizure=""), "is more than 0 but inspected is not true"),
]


@pytest.mark.parametrize("amount", SEIZED_AMOUNTS)
@pytest.mark.parametrize("outcome, match", CONTRADICTIONS,
                         ids=["no-seizure", "not-inspected", "unresolved"])
def test_a_contradictory_outcome_is_named_with_file_row_column_and_value(tmp_path, amount,
                                                                         outcome, match):
    path = write_csv(tmp_path, [row(crossing_id="a"),
                                row(crossing_id="b", **outcome, **{amount: "3"})])
    with pytest.raises(ContractError, match=match) as info:
        read_log(path)
    assert str(info.value).startswith(f"{path}, row 3, column {amount}: value '3'")
    # the same rule for one record, and in skip mode the row is set aside, not learnt from
    values = parse_frame(raw([row(**outcome)])).frame.iloc[0].to_dict()
    assert outcome_problem(dict(values, **{amount: 3.0})) == (amount, match)
    result = parse_frame(raw([row(crossing_id="a"), row(crossing_id="b", **outcome,
                                                         **{amount: "3"})]), on_error="skip")
    assert list(result.frame["crossing_id"]) == ["a"]
    assert amount in result.rejected["reason"].iloc[0]


@pytest.mark.parametrize("amount", SEIZED_AMOUNTS)
def test_zero_amounts_and_real_seizures_are_consistent(amount):
    rows = [row(crossing_id="a", inspected="true", seizure="false", **{amount: "0"}),
            row(crossing_id="b", inspected="true", seizure="true", **{amount: "3"}),
            row(crossing_id="c", inspected="false", **{amount: ""})]
    assert len(parse_frame(raw(rows)).frame) == 3


def test_ports_the_table_lacks_are_read_and_reported_with_counts(tmp_path):
    rows = [row(crossing_id="a"), row(crossing_id="b", port_code="9999"),
            row(crossing_id="c", port_code="9999"), row(crossing_id="d", port_code="0001")]
    path = write_csv(tmp_path, rows)
    result = read_log(path)
    assert list(result.frame["crossing_id"]) == ["a", "b", "c", "d"]  # not refused
    assert result.unknown_ports == {"0001": 1, "9999": 2}
    assert read_log(write_csv(tmp_path, [row()], "known.csv")).unknown_ports == {}
    # a site's own table (SOUTHBOUND_PORTS_FILE for the commands) makes them known
    assert parse_frame(raw(rows), known_ports=known_ports() + ("9999",)).unknown_ports \
        == {"0001": 1}


def test_the_port_table_is_read_by_column_name(tmp_path, monkeypatch):
    shipped = known_ports()
    assert "2304" in shipped and len(shipped) == 28 and shipped == tuple(sorted(shipped))
    extra = tmp_path / "ports.csv"
    extra.write_text("time_zone,port_name,port_code\nAmerica/Chicago,Test port,9999\n")
    assert read_ports(extra) == {"9999": {"time_zone": "America/Chicago",
                                          "port_name": "Test port", "port_code": "9999"}}
    assert known_ports(str(extra)) == tuple(sorted(shipped + ("9999",)))
    monkeypatch.setenv("SOUTHBOUND_PORTS_FILE", str(extra))
    assert read_log(write_csv(tmp_path, [row(port_code="9999")])).unknown_ports == {}


@pytest.mark.parametrize("text, match", [
    ("port_name\nX\n", "has no column 'port_code'"),
    ("port_code,port_name\n99X9,X\n", r"row 2, column port_code: value '99X9' is not a 4-digit"),
    ("port_code,port_name\n9999,X\n9999,Y\n", "row 3, column port_code: value '9999' appears"),
], ids=["no-code-column", "bad-code", "twice"])
def test_a_bad_port_table_names_file_row_and_column(tmp_path, text, match):
    path = tmp_path / "ports.csv"
    path.write_text(text)
    with pytest.raises(PortTableError, match=match):
        read_ports(path)


def test_both_timestamp_parsers_agree_on_every_edge():
    """The frame path (pandas) and the record path (Python's datetime) take and refuse
    the same timestamps and give the same instant, on a grid of edges (years outside
    1900-2199, day 0 and 30 February, hour 24, second 60, long fractions, offsets past
    23:59 or with 60 minutes), shuffled so no row is judged by its neighbours."""
    import itertools
    import random
    from scoring.contract.timestamps import parse_timestamps
    parts = (["0000", "0001", "1000", "1899", "1900", "2024", "2199", "2200", "2262", "9999"],
             ["01-01", "02-29", "02-30", "00-01", "13-01", "04-31", "12-31"],
             ["T", " "],
             ["00:00", "23:59:59", "24:00", "23:59:60", "12:60", "00:00:00.1234567",
              "12:00:00.5"],
             ["Z", "+00:00", "-0600", "+14:00", "+24:00", "-23:59", "+0560", "-00:00"])
    texts = ["{}-{}{}{}{}".format(*p) for p in itertools.product(*parts)]
    random.Random(0).shuffle(texts)
    micros, offsets, bad = parse_timestamps(pd.Series(texts))
    for text, m, o, b in zip(texts, micros, offsets, bad):
        try:
            want = parse_timestamp(text)
        except ValueError:
            assert b, text
            continue
        assert not b and (m, o) == want, text
    assert 0 < bad.sum() < len(texts)


@pytest.mark.parametrize("column, cells, bad", [
    # all digits: the digits' fast path decides (a port is four of them)
    ("port_code", ["2304", "02304", "230"], [False, True, True]),
    ("occupants", ["2", "0", "17"], [False, True, False]),
    # something else among them: the pattern decides, for every cell
    ("port_code", ["2304", "٢٣٠٤", "2304"], [False, True, False]),
    ("occupants", ["2", "2.0", "1e1", "x"], [False, False, False, True]),
    ("registration_age_days", ["12", "", " 7 ", "１２"], [False, False, False, True]),
], ids=["port-digits", "count-digits", "port-other-digits", "count-forms", "spaces-width"])
def test_whole_numbers_read_fast_are_judged_as_the_pattern_judges_them(column, cells, bad):
    """Columns of plain digits skip the regular expression; a cell of another form sends
    the column through it. Either way each cell is refused exactly when one crossing's
    own check (``parse_record``) refuses it, and the accepted values are the same."""
    rows = [row(crossing_id=f"x{i}", **{column: cell}) for i, cell in enumerate(cells)]
    result = parse_frame(raw(rows), on_error="skip")
    assert sorted(result.rejected["row"] - 2) == [i for i, b in enumerate(bad) if b]
    for i, cell in enumerate(cells):
        try:
            record = parse_record(rows[i])
        except ContractError:
            assert bad[i], cell
            continue
        assert not bad[i], cell
        kept = result.frame.set_index("crossing_id").loc[f"x{i}", column]
        assert kept == record[column] or (pd.isna(kept) and pd.isna(record[column]))


def test_each_kind_is_checked_by_one_entry_of_the_kinds_table():
    """A column's kind names one entry of the table, whose ``one`` serves the service
    and whose ``many`` the log reader: no kind without its check, no check unused."""
    from scoring.contract import TEXT_KINDS
    from scoring.contract.kinds import KINDS
    assert {c.kind for c in COLUMNS} == set(KINDS)
    assert set(TEXT_KINDS) < set(KINDS)


@pytest.mark.parametrize("ids, repeated", [
    (["a1", "a2", "b"], []),                  # in order: the neighbours' check decides
    (["a1", "a2", "a2", "b"], [2]),           # in order but for a repeat: hashed
    (["b", "a1", "b"], [2]),                  # out of order
    (["a10", "a9"], []),
], ids=["increasing", "repeat-in-order", "repeat-out-of-order", "decreasing"])
def test_repeated_ids_are_found_in_or_out_of_order(ids, repeated):
    rows = [row(crossing_id=i) for i in ids]
    result = parse_frame(raw(rows), on_error="skip")
    assert (result.rejected["row"] - 2).tolist() == repeated
    assert all("repeated crossing_id" in r for r in result.rejected["reason"])


def test_a_lookout_referral_is_read_and_trained_on_with_selection_probability_1(tmp_path):
    """The contract's ``lookout`` value: read from CSV and Parquet, its probability 1
    where the log leaves it empty, and training's propensity takes it as certain (an
    officer's pick without one is estimated)."""
    from training.evaluate import propensity
    rows = ([row(crossing_id=f"n{i}", plate_id=f"q{i}", selection_probability="")
             for i in range(40)]
            + [row(crossing_id=f"o{i}", referral="officer", selection_probability="",
                   inspected="true", seizure="false") for i in range(4)]
            + [row(crossing_id="l1", referral="lookout", selection_probability="",
                   inspected="true", seizure="true"),
               row(crossing_id="l2", referral="lookout", selection_probability="1",
                   inspected="false")])
    path = write_csv(tmp_path, rows)
    frame = read_log(path).frame.set_index("crossing_id")
    assert list(frame.loc[["l1", "l2"], "referral"]) == ["lookout", "lookout"]
    assert list(frame.loc[["l1", "l2"], "selection_probability"]) == [1.0, 1.0]
    assert parse_record(dict(row(referral="lookout", selection_probability="")))[
        "selection_probability"] == 1.0
    typed = pd.read_csv(path, dtype=str, keep_default_na=False)
    typed.to_parquet(tmp_path / "log.parquet")
    pd.testing.assert_frame_equal(read_log(tmp_path / "log.parquet").frame.set_index("crossing_id"),
                                  frame)
    pi = pd.Series(propensity(frame.reset_index(), pd.DataFrame(
        {"x": np.arange(len(frame), dtype=float)})), index=frame.index)
    assert pi["l1"] == 1.0 and pi["l2"] == 1.0
    assert (pi[[f"o{i}" for i in range(4)]] < 1).all()


def test_a_lookout_referral_with_another_probability_is_a_bad_row(tmp_path):
    path = write_csv(tmp_path, [row(crossing_id="a"),
                                row(crossing_id="b", referral="lookout",
                                    selection_probability="0.3")])
    with pytest.raises(ContractError, match="row 3, column selection_probability: value '0.3': "
                                            "a lookout referral has selection probability 1"):
        read_log(path)
    with pytest.raises(ContractError, match="a lookout referral has selection probability 1"):
        parse_record(dict(row(referral="lookout", selection_probability="0.3")))


# the plausible ranges: (column, cells in range, cells out of range); BASE crosses in 2025
RANGES = [
    ("occupants", ["1", "81", "200", "2.0"], ["0", "201", "1000000"]),
    ("registration_age_days", ["0", "36525"], ["-1", "36526", "99999999"]),
    ("vehicle_model_year", ["1900", "2025", "2026"], ["1899", "2027", "3000", "-5"]),
]


@pytest.mark.parametrize("column, good, bad", RANGES, ids=[r[0] for r in RANGES])
@pytest.mark.parametrize("form", ["csv", "parquet-typed", "record"])
def test_a_value_out_of_its_plausible_range_is_a_bad_row(tmp_path, column, good, bad, form):
    """The same rule in the log reader (CSV's fast whole-number path, typed Parquet) and
    in the service's parse: a value out of range is a bad row, set aside with skip."""
    cells = good + bad
    rows = [row(crossing_id=f"r{i}", **{column: cell}) for i, cell in enumerate(cells)]
    if form == "record":
        for r, cell in zip(rows, cells):
            if cell in good:
                assert parse_record(r)[column] == float(cell)
            else:
                with pytest.raises(ContractError, match=f"column {column}: value '{cell}'"):
                    parse_record(r)
        return
    path = write_csv(tmp_path, rows)
    if form == "parquet-typed":
        typed = pd.read_csv(path, dtype=str, keep_default_na=False)
        typed[column] = pd.to_numeric(typed[column]).astype("int64")
        path = tmp_path / "log.parquet"
        typed.to_parquet(path)
    result = read_log(path, on_error="skip")
    assert list(result.frame[column]) == [float(c) for c in good]
    assert len(result.rejected) == len(bad)
    assert result.rejected["reason"].str.startswith(f"column {column}: value ").all()
    with pytest.raises(ContractError, match=f"row {len(good) + read_first_row(path)}, "
                                            f"column {column}: value "):
        read_log(path)


def read_first_row(path):
    return 1 if str(path).endswith(".parquet") else 2


def test_the_range_messages_say_the_range():
    with pytest.raises(ContractError, match="value '1000000' is not an integer from 1 to 200"):
        parse_frame(raw([row(occupants="1000000")]))
    with pytest.raises(ContractError, match="value '3000' is not an integer from 1900 to the "
                                            "crossing's year \\+ 1"):
        parse_frame(raw([row(vehicle_model_year="3000")]))
    with pytest.raises(ContractError, match="value '2027': a model year more than one year "
                                            "after the year of the crossing"):
        parse_record(row(vehicle_model_year="2027"))


@pytest.mark.parametrize("text", ["1800-01-01T00:00:00Z", "2200-01-01T00:00:00-06:00",
                                  "0001-01-01T00:00:00Z"])
def test_a_timestamp_outside_the_contracts_years_is_told_so(text):
    message = "column crossed_at: value '{}' is outside the years 1900-2199".format(text)
    with pytest.raises(ContractError, match=message):
        parse_frame(raw([row(crossed_at=text)]))
    with pytest.raises(ContractError, match=message):
        parse_record(row(crossed_at=text))


# --- identifiers: NFKC, no control or format characters, case kept ---------------------

ODD_IDS = [
    ("PLOOK1\u200b", "holds U+200B (ZERO WIDTH SPACE), a format character"),
    ("P\u202eKOOL", "holds U+202E (RIGHT-TO-LEFT OVERRIDE), a format character"),
    ("\ufeffP1", "holds U+FEFF (ZERO WIDTH NO-BREAK SPACE), a format character"),
    ("P\u00ad1", "holds U+00AD (SOFT HYPHEN), a format character"),
    ("P\u200d1", "holds U+200D (ZERO WIDTH JOINER), a format character"),
    ("P\x011", "holds U+0001, a control character"),
    ("P\x1b[31m1", "holds U+001B, a control character"),
    ("P\u00851", "holds U+0085, a control character"),
]
_ODD_IDS = ["zero-width-space", "rtl-override", "bom", "soft-hyphen", "zwj", "soh", "escape",
            "nel"]


@pytest.mark.parametrize("column", ["crossing_id", "plate_id", "carrier_id"])
@pytest.mark.parametrize("value, match", ODD_IDS, ids=_ODD_IDS)
def test_an_identifier_with_a_control_or_format_character_is_a_bad_row(tmp_path, column,
                                                                        value, match):
    import re
    path = write_csv(tmp_path, [row(crossing_id="a"), row(**{"crossing_id": "b", column: value})])
    with pytest.raises(ContractError, match=re.escape(match)) as info:
        read_log(path)
    assert str(info.value).startswith(f"{path}, row 3, column {column}: value {value!r} holds")
    with pytest.raises(ContractError, match=re.escape(match)) as info:  # as the API reads
        parse_record(row(**{column: value}))
    assert info.value.column == column


def test_identifiers_are_kept_in_nfkc_with_their_case():
    rows = [row(crossing_id="\uff38\uff11", plate_id="\uff30LOOK1", carrier_id="c\u2460"),
            row(crossing_id="x2", plate_id="plook1", carrier_id="Ｃ-7")]
    frame = parse_frame(raw(rows)).frame
    assert list(frame["crossing_id"]) == ["X1", "x2"]
    assert list(frame["plate_id"]) == ["PLOOK1", "plook1"]
    assert list(frame["carrier_id"]) == ["c1", "C-7"]
    one = parse_record(rows[0])
    assert (one["crossing_id"], one["plate_id"], one["carrier_id"]) == ("X1", "PLOOK1", "c1")


def test_the_log_and_the_service_judge_identifiers_alike():
    """The frame's execution (ASCII cells skipped, the others one by one) and the
    record's give the same value or the same refusal, cell by cell."""
    from scoring.contract.kinds import identifier
    cells = ["P1", "p 1", "P-1/2", "\uff30\uff11", "Ｐ１\u200b", "é", "e\u0301", "ß", "P\t1",
             "\u2126", "x\x7f", "I\u0307", "\U0001F697", "\u3000P"]
    result = parse_frame(raw([row(crossing_id=f"x{i}", plate_id=c)
                              for i, c in enumerate(cells)]), on_error="skip")
    kept = result.frame.set_index("crossing_id")["plate_id"]
    for i, cell in enumerate(cells):
        try:
            expected = identifier(cell.strip())
        except ValueError:
            expected = None
        assert kept.get(f"x{i}") == expected, cell
