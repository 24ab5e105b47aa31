"""Seized amounts have hard caps and a review threshold (docs/contract.md): above a cap
an outcome is refused by the API (400 naming the field and value) and a log's row by
every command that reads it (file, row, column, value; exit 2); from the review
threshold up a recorded outcome is taken and flagged, in the answer and the trail."""
from __future__ import annotations

import json

import pytest

from scoring.contract import OUTCOME_CAPS, OUTCOME_REVIEW, ContractError, read_log
from service.store import audit, crossings
from southbound.cli import main
from tests.helpers.logs import raw, row
from tests.helpers.service import assert_error, outbound, rows

ABOVE = [("firearms_seized", 10_001), ("rounds_seized", 10_000_001),
         ("currency_seized_usd", 100_000_000.01),
         ("firearms_seized", 2_147_483_647), ("currency_seized_usd", 1e308)]


def test_the_caps_and_thresholds_are_the_documented_ones():
    assert OUTCOME_CAPS == {"firearms_seized": 10_000, "rounds_seized": 10_000_000,
                            "currency_seized_usd": 100_000_000}
    assert OUTCOME_REVIEW == {"firearms_seized": 50, "rounds_seized": 50_000,
                              "currency_seized_usd": 1_000_000}


def seized(name, value):
    return {"inspected": True, "seizure": True, name: value}


@pytest.mark.parametrize("name, value", ABOVE, ids=lambda v: str(v))
def test_an_amount_above_its_cap_is_refused_naming_field_and_value(app, client, auth,
                                                                   name, value):
    client.post("/v1/score", json=outbound(), headers=auth["officer"])
    response = client.post("/v1/crossings/o1/outcome", json=seized(name, value),
                           headers=auth["officer"])
    assert_error(response, 400, "invalid_value", name)
    assert json.dumps(value) in response.json["error"]["message"]
    assert f"{OUTCOME_CAPS[name]}" in response.json["error"]["message"]
    assert rows(app, crossings, crossing_id="o1")[0]["inspected"] is None  # nothing stored
    assert [a["action"] for a in rows(app, audit, target="o1")] == ["score"]


@pytest.mark.parametrize("name", sorted(OUTCOME_CAPS))
def test_an_amount_at_its_cap_is_taken_and_flagged(app, client, auth, name):
    client.post("/v1/score", json=outbound(), headers=auth["officer"])
    response = client.post("/v1/crossings/o1/outcome", json=seized(name, OUTCOME_CAPS[name]),
                           headers=auth["officer"])
    assert response.status_code == 201, response.json
    assert response.json["review"] == [name]
    assert rows(app, crossings, crossing_id="o1")[0][name] == OUTCOME_CAPS[name]


@pytest.mark.parametrize("amounts, flagged", [
    ({"firearms_seized": 49, "rounds_seized": 49_999, "currency_seized_usd": 999_999.99}, []),
    ({"firearms_seized": 50}, ["firearms_seized"]),
    ({"rounds_seized": 50_000}, ["rounds_seized"]),
    ({"currency_seized_usd": 1_000_000}, ["currency_seized_usd"]),
    ({"firearms_seized": 60, "currency_seized_usd": 2e6},
     ["firearms_seized", "currency_seized_usd"]),
], ids=["under", "firearms", "rounds", "currency", "two"])
def test_from_the_review_threshold_an_outcome_is_flagged_where_analysts_look(
        app, client, auth, runner, database_url, amounts, flagged):
    client.post("/v1/score", json=outbound(), headers=auth["officer"])
    body = {"inspected": True, "seizure": True, **amounts}
    response = client.post("/v1/crossings/o1/outcome", json=body, headers=auth["officer"])
    assert response.status_code == 201, response.json
    assert response.json["review"] == flagged
    trail = rows(app, audit, target="o1")
    outcome = [json.loads(a["detail"]) for a in trail if a["action"] == "outcome"]
    assert [o.get("review", []) for o in outcome] == [flagged]
    reviews = [a for a in trail if a["action"] == "outcome_review"]
    assert [json.loads(a["detail"])["review"] for a in reviews] == ([flagged] if flagged else [])
    assert all(a["actor"] == "officer-test" for a in reviews)
    listed = runner.invoke(main, ["audit", "--db", database_url, "--action", "outcome_review"])
    assert listed.exit_code == 0, listed.output
    if flagged:
        lines = [line.split("\t") for line in listed.output.splitlines()[1:]]
        assert [(line[3], line[4]) for line in lines] == [("outcome_review", "o1")]
    else:
        assert "no audit rows" in listed.output


def _log(tmp_path, name, value):
    path = tmp_path / "log.csv"
    raw([row(crossing_id="c0"),
         row(crossing_id="c1", referral="model", inspected="true", seizure="true",
             **{name: value})]).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("name, value", [("firearms_seized", "10001"),
                                         ("rounds_seized", "10000001"),
                                         ("currency_seized_usd", "1e308")])
def test_a_log_row_above_a_cap_is_refused_naming_file_row_column_and_value(tmp_path, name,
                                                                           value):
    path = _log(tmp_path, name, value)
    with pytest.raises(ContractError) as refused:
        read_log(path)
    assert (refused.value.row, refused.value.column) == (3, name)  # the header is row 1
    assert str(path) in str(refused.value) and repr(value) in str(refused.value)
    assert read_log(_log(tmp_path, name, str(OUTCOME_CAPS[name]))).frame[name].max() == (
        OUTCOME_CAPS[name])


def test_the_command_line_exits_2_on_a_log_above_a_cap(runner, tmp_path, registry_path):
    path = _log(tmp_path, "firearms_seized", "2147483647")
    result = runner.invoke(main, ["score", "--data", str(path), "--registry",
                                  str(registry_path), "--out", str(tmp_path / "s.csv")])
    assert result.exit_code == 2, result.output
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("error: ") and str(path) in line and "row 3" in line
    assert "column firearms_seized" in line and "'2147483647'" in line
    assert "Traceback" not in result.output and not (tmp_path / "s.csv").exists()
