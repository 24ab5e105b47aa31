"""Every subcommand that reads a file, on damaged inputs: one line naming the file (and
the row, column and value where there is one), exit 2, never a traceback.

The cases are checked against the commands themselves: a file option added to any
subcommand without a case here fails `test_every_file_option_has_its_damaged_inputs`.
"""
from __future__ import annotations

import click
import pandas as pd
import pytest
import sqlalchemy as sa

from models.registry import Registry
from southbound.cli import main
from tests.helpers.logs import raw, row

TIMESTAMP = "2025-03-04T17:00:00-06:00"


def _file_options(group, prefix=()):
    """(command path, option name) of every option that names a file to read."""
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _file_options(command, prefix + (name,))
            continue
        for param in command.params:
            if (isinstance(param, click.Option) and isinstance(param.type, click.Path)
                    and param.type.file_okay and param.name not in ("out", "plot")):
                yield " ".join(prefix + (name,)), param.opts[0]


@pytest.fixture(scope="module")
def setup(tmp_path_factory, trained_early, world):
    root = tmp_path_factory.mktemp("bad-input")
    registry = Registry(root / "registry")
    registry.save(*trained_early)  # evaluate grades the world's rows after its training
    good = [row(crossing_id=f"g{i}", crossed_at=TIMESTAMP, plate_id=f"p{i}") for i in range(3)]
    files = {}

    def write(name, rows=None, text=None):
        path = root / name
        if text is not None:
            path.write_text(text)
        else:
            raw(rows).to_csv(path, index=False)
        files[name] = path
        return path

    write("port.csv", good[:1] + [row(crossing_id="b", port_code="23O4")])
    write("time.csv", good[:2] + [row(crossing_id="t", crossed_at="yesterday")])
    write("again.csv", [row(crossing_id="x1"), row(crossing_id="g1")])
    write("good.csv", good)
    truth = pd.read_csv(world[1], dtype=str, keep_default_na=False)
    truth.drop(columns=["carrier"]).to_csv(root / "nocarrier.truth.csv", index=False)
    odd = truth.copy()
    odd.loc[3, "carrier"] = "perhaps"
    odd.to_csv(root / "odd.truth.csv", index=False)
    other = truth.copy()
    other["crossing_id"] = "elsewhere-" + other["crossing_id"]
    other.to_csv(root / "other.truth.csv", index=False)
    wider = pd.concat([truth, other.iloc[:25]])  # the log's truth and 25 ids of another
    wider.to_csv(root / "wider.truth.csv", index=False)
    write("policy.toml", text='random_share = "lots"\n')
    return root, registry.root, world


LOG_CASES = {  # name: (files, what the line must name)
    "bad value": (["port.csv"], ["port.csv, row 3, column port_code: value '23O4' is not"]),
    "bad timestamp": (["time.csv"], ["time.csv, row 4, column crossed_at: value 'yesterday' "
                                     "is not an ISO-8601 timestamp"]),
}
MULTI_CASES = {
    "repeated id across files": (["good.csv", "again.csv"],
                                 ["again.csv, row 3, column crossing_id: value 'g1' is a "
                                  "repeated crossing_id (first at", "good.csv, row 3"]),
}
TRUTH_CASES = {
    "truth lacks a column": ("nocarrier.truth.csv", ["nocarrier.truth.csv, row 1, column "
                                                     "carrier: the truth file lacks"]),
    "truth flag not boolean": ("odd.truth.csv", ["odd.truth.csv, row 5, column carrier: "
                                                 "value 'perhaps' is not true or false"]),
}


def _command(setup, command, tmp_path):
    root, registry, world = setup
    base = {"train": ["train", "--registry", str(tmp_path / "r")],
            "evaluate": ["evaluate", "--registry", str(registry)],
            "score": ["score", "--registry", str(registry), "--out", str(tmp_path / "o.csv")],
            "report": ["report", "--registry", str(registry), "--out", str(tmp_path / "r.html")],
            "replay": ["replay"],
            "models list": ["models", "list", "--registry", str(registry)],
            "backtest": ["backtest", "--origins", "1"],
            "simulate": ["simulate", "--truth", str(world[1])],
            "compare": ["compare", "--registry", str(registry)]}
    return list(base[command])


