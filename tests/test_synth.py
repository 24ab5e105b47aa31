"""Tests of the synthetic port world: contract, determinism, calibration, signals."""
import numpy as np
import pandas as pd
import pytest

from training.synth import (LOG_COLUMNS, TRUTH_COLUMNS, WorldConfig, generate_world,
                            summarize, write_world)

CONTRACT_COLUMNS = [
    "crossing_id", "crossed_at", "direction", "port_code", "vehicle_class", "body_type",
    "plate_id", "plate_jurisdiction", "vehicle_make", "vehicle_model_year",
    "registration_age_days", "occupants", "carrier_id", "trailer_empty",
    "manifest_value_usd", "referral", "selection_probability", "inspected", "seizure",
    "firearms_seized", "rounds_seized", "currency_seized_usd"]
OUTCOMES = ["referral", "selection_probability", "inspected", "seizure",
            "firearms_seized", "rounds_seized", "currency_seized_usd"]
ENUMS = {
    "direction": {"outbound", "inbound"},
    "vehicle_class": {"personal", "truck", "bus"},
    "body_type": {"sedan", "suv", "pickup", "van", "motorcycle", "tractor_trailer",
                  "box_truck", "bus", "other", ""},
    "referral": {"none", "random", "officer", ""},
    "inspected": {"true", "false", ""},
    "seizure": {"true", "false", ""},
    "trailer_empty": {"true", "false", ""},
}
TEXT_FORMS = {
    "crossing_id": r"X[0-9a-f]{6}-\d{7,}",
    "port_code": r"\d{4}",
    "plate_id": r"P[0-9a-f]{6}-[0-9a-f]{10}",
    "plate_jurisdiction": r"(|UNK|(US|MX)-[A-Z]{2,3})",
    "vehicle_model_year": r"(|(19|20)\d\d)",
    "registration_age_days": r"(|\d+)",
    "occupants": r"(|[1-9]\d*)",
    "carrier_id": r"(|C[0-9a-f]{6}-\d{6})",
    "manifest_value_usd": r"(|\d+)",
    "firearms_seized": r"(|\d+)",
    "rounds_seized": r"(|\d+)",
    "currency_seized_usd": r"(|\d+)",
}
SMALL = WorldConfig(days=30, scale=0.002, seed=3)


@pytest.fixture(scope="module")
def small_world():
    return generate_world(SMALL)


@pytest.fixture(scope="module")
def outbound(small_world):
    """Outbound rows with their truth, aligned."""
    log, truth = small_world
    out = log[log["direction"] == "outbound"].reset_index(drop=True)
    assert out["crossing_id"].tolist() == truth["crossing_id"].tolist()
    return out, truth.reset_index(drop=True)


@pytest.fixture(scope="module")
def bigger():
    """Enough referrals for hit rates and signal strength to mean something."""
    return generate_world(WorldConfig(days=90, scale=0.005, seed=0))


def _instants(log):
    return pd.to_datetime(log["crossed_at"], format="ISO8601", utc=True)


def _plate_history(log):
    """Per outbound row: hours since the plate's last inbound, and whether it entered elsewhere."""
    df = pd.DataFrame({"plate": log["plate_id"], "t": _instants(log),
                       "inbound": log["direction"] == "inbound", "port": log["port_code"]})
    df["in_t"], df["in_port"] = df["t"].where(df["inbound"]), df["port"].where(df["inbound"])
    prior = df.groupby("plate")[["in_t", "in_port"]].shift()
    prior = prior.groupby(df["plate"]).ffill()
    last_in, last_port = prior["in_t"], prior["in_port"]
    out = ~df["inbound"]
    hours = ((df["t"] - last_in) / pd.Timedelta(hours=1))[out].to_numpy()
    switched = (last_port.notna() & (last_port != df["port"]))[out].to_numpy()
    return hours, switched


# --- determinism ------------------------------------------------------------

def test_same_seed_gives_identical_world(small_world):
    log, truth = generate_world(SMALL)
    pd.testing.assert_frame_equal(log, small_world[0])
    pd.testing.assert_frame_equal(truth, small_world[1])


def test_other_seed_gives_other_world(small_world):
    log, _ = generate_world(WorldConfig(days=30, scale=0.002, seed=4))
    assert not log["plate_id"].head(100).equals(small_world[0]["plate_id"].head(100))


