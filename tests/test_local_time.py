"""Local time at a port comes from the port's own time zone, never from the offset a
row was written with: the same instant written in UTC, in the port's offset or in
another offset gives the same hour, weekday and reasons, across daylight-saving
changes, in the offline and the online execution alike."""
from __future__ import annotations

import pandas as pd
import pytest

from scoring.batch import score_frame
from scoring.contract import format_timestamp, parse_frame, parse_record, parse_timestamp
from scoring.features import context_frame, context_record
from scoring.ports import PortTableError, port_zones, read_ports
from tests.helpers.logs import raw, row

# (port, instant in UTC, local hour, weekday) around the 2025 changes (9 March and
# 2 November, 2:00 local): Laredo (Central), El Paso (Mountain, in Texas), Nogales
# (Arizona: no daylight saving), San Ysidro (Pacific)
CASES = [
    ("2504", "2025-12-20T03:01:03Z", 19, 4),   # Friday evening in San Ysidro
    ("2304", "2025-03-09T07:30:00Z", 1, 6),    # Laredo, before the spring change
    ("2304", "2025-03-09T08:30:00Z", 3, 6),    # an hour later: 2:30 never happened
    ("2402", "2025-03-09T08:30:00Z", 1, 6),    # El Paso keeps Mountain time
    ("2402", "2025-03-09T09:30:00Z", 3, 6),
    ("2604", "2025-03-09T09:30:00Z", 2, 6),    # Nogales: no change
    ("2604", "2025-07-01T19:00:00Z", 12, 1),
    ("2304", "2025-11-02T06:30:00Z", 1, 6),    # Laredo, 1:30 CDT
    ("2304", "2025-11-02T07:30:00Z", 1, 6),    # 1:30 CST: the hour repeats
    ("2506", "2025-11-02T10:30:00Z", 2, 6),    # Otay Mesa after the autumn change
]


def _writings(instant):
    """The same instant written in UTC, in two other offsets."""
    micros, _ = parse_timestamp(instant)
    return [format_timestamp(micros, 0), format_timestamp(micros, -360),
            format_timestamp(micros, 330)]


def test_the_port_table_gives_every_shipped_port_a_zone():
    zones = port_zones()
    assert len(zones) == len(read_ports(__import__("scoring.paths").paths.ports_file()))
    assert zones["2402"].key == "America/Denver" and zones["2604"].key == "America/Phoenix"


@pytest.mark.parametrize("port,instant,hour,weekday", CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_the_same_instant_gives_the_ports_local_time_however_written(port, instant, hour,
                                                                     weekday):
    rows = [row(crossing_id=f"c{i}", crossed_at=text, port_code=port)
            for i, text in enumerate(_writings(instant))]
    offline = context_frame(parse_frame(raw(rows)).frame)
    assert offline["local_hour"].tolist() == [hour] * 3
    assert offline["local_weekday"].tolist() == [weekday] * 3
    for r in rows:
        online = context_record(parse_record(r))
        assert (online["local_hour"], online["local_weekday"]) == (hour, weekday)


def test_a_port_without_a_zone_has_its_local_time_missing(tmp_path, monkeypatch):
    extra = tmp_path / "ports.csv"
    extra.write_text("port_code,port_name\n2399,Private crossing\n")
    monkeypatch.setenv("SOUTHBOUND_PORTS_FILE", str(extra))
    rows = [row(crossing_id="a", port_code="2399"), row(crossing_id="b", port_code="9999")]
    offline = context_frame(parse_frame(raw(rows)).frame)
    assert offline["local_hour"].isna().all() and offline["local_weekday"].isna().all()
    online = context_record(parse_record(rows[0]))
    assert online["local_hour"] != online["local_hour"]  # NaN


def test_a_bad_time_zone_names_its_file_row_and_column(tmp_path):
    path = tmp_path / "ports.csv"
    path.write_text("port_code,port_name,time_zone\n2399,Private,America/Chicago\n"
                    "2398,Other,Mars/Olympus\n")
    with pytest.raises(PortTableError, match=r"row 3, column time_zone: value 'Mars/Olympus'"):
        read_ports(path)


def test_a_log_written_in_utc_gets_the_same_scores_and_reasons(world_frame, trained):
    """Today's world rewritten with every timestamp in UTC: the same features, scores
    and reasons as the log in local offsets (reasons say local time)."""
    model, manifest = trained
    frame = world_frame.iloc[:3000]
    utc = frame.assign(utc_offset_min=0)
    local = score_frame(model, frame)
    written_in_utc = score_frame(model, utc)
    pd.testing.assert_frame_equal(local, written_in_utc)


def test_a_sites_own_port_is_named_in_reasons(tmp_path, monkeypatch):
    from scoring.reasons import port_name
    extra = tmp_path / "ports.csv"
    extra.write_text("port_code,port_name,time_zone\n2399,Private crossing,America/Chicago\n")
    monkeypatch.setenv("SOUTHBOUND_PORTS_FILE", str(extra))
    assert port_name("2399") == "Private crossing" and port_name("2304") == "Laredo"
    online = context_record(parse_record(row(port_code="2399",
                                             crossed_at="2025-03-04T23:22:05Z")))
    assert online["local_hour"] == 17.0