def _cases():
    for command in ("train", "evaluate", "score", "report", "replay", "models list",
                    "backtest", "simulate"):
        for name, (files, needles) in LOG_CASES.items():
            yield command, "--data", name, files, needles
        if command != "replay":  # replay takes one file
            for name, (files, needles) in MULTI_CASES.items():
                yield command, "--data", name, files, needles
    for command in ("evaluate", "replay", "backtest", "simulate"):
        for name, (file, needles) in TRUTH_CASES.items():
            yield command, "--truth", name, [file], needles
    for command in ("evaluate", "backtest", "simulate", "replay"):
        yield (command, "--truth", "truth of another log", ["other.truth.csv"],
               ["other.truth.csv, column crossing_id: no crossing_id of the truth file matches"])
    for command in ("score", "report", "simulate", "compare"):
        yield (command, "--policy", "policy value of the wrong type", ["policy.toml"],
               ["policy.toml: not a referral policy: random_share 'lots' is not a share"])


CASES = list(_cases())


def test_every_file_option_has_its_damaged_inputs():
    covered = {(command, option) for command, option, *_ in CASES}
    assert set(_file_options(main)) == covered


def _subcommand(path):
    command = main
    for name in path.split():
        command = command.commands[name]
    return command


def _assert_one_line(result, needles):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.mark.parametrize("command,option,name,files,needles", CASES,
                         ids=[f"{c[0]} {c[1]}: {c[2]}" for c in CASES])