def test_two_worlds_never_share_an_id_and_the_prefix_is_an_option(runner, tmp_path):
    """Ids carry a tag of the world's parameters: another seed, length or variant gives
    other ids (a log of one world never replaces another's rows by id), the same config
    the same ids; --id-prefix sets it ('' gives bare numbers) and is checked."""
    from southbound.cli import main
    ids = {}
    for name, args in {"a": ["--seed", "1"], "b": ["--seed", "2"],
                       "c": ["--seed", "1", "--variant", "tactics-shift"],
                       "a again": ["--seed", "1"], "bare": ["--seed", "1", "--id-prefix", ""],
                       "site": ["--seed", "1", "--id-prefix", "nog_"]}.items():
        out = tmp_path / f"{name.replace(' ', '-')}.csv"
        result = runner.invoke(main, ["generate", "--days", "2", "--scale", "0.002",
                                      "--out", str(out)] + args)
        assert result.exit_code == 0, result.output
        log = pd.read_csv(out, dtype=str, keep_default_na=False)
        truth = pd.read_csv(out.with_name(out.stem + ".truth.csv"), dtype=str)
        assert set(truth["crossing_id"]) <= set(log["crossing_id"])
        ids[name] = log
    assert not set(ids["a"]["crossing_id"]) & set(ids["b"]["crossing_id"])
    assert not set(ids["a"]["crossing_id"]) & set(ids["c"]["crossing_id"])
    assert not set(ids["a"]["plate_id"]) & set(ids["b"]["plate_id"])
    pd.testing.assert_frame_equal(ids["a"], ids["a again"])
    assert ids["bare"]["crossing_id"].iloc[0] == "X0000001"
    assert ids["site"]["crossing_id"].iloc[0] == "Xnog_0000001"
    assert ids["site"]["plate_id"].str.startswith("Pnog_").all()
    for column in ids["a"].columns:   # the tag is the only difference
        if column not in ("crossing_id", "plate_id", "carrier_id"):
            pd.testing.assert_series_equal(ids["a"][column], ids["bare"][column])
    refused = runner.invoke(main, ["generate", "--id-prefix", "no spaces", "--out",
                                   str(tmp_path / "x.csv")])
    assert refused.exit_code == 2 and "--id-prefix" in refused.output


def test_written_files_are_byte_identical(tmp_path, small_world):
    first = write_world(*small_world, tmp_path / "a" / "world.csv")
    second = write_world(*generate_world(SMALL), tmp_path / "b" / "world.csv")
    assert first[1].name == "world.truth.csv"
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes()


# --- contract ---------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    ({"days": 0}, "days 0"), ({"scale": -1.0}, "scale -1.0"),
    ({"carrier_share": 1.5}, "carrier_share 1.5"), ({"random_share": -0.1}, "random_share"),
], ids=["days", "scale", "carrier_share", "random_share"])
def test_config_names_the_bad_value(change, message):
    with pytest.raises(ValueError, match=message):
        WorldConfig(**change)


def test_columns_are_the_contract_in_order(small_world):
    log, truth = small_world
    assert list(log.columns) == CONTRACT_COLUMNS == list(LOG_COLUMNS)
    assert list(truth.columns) == list(TRUTH_COLUMNS)


@pytest.mark.parametrize("column", list(ENUMS), ids=list(ENUMS))
def test_enumerations_take_allowed_values(small_world, column):
    assert set(small_world[0][column].unique()) <= ENUMS[column]


@pytest.mark.parametrize("column", list(TEXT_FORMS), ids=list(TEXT_FORMS))
def test_text_forms(small_world, column):
    assert small_world[0][column].str.fullmatch(TEXT_FORMS[column]).all()


