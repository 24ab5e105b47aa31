"""Tests of the world's variants: each reads through the contract, shows what defines it,
is deterministic, and leaves the base world as it was."""
import hashlib

import numpy as np
import pandas as pd
import pytest

from scoring.contract import read_log
from scoring.features import context_frame
from southbound.cli import main
from training.synth import WorldConfig, generate_world, write_world
from training.world.variants import (CONVOY_RINGS, MISSING_COLUMNS, OFFICER_CUES, TACTICS_SHIFT,
                                     UTC_EXPORT, VARIANTS)

SMALL = dict(days=30, seed=3, scale=0.003)
NAMES = [name for name in VARIANTS if name != "base"]
RINGS = ("straw", "ant")
#: sha256 of the base world WorldConfig(days=30, seed=3, scale=0.002) written as CSV
#: (log, truth), as the world was before it was split and had variants (and, with
#: ``id_prefix=""``, before its ids carried the world's tag)
BASE_HASHES = ("4ebb50ee32e0f923aaa7c40ec315615219f2e648ce3821febb27d534d30d4904",
               "f7bcef2679fa887249274eac8e6f5b2d1335ef0d7e35775f7c7289e9f73cc798")


@pytest.fixture(scope="module")
def worlds():
    """Small worlds of every variant, base included, built once: name -> (log, truth)."""
    return {name: generate_world(WorldConfig(**SMALL, variant=name)) for name in VARIANTS}


def _outbound(world):
    """Outbound rows joined with their truth."""
    log, truth = world
    out = log[log["direction"] == "outbound"].reset_index(drop=True)
    return out.join(truth.reset_index(drop=True).drop(columns="crossing_id"))


def _rings(world):
    out = _outbound(world)
    return out[out["actor"].isin(RINGS)]


# --- every variant ------------------------------------------------------------

def test_base_world_is_unchanged(tmp_path):
    paths = write_world(*generate_world(WorldConfig(days=30, seed=3, scale=0.002,
                                                    id_prefix="")),
                        tmp_path / "world.csv")
    assert tuple(hashlib.sha256(p.read_bytes()).hexdigest() for p in paths) == BASE_HASHES


def test_base_is_the_default(worlds):
    log, truth = generate_world(WorldConfig(**SMALL))
    pd.testing.assert_frame_equal(log, worlds["base"][0])
    pd.testing.assert_frame_equal(truth, worlds["base"][1])


@pytest.mark.parametrize("name", NAMES)
def test_variant_is_deterministic(worlds, name):
    log, truth = generate_world(WorldConfig(**SMALL, variant=name))
    pd.testing.assert_frame_equal(log, worlds[name][0])
    pd.testing.assert_frame_equal(truth, worlds[name][1])


@pytest.mark.parametrize("name", NAMES)
def test_variant_reads_through_the_contract(tmp_path, worlds, name):
    log, truth = worlds[name]
    for file in ("world.csv", "world.parquet"):
        path, truth_path = write_world(log, truth, tmp_path / file)
        result = read_log(path)
        assert len(result.frame) == len(log) and len(result.rejected) == 0
        assert not result.ignored_columns and not result.unknown_ports
        assert truth_path.name == "world.truth.csv"
        assert len(pd.read_csv(truth_path)) == len(truth)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_truth_marks_every_crossing_that_carries(worlds, name):
    out = _outbound(worlds[name])
    loaded = out[["firearms", "rounds", "currency_usd"]].sum(axis=1) > 0
    assert (out["carrier"] == loaded).all() and out["carrier"].any()
    assert out.loc[out["seizure"] == "true", "carrier"].all()


def test_unknown_variant_is_refused_by_name():
    with pytest.raises(ValueError, match="variant 'nope' is not one of base, tactics-shift"):
        WorldConfig(variant="nope")


# --- what defines each variant ------------------------------------------------

def test_utc_export_writes_z_at_its_ports_and_keeps_the_local_hour(tmp_path, worlds):
    (base, _), (utc, _) = worlds["base"], worlds["utc-export"]
    chosen = utc["port_code"].isin(UTC_EXPORT.utc_ports)
    assert chosen.any() and (~chosen).any()
    assert utc.loc[chosen, "crossed_at"].str.endswith("Z").all()
    assert not utc.loc[~chosen, "crossed_at"].str.endswith("Z").any()
    # the same crossings, but another variant is another world: its ids carry its own tag
    untagged = {c: (lambda f, c=c: f[c].str.replace(r"^([XPC])[0-9a-f]{6}-", r"\1", regex=True))
                for c in ("crossing_id", "plate_id", "carrier_id")}
    assert not set(utc["crossing_id"]) & set(base["crossing_id"])
    pd.testing.assert_frame_equal(utc.drop(columns="crossed_at").assign(**untagged),
                                  base.drop(columns="crossed_at").assign(**untagged))
    assert (utc.loc[~chosen, "crossed_at"] == base.loc[~chosen, "crossed_at"]).all()
    frames = [read_log(write_world(log, truth, tmp_path / f"{name}.csv")[0]).frame
              for name, (log, truth) in (("base", worlds["base"]), ("utc", worlds["utc-export"]))]
    assert (frames[0]["crossed_at"] == frames[1]["crossed_at"]).all()   # the same instants
    local = [context_frame(f)[["local_hour", "local_weekday"]] for f in frames]
    pd.testing.assert_frame_equal(local[0], local[1])
    assert local[1]["local_hour"].notna().all()


def test_officer_cues_leave_officer_probabilities_unknown(worlds):
    out = _outbound(worlds["officer-cues"])
    officer, random = out["referral"] == "officer", out["referral"] == "random"
    assert officer.sum() > 20 and random.sum() > 20
    assert (out.loc[officer, "selection_probability"] == "").all()
    assert (out.loc[~officer, "selection_probability"] != "").all()