def test_damaged_input_gives_one_line_and_exit_2(runner, setup, tmp_path, monkeypatch,
                                                 command, option, name, files, needles):
    root, registry, world = setup
    monkeypatch.setenv("SOUTHBOUND_REGISTRY", str(registry))
    monkeypatch.setenv("SOUTHBOUND_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    args = _command(setup, command, tmp_path)
    for file in files:
        args += [option, str(root / file)]
    takes_data = any("--data" in p.opts for p in _subcommand(command).params)
    if option != "--data" and takes_data:
        args += ["--data", str(world[0])]
    result = runner.invoke(main, args)
    _assert_one_line(result, needles)
    assert not (tmp_path / "r").exists()  # train registered nothing


def test_replay_checks_the_whole_file_before_it_sends_a_row(runner, setup, tmp_path,
                                                            monkeypatch):
    """A row the contract takes but the API would refuse (a plate id longer than the
    API's limit), far down the file: nothing at all is stored."""
    root, registry, world = setup
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("SOUTHBOUND_REGISTRY", str(registry))
    monkeypatch.setenv("SOUTHBOUND_DATABASE_URL", url)
    rows = [row(crossing_id=f"r{i}", plate_id=f"p{i}",
                crossed_at=f"2025-03-04T17:{i:02d}:00-06:00") for i in range(40)]
    rows[37]["plate_id"] = "x" * 300
    path = root / "late-bad.csv"
    raw(rows).to_csv(path, index=False)
    result = runner.invoke(main, ["replay", "--data", str(path)])
    _assert_one_line(result, [f"{path}, row 39, column plate_id: value 'xxxx",
                              "nothing was sent"])
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM crossings")).scalar()
    engine.dispose()
    assert stored == 0


TRUTH_COMMANDS = {  # each command that reads a truth file, kept short
    "evaluate": ["evaluate"],
    "backtest": ["backtest", "--origins", "1", "--horizon", "20d"],
    "simulate": ["simulate", "--start", "2025-03-01", "--retrain", "never"],
    "replay": ["replay", "--since", "2025-03-06"],
}


@pytest.mark.parametrize("command", TRUTH_COMMANDS)
def test_a_truth_file_covering_more_than_the_log_is_taken_with_a_warning(
        runner, setup, tmp_path, monkeypatch, command):
    """Some of the truth's ids match no crossing: the command goes on and says how many."""
    root, registry, world = setup
    monkeypatch.setenv("SOUTHBOUND_REGISTRY", str(registry))
    monkeypatch.setenv("SOUTHBOUND_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    wider = root / "wider.truth.csv"
    args = TRUTH_COMMANDS[command] + ["--data", str(world[0])]
    if command == "simulate":
        args += ["--out", str(tmp_path / "sim.json")]
    result = runner.invoke(main, args + ["--truth", str(wider)])
    assert result.exit_code == 0, result.output
    ids = len(pd.read_csv(wider, dtype=str))
    warned = [line for line in result.stderr.splitlines() if line.startswith("warning: ")
              and str(wider) in line]
    assert warned == [f"warning: {wider}: 25 of the {ids:,} crossing_ids of the truth file "
                      "match no crossing of the log and are ignored (a truth file may cover "
                      "more than the log)"], result.stderr


def test_replay_refuses_an_id_stored_with_other_values_before_it_sends_a_row(
        runner, setup, tmp_path, monkeypatch):
    """A crossing_id the store holds with another time, far down the file: one line naming
    the file, row and id, exit 2, nothing of the file stored; the identical rows of a
    replay again are counted as already stored."""
    root, registry, world = setup
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("SOUTHBOUND_REGISTRY", str(registry))
    monkeypatch.setenv("SOUTHBOUND_DATABASE_URL", url)
    rows = [row(crossing_id=f"r{i}", plate_id=f"p{i}",
                crossed_at=f"2025-03-04T17:{i:02d}:00-06:00") for i in range(40)]
    first = root / "first.csv"
    raw(rows[30:]).to_csv(first, index=False)
    result = runner.invoke(main, ["replay", "--data", str(first)])
    assert result.exit_code == 0, result.output

    def stored():
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            count = conn.execute(sa.text("SELECT count(*) FROM crossings")).scalar()
        engine.dispose()
        return count

    assert stored() == 10
    again = [dict(r) for r in rows]
    again[35]["crossed_at"] = "2025-03-05T17:35:00-06:00"   # r35: stored with another time
    path = root / "again.csv"
    raw(again).to_csv(path, index=False)
    result = runner.invoke(main, ["replay", "--data", str(path)])
    _assert_one_line(result, [f"{path}, row 37, column crossing_id: value 'r35': crossing_id "
                              "was already scored with different values (stored: crossed_at "
                              "2025-03-04T23:35:00Z; here: crossed_at 2025-03-05T23:35:00Z)",
                              "nothing was sent"])
    assert stored() == 10       # r0..r29 were not sent either
    raw(rows).to_csv(path, index=False)                       # the same rows again, and more
    result = runner.invoke(main, ["replay", "--data", str(path)])
    assert result.exit_code == 0, result.output
    assert "10 already stored as they are, not sent again" in result.stderr
    assert "sent 30 crossings; scored 30 outbound" in result.stdout
    assert "10 already stored" in result.stdout
    assert stored() == 40


def test_later_wins_replaces_a_crossing_only_by_the_same_crossing(tmp_path):
    """An export's row of the same crossing (same time, plate, port, direction) replaces the
    log's, counted; a row of another crossing that merely shares the id is refused, naming
    both rows."""
    from training.fit import read_logs
    from scoring.contract import ContractError
    rows = [row(crossing_id=f"c{i}", plate_id=f"p{i}",
                crossed_at=f"2025-03-04T17:{i:02d}:00-06:00") for i in range(5)]
    log, export = tmp_path / "log.csv", tmp_path / "export.csv"
    raw(rows).to_csv(log, index=False)
    later = [dict(r, referral="random", selection_probability="0.01", inspected="true",
                  seizure="false") for r in rows[2:]]
    raw(later).to_csv(export, index=False)
    frame, sources = read_logs([log, export], later_wins=True)
    assert len(frame) == 5 and [s["replaced"] for s in sources] == [0, 3]
    assert frame.set_index("crossing_id").loc["c3", "inspected"] == 1
    for column, value in (("plate_id", "zz"), ("crossed_at", "2025-03-05T17:03:00-06:00"),
                          ("port_code", "2506")):
        other = [dict(r) for r in later]
        other[1][column] = value
        raw(other).to_csv(export, index=False)
        with pytest.raises(ContractError, match=rf"export.csv, row 3, column crossing_id: "
                                                rf"value 'c3' would replace another crossing "
                                                rf"of the same crossing_id at {log}, row 5 "
                                                rf"\({column} .* there; {column} .* here\)"):
            read_logs([log, export], later_wins=True)


def test_train_later_wins_refuses_another_worlds_rows_of_the_same_ids(runner, setup,
                                                                       tmp_path):
    root, registry, world = setup
    elsewhere = [row(crossing_id=f"g{i}", crossed_at=TIMESTAMP, plate_id=f"q{i}")
                 for i in range(3)]
    path = root / "elsewhere.csv"
    raw(elsewhere).to_csv(path, index=False)
    result = runner.invoke(main, ["train", "--registry", str(tmp_path / "r"), "--later-wins",
                                  "--data", str(root / "good.csv"), "--data", str(path)])
    _assert_one_line(result, [f"{path}, row 2, column crossing_id: value 'g0' would replace "
                              f"another crossing of the same crossing_id at "
                              f"{root / 'good.csv'}, row 2 (plate_id 'p0' there; plate_id "
                              "'q0' here)"])
    assert not (tmp_path / "r").exists()