def test_ids_unique_and_rows_in_time_order(small_world):
    log = small_world[0]
    assert log["crossing_id"].is_unique
    assert log["crossed_at"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d").all()
    assert _instants(log).is_monotonic_increasing


def test_offsets_follow_each_ports_zone_across_dst():
    log, _ = generate_world(WorldConfig(days=8, start="2025-03-05", scale=0.002, seed=1))
    date, offset = log["crossed_at"].str[:10], log["crossed_at"].str[-6:]
    before, after = date < "2025-03-09", date > "2025-03-09"
    expected = {"2304": ("-06:00", "-05:00"), "2402": ("-07:00", "-06:00"),
                "2604": ("-07:00", "-07:00"), "2504": ("-08:00", "-07:00")}
    for port, (winter, summer) in expected.items():
        at = log["port_code"] == port
        assert set(offset[at & before]) == {winter}, port
        assert set(offset[at & after]) == {summer}, port


def test_outcomes_only_on_outbound(small_world):
    log = small_world[0]
    inbound = log[log["direction"] == "inbound"]
    assert (inbound[OUTCOMES] == "").all().all()
    assert (log.loc[log["direction"] == "outbound", ["referral", "selection_probability",
                                                      "inspected"]] != "").all().all()


def test_seizure_known_exactly_when_inspected(outbound):
    out, _ = outbound
    inspected = out["inspected"] == "true"
    assert (inspected == (out["referral"] != "none")).all()
    for column in ("seizure", "firearms_seized", "rounds_seized", "currency_seized_usd"):
        assert ((out[column] == "") == ~inspected).all(), column
    nothing = out["seizure"] == "false"
    assert (out.loc[nothing, ["firearms_seized", "rounds_seized", "currency_seized_usd"]]
            == "0").all().all()


def test_selection_probability_in_unit_interval(outbound):
    out, _ = outbound
    p = out["selection_probability"].astype(float)
    assert ((p > 0) & (p <= 1) & (p >= SMALL.random_share)).all()
    digits = out["selection_probability"].str.replace(".", "", regex=False).str.lstrip("0")
    assert (digits.str.len() <= 6).all()


def test_truck_columns_only_on_trucks(small_world):
    log = small_world[0]
    truck = log["vehicle_class"] == "truck"
    for column in ("carrier_id", "trailer_empty", "manifest_value_usd"):
        assert (log.loc[~truck, column] == "").all(), column
        assert (log.loc[truck, column] != "").all(), column
    empty = log["trailer_empty"] == "true"
    assert (log.loc[empty, "manifest_value_usd"] == "0").all()


def test_plates_are_persistent_vehicles(small_world):
    log = small_world[0]
    per_plate = log.groupby("plate_id")[["plate_jurisdiction", "vehicle_make", "body_type",
                                         "vehicle_model_year", "carrier_id"]].nunique()
    assert (per_plate <= 1).all().all()
    assert log.groupby("plate_id").size().max() > 20          # commuters cross daily


def test_registration_ages_grow_with_time(small_world):
    log = small_world[0]
    known = log[log["registration_age_days"] != ""]
    day = pd.to_datetime(known["crossed_at"].str[:10])
    issued = day - pd.to_timedelta(known["registration_age_days"].astype(int), unit="D")
    assert (issued.groupby(known["plate_id"]).nunique() == 1).all()


# --- truth and calibration --------------------------------------------------

def test_truth_describes_each_outbound_crossing(outbound):
    _, truth = outbound
    assert truth["carrier"].dtype == bool
    assert set(truth["actor"]) <= {"commuter", "traveller", "truck", "bus", "straw", "ant",
                                   "front"}
    loads = truth[["firearms", "rounds", "currency_usd"]]
    assert (loads[~truth["carrier"]] == 0).all().all()
    assert (loads[truth["carrier"]].sum(axis=1) > 0).all()
    assert set(truth.loc[truth["carrier"], "actor"]) <= {"straw", "ant", "front"}


def test_seizures_only_of_carriers(outbound):
    out, truth = outbound
    seized = out["seizure"] == "true"
    assert truth.loc[seized, "carrier"].all()
    assert (out.loc[seized, "firearms_seized"].astype(int)
            == truth.loc[seized, "firearms"]).all()


def test_volumes_match_the_ports(small_world):
    summary = summarize(*small_world)
    assert abs(summary["outbound"] / summary["inbound"] - 1) < 0.10
    assert {"2304", "2504"} <= set(summary["busiest_ports"])


def test_carrier_and_inspection_shares(small_world):
    summary = summarize(*small_world)
    assert SMALL.carrier_share / 2 < summary["carrier_share"] < SMALL.carrier_share * 2
    assert 0.015 < summary["inspected_share"] < 0.06


def test_officers_beat_random_referrals_but_weakly(bigger):
    log, truth = bigger
    summary = summarize(log, truth)
    assert summary["hit_rate_officer"] > summary["hit_rate_random"]
    out = log[log["direction"] == "outbound"]
    officer_p = (out["selection_probability"].astype(float).to_numpy() - 0.015) / 0.985
    lift = officer_p[truth["carrier"].to_numpy()].mean() / officer_p.mean()
    assert 1.5 < lift < 3                     # expected officer hit rate / random hit rate


def test_seized_plates_never_cross_again(bigger):
    log, _ = bigger
    t = _instants(log)
    seized = log["seizure"] == "true"
    last = t.groupby(log["plate_id"]).max()
    assert seized.any()
    assert (last[log.loc[seized, "plate_id"]].to_numpy() == t[seized].to_numpy()).all()


def test_history_signals_are_strong_but_shared_with_innocents(bigger):
    log, truth = bigger
    hours, switched = _plate_history(log)
    carrier = truth["carrier"].to_numpy()
    for signal in (hours < 6, switched):
        assert carrier[signal].mean() > 3 * carrier.mean()     # informative ...
        assert carrier[signal].mean() < 0.5                    # ... but no rule on its own
    recent = pd.to_numeric(log.loc[log["direction"] == "outbound",
                                   "registration_age_days"]).to_numpy() < 60
    assert carrier[recent].mean() > 3 * carrier.mean()
    assert (~carrier[recent]).sum() > carrier[recent].sum()


def test_tactics_drift_over_the_period(bigger):
    log, truth = bigger
    hours, switched = _plate_history(log)
    out = log[log["direction"] == "outbound"]
    late = (out["crossed_at"].str[:10] >= "2025-03-06").to_numpy()
    run = truth["carrier"].to_numpy() & (hours < 48)
    assert np.median(hours[run & late]) > np.median(hours[run & ~late])
    assert switched[run & late].mean() > switched[run & ~late].mean()


def test_parquet_and_csv_read_back_through_the_contract(tmp_path, small_world):
    from scoring.contract import read_log
    for name in ("world.csv", "world.parquet"):
        path, truth_path = write_world(*small_world, tmp_path / name)
        result = read_log(path)
        assert len(result.frame) == len(small_world[0]) and len(result.rejected) == 0
        assert len(pd.read_csv(truth_path)) == len(small_world[1])
    back = pd.read_csv(tmp_path / "world.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(back, small_world[0], check_dtype=False)


def test_a_world_written_in_shards_is_the_world_at_its_scale(tmp_path):
    """A world too large for memory is written shard by shard: independent shares of the
    world (their own plates, carriers and rings; ids that never meet), each file a
    readable log of one shard and month, the traffic of the one world at that scale."""
    from scoring.contract import read_log
    from training.synth import WorldConfig, generate_world
    from training.world.writer import write_dataset
    config = WorldConfig(days=40, seed=2, scale=0.01)
    rows, outbound, files = write_dataset(config, tmp_path / "world", rows_per_shard=70_000)
    parts = sorted((tmp_path / "world").glob("part-*.parquet"))
    assert files == len(parts) == 6   # 3 shards x 2 months
    assert {p.name[5:9] for p in parts} == {"0000", "0001", "0002"}
    log = pd.concat([read_log(p).frame for p in parts], ignore_index=True)
    assert len(log) == rows and int((log["direction"] == "outbound").sum()) == outbound
    assert log["crossing_id"].is_unique
    shard = log["crossing_id"].str.slice(1, 5)
    for column in ("plate_id", "carrier_id"):   # an entity lives in one shard
        owners = log.dropna(subset=[column]).groupby(column)["crossing_id"].agg(
            lambda ids: ids.str.slice(1, 5).nunique())
        assert (owners == 1).all(), column
    assert shard.nunique() == 3
    for part in parts:   # each file: one month of its shard's written dates
        written = pd.read_parquet(part, columns=["crossing_id", "crossed_at"])
        assert set(written["crossing_id"].str.slice(1, 5)) == {part.name[5:9]}
        assert set(written["crossed_at"].str.slice(0, 7)) == {part.stem[10:]}
    truth = pd.read_parquet(tmp_path / "world" / "truth")
    assert set(truth["crossing_id"]) == set(log.loc[log["direction"] == "outbound", "crossing_id"])
    one, one_truth = generate_world(config)
    assert abs(rows / len(one) - 1) < 0.03
    assert abs(truth["carrier"].mean() / one_truth["carrier"].mean() - 1) < 0.15
    assert (log["seizure"] == 1.0).sum() > 0
    with pytest.raises(FileExistsError):
        write_dataset(config, tmp_path / "world")


def test_generate_writes_a_dataset_into_a_folder_and_above_scale_1_only_there(runner,
                                                                               tmp_path):
    from southbound.cli import main
    result = runner.invoke(main, ["generate", "--days", "3", "--scale", "0.01", "--out",
                                  str(tmp_path / "world")])
    assert result.exit_code == 0, result.output
    parts = list((tmp_path / "world").glob("part-*.parquet"))
    assert parts and f"to {len(parts)} Parquet file{'s' if len(parts) > 1 else ''} in" \
        in result.output
    assert list((tmp_path / "world").glob("part-0000-*.parquet"))
    refused = runner.invoke(main, ["generate", "--scale", "2", "--out",
                                   str(tmp_path / "w.csv")])
    assert refused.exit_code == 2 and "--scale" in refused.output
    again = runner.invoke(main, ["generate", "--days", "3", "--scale", "0.01", "--out",
                                 str(tmp_path / "world")])
    assert again.exit_code == 2 and "exists" in again.output