def _random_floor(out):
    """Per port with a few random picks, the smallest selection probability among them."""
    random = out[out["referral"] == "random"]
    sel = random["selection_probability"].astype(float).groupby(random["port_code"])
    return sel.min()[sel.size() >= 3]


def test_officer_cues_random_rates_differ_by_port(worlds):
    low, high = OFFICER_CUES.officer.random_rates
    floor = _random_floor(_outbound(worlds["officer-cues"]))
    assert len(floor) >= 8 and (floor >= low).all()
    assert floor.max() / floor.min() > 2
    base = _random_floor(_outbound(worlds["base"]))
    assert base.max() / base.min() < 1.5


def test_officer_cues_pick_on_other_cues(worlds):
    def officer_share(world, mask_of):
        out = _outbound(world)
        officer = out["referral"] == "officer"
        mask = mask_of(out)
        return officer[mask].mean() / officer[~mask].mean()

    van = lambda out: out["body_type"] == "van"   # noqa: E731
    assert officer_share(worlds["officer-cues"], van) > 2 * officer_share(worlds["base"], van)


def test_missing_columns_are_empty_at_their_ports(worlds):
    (base, _), (log, _) = worlds["base"], worlds["missing-columns"]
    assert list(log.columns) == list(base.columns)
    for column, ports in MISSING_COLUMNS.missing:
        at = log["port_code"].isin(ports)
        assert at.any() and (log.loc[at, column] == "").all(), column
        assert (log.loc[~at, column] != "").mean() > 0.5, column
        assert (log.loc[~at, column] == base.loc[~at, column]).all(), column
    el_paso = log["port_code"] == "2402"
    assert sum((log.loc[el_paso, c] == "").all() for c, _ in MISSING_COLUMNS.missing) == 4


def _repeated_pairs(world, minutes=2 * CONVOY_RINGS.convoys.gap_minutes[1]):
    """Pairs of distinct ring plates leaving by the same port within ``minutes``, more than once."""
    rings = _rings(world)
    instant = pd.to_datetime(rings["crossed_at"], format="ISO8601", utc=True)
    t = (instant - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    rows = pd.DataFrame({"port": rings["port_code"], "t": t, "plate": rings["plate_id"]})
    pairs = []
    for _, group in rows.sort_values("t").groupby("port"):
        times, plates = group["t"].to_numpy(), group["plate"].to_numpy()
        for i in range(len(times)):
            j = i + 1
            while j < len(times) and times[j] - times[i] <= minutes * 60:
                if plates[i] != plates[j]:
                    pairs.append(tuple(sorted((plates[i], plates[j]))))
                j += 1
    counts = pd.Series(pairs, dtype=object).value_counts()
    return int((counts >= 2).sum())


def test_convoy_rings_leave_together_again_and_again(worlds):
    convoys, base = _repeated_pairs(worlds["convoy-rings"]), _repeated_pairs(worlds["base"])
    assert convoys >= 10 and convoys > 5 * (base + 1)


def _before_after(world, day):
    rings = _rings(world)
    shift_date = str(np.datetime64(WorldConfig().start) + day)
    after = (rings["crossed_at"].str[:10] >= shift_date).to_numpy()
    occupants = pd.to_numeric(rings["occupants"], errors="coerce")
    pickup_suv = rings["body_type"].isin(("pickup", "suv"))
    registration = pd.to_numeric(rings["registration_age_days"], errors="coerce")
    return {"occupants": occupants[after].mean() - occupants[~after].mean(),
            "pickup_suv": pickup_suv[after].mean() - pickup_suv[~after].mean(),
            "registration": registration[after].median() - registration[~after].median()}


def test_tactics_shift_changes_ring_behaviour_at_the_shift_day(worlds):
    day = round(TACTICS_SHIFT.tactics.at * SMALL["days"])
    shifted, base = _before_after(worlds["tactics-shift"], day), _before_after(worlds["base"], day)
    assert shifted["occupants"] > 1 and abs(base["occupants"]) < .5
    assert shifted["pickup_suv"] < -.2 and abs(base["pickup_suv"]) < .15
    assert shifted["registration"] > 150 > base["registration"]


def test_truck_fronts_carry_mostly_in_trucks(worlds):
    def truck_share(world):
        out = _outbound(world)
        return (out.loc[out["carrier"], "vehicle_class"] == "truck").mean()

    assert truck_share(worlds["truck-fronts"]) > .6 > .35 > truck_share(worlds["base"])


# --- the command --------------------------------------------------------------

def test_generate_writes_a_variant(runner, tmp_path):
    out = tmp_path / "utc.csv"
    result = runner.invoke(main, ["generate", "--variant", "utc-export", "--days", "5",
                                  "--scale", "0.001", "--out", str(out)])
    assert result.exit_code == 0, result.output
    log = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert log["crossed_at"].str.endswith("Z").any()
    assert (tmp_path / "utc.truth.csv").exists()


def test_generate_refuses_an_unknown_variant(runner, tmp_path):
    result = runner.invoke(main, ["generate", "--variant", "nope", "--out",
                                  str(tmp_path / "x.csv")])
    assert result.exit_code == 2
    assert "Invalid value for '--variant': 'nope' is not one of" in result.output
    assert not (tmp_path / "x.csv").exists()


def test_generate_help_lists_every_variant_with_its_line(runner):
    result = runner.invoke(main, ["generate", "--help"])
    assert result.exit_code == 0
    for name, variant in VARIANTS.items():
        assert any(line.split() == [name, *variant.summary.split()]
                   for line in result.output.splitlines()), name
