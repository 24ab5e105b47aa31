"""The southbound command end to end: generate, train, evaluate, score, models."""
import json

import pandas as pd
import pytest

from southbound.cli import main
from tests.helpers.logs import raw, row


@pytest.fixture(scope="module")
def registry(tmp_path_factory, world):
    """A registry with one model trained through the command line on the small world."""
    from click.testing import CliRunner
    path = tmp_path_factory.mktemp("registry")
    result = CliRunner().invoke(main, ["train", "--data", str(world[0]), "--registry", str(path)])
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="module")
def replayed(tmp_path_factory, world, registry):
    """The world's last day replayed through the API with the module's model into a
    store of its own: (the store's file, the command's output). Read-only: a test that
    writes to the store works on a copy."""
    from click.testing import CliRunner
    db = tmp_path_factory.mktemp("replayed") / "store.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOUTHBOUND_DATABASE_URL", f"sqlite:///{db}")
        patch.setenv("SOUTHBOUND_REGISTRY", str(registry))
        result = CliRunner().invoke(main, ["replay", "--data", str(world[0]),
                                           "--since", "2025-03-06", "--truth", str(world[1])])
    assert result.exit_code == 0, result.output
    return db, result.output


def test_generate_writes_a_log_and_its_truth(runner, tmp_path):
    out = tmp_path / "w.csv"
    result = runner.invoke(main, ["generate", "--days", "3", "--scale", "0.001", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "outbound" in result.output
    log = pd.read_csv(out, dtype=str)
    truth = pd.read_csv(tmp_path / "w.truth.csv", dtype={"crossing_id": str})
    assert set(truth["crossing_id"]) == set(log.loc[log["direction"] == "outbound", "crossing_id"])


def test_train_registers_an_active_model_with_a_manifest(runner, registry):
    result = runner.invoke(main, ["models", "list", "--registry", str(registry)])
    assert result.exit_code == 0
    header, first = result.output.splitlines()[:2]
    assert header.split() == ["version", "training", "window", "trees", "recall", "at", "1%",
                              "(own", "validation", "window)", "excluded", "features"]
    assert first.startswith("* ")
    assert first.index("trees") + len("trees") == header.index("trees") + len("trees")
    shown = runner.invoke(main, ["models", "show", "--registry", str(registry)])
    manifest = json.loads(shown.stdout)      # JSON on stdout, the words on stderr
    assert "grown on: every labelled outbound row" in shown.stderr
    for key in ("version", "created_at", "features", "categories", "metrics", "libraries",
                "artifact_sha256", "code_version"):
        assert key in manifest
    assert manifest["data"]["fingerprint"] and manifest["data"]["split"]["fit"]["seizures"] >= 10


def test_evaluate_prints_budgets_and_writes_json(runner, world, trained_early, tmp_path):
    from models.registry import Registry
    registry = tmp_path / "reg"
    Registry(registry).save(*trained_early)   # its trees never saw the rows from 2025-02-20
    out = tmp_path / "eval.json"
    result = runner.invoke(main, ["evaluate", "--data", str(world[0]), "--registry", str(registry),
                                  "--since", "2025-02-20", "--truth", str(world[1]),
                                  "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "lift/legacy" in result.output and "0.5%" in result.output
    report = json.loads(out.read_text())
    assert [b["budget"] for b in report["budgets"]] == [0.005, 0.01, 0.02, 0.05]
    assert "true_recall" in report["budgets"][0]
    assert report["unseen_plates"]["rows"] > 0


def test_score_writes_one_row_per_outbound_crossing(runner, registry, world, tmp_path):
    out = tmp_path / "scores.csv"
    result = runner.invoke(main, ["score", "--data", str(world[0]), "--registry", str(registry),
                                  "--out", str(out)])
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out, dtype={"crossing_id": str})
    log = pd.read_csv(world[0], dtype=str)
    assert list(scores.columns) == ["crossing_id", "risk_score", "risk_band", "refer", "reasons"]
    assert list(scores["crossing_id"]) == list(log.loc[log["direction"] == "outbound",
                                                       "crossing_id"])
    assert scores["risk_score"].between(0, 1, inclusive="neither").all()
    # 2% capacity per port, against the model's own per-port score quantiles
    assert 0.01 < scores["refer"].mean() < 0.04
    assert scores["reasons"].str.len().gt(0).mean() > 0.99
    assert set(scores["risk_band"]) <= {"low", "elevated", "high", "very high"}
    # refer spelt as the contract spells booleans
    assert set(pd.read_csv(out, dtype=str)["refer"]) == {"true", "false"}


def test_one_crossing_is_one_crossing(runner, registry, tmp_path):
    """Counts read as words: "1 outbound crossing", not "1 outbound crossings"."""
    path = tmp_path / "one.csv"
    raw([row(crossing_id="only")]).to_csv(path, index=False)
    result = runner.invoke(main, ["score", "--data", str(path), "--registry", str(registry),
                                  "--out", str(tmp_path / "one.scores.csv")])
    assert result.exit_code == 0, result.output
    assert "scored 1 outbound crossing with model" in result.output


def test_score_ignores_outcome_columns(runner, registry, world, tmp_path):
    log = pd.read_csv(world[0], dtype=str, keep_default_na=False).head(3000)
    blank = log.copy()
    for column in ("referral", "selection_probability", "inspected", "seizure",
                   "firearms_seized", "rounds_seized", "currency_seized_usd"):
        blank[column] = ""
    paths = []
    for name, frame in (("full", log), ("blank", blank)):
        path = tmp_path / f"{name}.csv"
        frame.to_csv(path, index=False)
        out = tmp_path / f"{name}.scores.csv"
        result = runner.invoke(main, ["score", "--data", str(path), "--registry", str(registry),
                                      "--out", str(out)])
        assert result.exit_code == 0, result.output
        paths.append(out)
    full, blanked = (pd.read_csv(p) for p in paths)
    assert full["crossing_id"].equals(blanked["crossing_id"])


def test_malformed_file_gives_one_line_and_exit_2(runner, tmp_path, registry):
    path = tmp_path / "bad.csv"
    raw([row(crossing_id="a"), row(crossing_id="b", port_code="23O4")]).to_csv(path, index=False)
    for args in (["train", "--data", str(path), "--registry", str(tmp_path / "r")],
                 ["score", "--data", str(path), "--registry", str(registry),
                  "--out", str(tmp_path / "o.csv")]):
        result = runner.invoke(main, args)
        assert result.exit_code == 2
        assert result.output == (f"error: {path}, row 3, column port_code: "
                                 "value '23O4' is not a 4-digit port code\n")
    assert not (tmp_path / "r").exists()  # nothing registered


def test_a_contradictory_outcome_gives_one_line_and_exit_2(runner, tmp_path):
    path = tmp_path / "contradictory.csv"
    raw([row(crossing_id="a"), row(crossing_id="b", inspected="true", seizure="false",
                                   firearms_seized="3")]).to_csv(path, index=False)
    result = runner.invoke(main, ["train", "--data", str(path), "--registry", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert result.output == (f"error: {path}, row 3, column firearms_seized: value '3': "
                             "is more than 0 but seizure is false\n")
    assert not (tmp_path / "r").exists()


def test_ports_the_table_lacks_are_scored_and_reported_once(runner, registry, world, tmp_path):
    log = pd.read_csv(world[0], dtype=str, keep_default_na=False).head(500)
    outbound = log.index[log["direction"] == "outbound"][:3]
    log.loc[outbound, "port_code"] = "9999"
    path = tmp_path / "new-port.csv"
    log.to_csv(path, index=False)
    out = tmp_path / "scores.csv"
    result = runner.invoke(main, ["score", "--data", str(path), "--registry", str(registry),
                                  "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.count("ports not in the port table") == 1
    assert f"{path}: ports not in the port table (scored as unseen): 9999 (3 rows)" \
        in result.output
    scores = pd.read_csv(out, dtype={"crossing_id": str}).set_index("crossing_id")
    assert scores.loc[log.loc[outbound, "crossing_id"], "risk_score"].between(0, 1).all()


def test_a_bad_ports_file_gives_one_line_and_exit_2(runner, tmp_path, monkeypatch):
    ports = tmp_path / "ports.csv"
    ports.write_text("port_code,port_name\n23O9,Typo\n")
    monkeypatch.setenv("SOUTHBOUND_PORTS_FILE", str(ports))
    path = tmp_path / "log.csv"
    raw([row()]).to_csv(path, index=False)
    result = runner.invoke(main, ["train", "--data", str(path), "--registry", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert result.output == (f"error: {ports}, row 2, column port_code: value '23O9' is not "
                             "a 4-digit port code\n")


def test_skip_mode_writes_rejects_and_goes_on(runner, tmp_path, world, monkeypatch):
    monkeypatch.setenv("SOUTHBOUND_VAR", str(tmp_path / "var"))
    log = pd.read_csv(world[0], dtype=str, keep_default_na=False)
    log.loc[5, "occupants"] = "many"
    path = tmp_path / "dirty.csv"
    log.to_csv(path, index=False)
    result = runner.invoke(main, ["train", "--data", str(path), "--on-error", "skip",
                                  "--registry", str(tmp_path / "reg")])
    assert result.exit_code == 0, result.output
    assert "1 row rejected" in result.output
    rejects = pd.read_csv(tmp_path / "var" / "rejects" / "dirty.csv.rejects.csv")
    assert rejects.loc[0, "row"] == 7 and "occupants" in rejects.loc[0, "reason"]


def test_missing_file_and_bad_feature_name(runner, tmp_path):
    result = runner.invoke(main, ["train", "--data", str(tmp_path / "nope.csv"),
                                  "--registry", str(tmp_path)])
    assert result.exit_code == 2 and "nope.csv: no such file" in result.output
    result = runner.invoke(main, ["train", "--data", "x.csv", "--exclude-feature", "race"])
    assert result.exit_code == 2 and "feature 'race' is not one of" in result.output


def test_too_few_seizures_is_a_clear_error(runner, tmp_path, world):
    log = pd.read_csv(world[0], dtype=str, keep_default_na=False).head(2000)
    path = tmp_path / "short.csv"
    log.to_csv(path, index=False)
    result = runner.invoke(main, ["train", "--data", str(path), "--registry", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "too few to train on" in result.output
    assert "train on a longer log" in result.output  # says what to change


@pytest.mark.slow
def test_the_generators_defaults_train(runner, tmp_path):
    """`generate` with its defaults gives a world that `train` takes (a refusal there
    would be defaults that do not work together)."""
    out = tmp_path / "w.csv"
    assert runner.invoke(main, ["generate", "--out", str(out)]).exit_code == 0
    result = runner.invoke(main, ["train", "--data", str(out), "--registry", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output


def test_models_promote_and_rollback(runner, registry, world, tmp_path):
    import shutil
    reg = tmp_path / "reg"
    shutil.copytree(registry, reg)
    before = json.loads((reg / "active.json").read_text())["version"]
    result = runner.invoke(main, ["train", "--data", str(world[0]), "--registry", str(reg),
                                  "--exclude-feature", "plate_jurisdiction", "--seed", "1"])
    assert "inactive" in result.output
    new = result.output.split("registered model ")[1].split()[0]
    assert runner.invoke(main, ["models", "promote", new, "--registry", str(reg)]).exit_code == 0
    listed = runner.invoke(main, ["models", "list", "--registry", str(reg)]).output
    assert f"* {new}" in listed and "plate_country,plate_jurisdiction" in listed
    result = runner.invoke(main, ["models", "rollback", "--registry", str(reg)])
    assert result.output.strip() == f"active model is now {before}"
    result = runner.invoke(main, ["models", "promote", "nope", "--registry", str(reg)])
    assert result.exit_code == 1 and "no model version 'nope'" in result.output


def test_replay_sends_a_log_through_the_api(world, replayed):
    import sqlite3
    db, output = replayed
    log = pd.read_csv(world[0], dtype=str)
    later = log[pd.to_datetime(log["crossed_at"], utc=True, format="ISO8601")
                >= pd.Timestamp("2025-03-06", tz="UTC")]
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM crossings").fetchone()[0] == len(later)
    scored, referred = conn.execute("SELECT COUNT(*), SUM(refer) FROM scores").fetchone()
    assert scored == (later["direction"] == "outbound").sum()
    inspected = conn.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0]
    assert inspected == referred > 0          # every referral got its outcome from the truth
    assert f"scored {scored:,} outbound, {referred:,} referred" in output
    # progress while it sends
    assert "checked " in output and f"sent {len(later):,} of {len(later):,} rows" in output
    # the replay's own token is revoked when it ends: runs leave no live tokens behind
    tokens = conn.execute("SELECT name, revoked_at FROM tokens").fetchall()
    assert [name for name, revoked in tokens if revoked is None] == []
    from models.files import login_name
    assert [name for name, _ in tokens] == [f"replay by {login_name()}"]
    actors = conn.execute("SELECT DISTINCT actor FROM audit WHERE action IN "
                          "('token_create', 'token_revoke')").fetchall()
    assert actors == [(login_name(),)]


def _registry_state(path):
    versions = sorted(p.name for p in (path / "versions").iterdir())
    return versions, (path / "active.json").read_text()


@pytest.mark.parametrize("damage", ["cut mid-row", "cut in a quoted cell", "utf-16",
                                    "latin-1 cell", "nul bytes"])
def test_a_damaged_log_names_its_row_and_registers_nothing(runner, registry, world, tmp_path,
                                                          damage):
    """A real log cut short or mis-encoded: one line naming file and row, exit 2, and the
    registry (with a model in service) exactly as it was."""
    data = world[0].read_bytes()
    lines = data.split(b"\n")
    cut = len(b"\n".join(lines[:1500]))  # the end of row 1500 (the header is row 1)
    if damage == "cut mid-row":
        bad, where = data[:cut + 25], "row 1501"
    elif damage == "cut in a quoted cell":
        bad, where = data[:cut] + b'\n"a1501,2025-03-04T', "row 1501"
    elif damage == "utf-16":
        bad, where = data.decode("utf-8").encode("utf-16"), "row 1"
    elif damage == "latin-1 cell":
        row = lines[1200].replace(b",", "\u00e9,".encode("latin-1"), 1)  # é in one byte
        bad, where = b"\n".join(lines[:1200] + [row] + lines[1201:]), "row 1201"
    else:
        bad, where = data[:cut] + b"\n" + b"\x00" * 64 + data[cut:], "row 1501"
    path = tmp_path / "damaged.csv"
    path.write_bytes(bad)
    before = _registry_state(registry)
    result = runner.invoke(main, ["train", "--data", str(path), "--registry", str(registry),
                                  "--promote"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines_out = result.output.strip().splitlines()
    assert len(lines_out) == 1 and lines_out[0].startswith(f"error: {path}, {where}"), \
        result.output
    assert _registry_state(registry) == before  # no version, no promotion, no staging left
    assert not [p for p in (registry / "versions").iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_the_retraining_loop_of_the_readme(runner, world, registry, replayed, tmp_path,
                                           monkeypatch):
    """Replay the world's last day through the service (the module's replay), export
    what it decided and found, retrain on the world plus the export: the export's rows
    replace the world's rows of the same crossings (--later-wins), counted; without it,
    one clear line."""
    import shutil

    from tests.helpers.sqlite import copy_store
    reg = tmp_path / "registry"
    shutil.copytree(registry, reg)
    store = tmp_path / "store.db"           # export audits: a copy of the store of its own
    copy_store(replayed[0], store)
    monkeypatch.setenv("SOUTHBOUND_DATABASE_URL", f"sqlite:///{store}")
    export = tmp_path / "export.csv"
    result = runner.invoke(main, ["export", "--since", "2025-03-06", "--out", str(export)])
    assert result.exit_code == 0, result.output
    exported = len(pd.read_csv(export, dtype=str))
    assert exported > 1000

    both = ["train", "--data", str(world[0]), "--data", str(export), "--registry", str(reg)]
    refused = runner.invoke(main, both)
    assert refused.exit_code == 2 and "is a repeated crossing_id" in refused.output
    assert "--later-wins" in refused.output   # the refusal says how
    result = runner.invoke(main, both + ["--later-wins"])
    assert result.exit_code == 0, result.output
    assert f"{export}: {exported:,} rows replaced the rows of the same crossing_id" in (
        result.output)
    assert "registered model" in result.output


def test_the_model_leaves_vehicle_make_out_unless_asked_and_exclusions_add_to_that():
    """``vehicle_make`` is computed and worded but no model input by default (chosen by
    backtest, training/config.py); --include-feature puts it back, --exclude-feature adds
    to what is left out, and a bad name is refused naming its option."""
    import click

    from southbound.commands.training import train_config
    from training.config import DEFAULT_EXCLUDED, TrainConfig
    assert TrainConfig().exclude == DEFAULT_EXCLUDED == ("vehicle_make",)
    assert train_config().exclude == ("vehicle_make",)
    assert train_config(include=("vehicle_make",)).exclude == ()
    assert train_config(("plate_country",)).exclude == ("vehicle_make", "plate_country")
    for kwargs, hint in (({"exclude": ("nope",)}, "--exclude-feature"),
                         ({"include": ("nope",)}, "--include-feature")):
        with pytest.raises(click.BadParameter) as raised:
            train_config(**kwargs)
        assert raised.value.param_hint == hint


@pytest.mark.parametrize("picks, learnt", [(None, True), ("ignored", False)])
def test_a_log_without_some_selection_probabilities_learns_how_each_was_picked(
        runner, world, tmp_path, picks, learnt):
    """By default (--picks auto) the trees learn the pick when the log leaves some
    inspections' selection probability empty; --picks ignored keeps the features alone."""
    log = pd.read_csv(world[0], dtype=str, keep_default_na=False)
    inspected = log.index[log["inspected"].isin(["true", "1"])]
    log.loc[inspected[::5], "selection_probability"] = ""     # a fifth of them unlogged
    path = tmp_path / "unlogged.csv"
    log.to_csv(path, index=False)
    registry = tmp_path / "r"
    result = runner.invoke(main, ["train", "--data", str(path), "--registry", str(registry)]
                           + (["--picks", picks] if picks else []))
    assert result.exit_code == 0, result.output
    shown = runner.invoke(main, ["models", "show", "--registry", str(registry)])
    training = json.loads(shown.stdout)["training"]
    assert training["picks_unlogged"] == len(inspected[::5])
    streams = training["selection_streams"]
    if learnt:
        assert {"officer", "random"} <= set(streams)
        assert (f"picks: learnt: how each inspection was picked ({', '.join(streams)}) is an "
                f"input of the trees, and every crossing is scored as a random draw "
                f"({len(inspected[::5])} inspections without a selection probability in "
                "the log)") in shown.stderr
    else:
        assert streams is None and "picks: the features alone\n" in shown.stderr
