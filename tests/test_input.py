"""Doubtful input at the API, by kind, on SQLite and PostgreSQL: ports the port table
lacks, crossings from the future, unknown fields, numbers for strings, contradictory
outcomes, and integers that must stay integers in the store and in answers."""
import json
import re
import time
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from scoring.contract import COLUMNS, SEIZED_AMOUNTS
from scoring.ports import known_ports
from service.openapi import INTEGER_KINDS, document_for
from service.store import (INTEGER_COLUMNS, MIGRATIONS, Store, audit, crossings, metadata,
                           outcomes)
from tests.helpers.service import assert_error, inbound, outbound, rows, soon

PORTS = known_ports()
INTEGER_FIELDS = [c.name for c in COLUMNS if c.kind in INTEGER_KINDS]
#: the request bodies of the API (the document's schema names), each sent by send()
BODIES = ("OutboundCrossing", "InboundCrossing", "Outcome", "Lookout", "Activation")


def stamp(seconds_from_now):
    """crossed_at this many seconds from now, in UTC."""
    moment = datetime.fromtimestamp(time.time() + seconds_from_now, tz=timezone.utc)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def send(client, auth, schema, body):
    """POST ``body`` where the API takes schema ``schema`` (an outcome after a score)."""
    officer = auth["officer"]
    if schema == "OutboundCrossing":
        return client.post("/v1/score", json=body, headers=officer)
    if schema == "InboundCrossing":
        return client.post("/v1/crossings", json=body, headers=officer)
    if schema == "Outcome":
        scored = client.post("/v1/score", json=outbound(99), headers=officer)
        assert scored.status_code in (200, 201), scored.json
        return client.post("/v1/crossings/o99/outcome", json=body, headers=officer)
    if schema == "Activation":  # the model in service again: always allowed
        version = client.get("/v1/model", headers=officer).json["version"]
        return client.post(f"/v1/models/{version}/activate", json=body,
                           headers=auth["analyst"])
    return client.post("/v1/lookouts", json=body, headers=auth["analyst"])


def valid(schema):
    return {"OutboundCrossing": outbound(), "InboundCrossing": inbound(),
            "Outcome": {"inspected": True, "seizure": True, "firearms_seized": 2},
            "Lookout": {"plate_id": "P7", "reason": "tip",
                        "expires_at": soon()},
            "Activation": {"require_comparison": False}}[schema]


def metric(client, name):
    """The /metrics lines of one metric family."""
    text = client.get("/metrics").get_data(as_text=True)
    return [line for line in text.splitlines() if line.startswith(name + "{")]


# --- ports: the port table's, else a 400; metrics labels stay bounded -------------

@pytest.mark.parametrize("code", ["9999", "0000", "2399"])
def test_a_port_the_table_lacks_is_refused_everywhere_and_opens_no_label(app, client, auth,
                                                                         code):
    assert code not in PORTS
    officer = auth["officer"]
    assert_error(client.post("/v1/score", json=outbound(port_code=code), headers=officer),
                 400, "unknown_port", "port_code")
    assert_error(client.post("/v1/score/batch", headers=officer, json={"crossings": [
        outbound(1), outbound(2, port_code=code)]}), 400, "unknown_port",
        "crossings[1].port_code")
    assert_error(client.post("/v1/crossings", json=inbound(port_code=code), headers=officer),
                 400, "unknown_port", "port_code")
    message = client.post("/v1/score", json=outbound(port_code=code), headers=officer
                          ).json["error"]["message"]
    assert f'"{code}"' in message and "port table" in message
    assert_error(client.get(f"/v1/crossings?port_code={code}", headers=officer),
                 400, "unknown_port", "port_code")
    assert rows(app, crossings) == []
    assert client.post("/v1/score", json=outbound(3), headers=officer).status_code == 201
    for family in ("southbound_scores_total", "southbound_referrals_total"):
        labels = set(re.findall(r'port="([^"]*)"', "\n".join(metric(client, family))))
        assert labels <= set(PORTS), labels
    assert metric(client, "southbound_scores_total")  # the known port was counted


def test_the_document_lists_the_port_table_as_the_port_codes_allowed(client):
    document = client.get("/v1/openapi.json").json
    schemas = document["components"]["schemas"]
    for name in ("OutboundCrossing", "InboundCrossing"):
        assert schemas[name]["properties"]["port_code"]["enum"] == list(PORTS)
    lane = document["paths"]["/v1/crossings"]["get"]["parameters"]
    assert [p["schema"]["enum"] for p in lane if p["name"] == "port_code"] == [list(PORTS)]


def test_a_ports_file_adds_its_ports(database_url, registry_path, tmp_path):
    from service import create_app
    extra = tmp_path / "ports.csv"
    extra.write_text("port_code,port_name,time_zone\n2399,Test crossing,America/Chicago\n")
    app = create_app({"DATABASE_URL": database_url, "REGISTRY": str(registry_path),
                      "PORTS_FILE": str(extra), "TOKEN_CACHE_SECONDS": 0,
                      "RATE_LIMIT_PER_MINUTE": 0, "LOG_LEVEL": "WARNING"})
    try:
        from service.auth import create_token
        token = create_token(app.extensions["southbound.store"], "officer", "t")
        client = app.test_client()
        response = client.post("/v1/score", json=outbound(port_code="2399",
                                                           crossed_at="2025-03-04T23:22:05Z"),
                               headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 201, response.json
        # the features read the same table: 23:22 UTC is 17h at the port (America/Chicago)
        import json

        import sqlalchemy as sa
        from service.store import scores
        with app.extensions["southbound.store"].engine.connect() as conn:
            stored = conn.execute(sa.select(scores.c.features)).scalar_one()
        assert json.loads(stored)["local_hour"] == 17.0
        enum = client.get("/v1/openapi.json").json["components"]["schemas"][
            "OutboundCrossing"]["properties"]["port_code"]["enum"]
        assert "2399" in enum and "2304" in enum
        page = client.get("/").get_data(as_text=True)  # the console's port picker
        assert re.search(r'<option value="2399"[^>]*>[^<]*Test crossing', page), page
    finally:
        app.extensions["southbound.store"].engine.dispose()


def test_a_bad_ports_file_stops_the_start_naming_it(database_url, registry_path, tmp_path):
    from service import create_app
    from scoring.settings import SettingError
    extra = tmp_path / "ports.csv"
    extra.write_text("port_code,port_name\n23O9,Typo\n")
    with pytest.raises(SettingError, match=r"PORTS_FILE '.*' is not a port table: .*ports.csv, "
                                           r"row 2, column port_code"):
        create_app({"DATABASE_URL": database_url, "REGISTRY": str(registry_path),
                    "PORTS_FILE": str(extra)})


# --- crossed_at in the future: refused beyond the allowed clock skew --------------

FUTURE = [("/v1/score", lambda at: outbound(crossed_at=at), "crossed_at"),
          ("/v1/score/batch", lambda at: {"crossings": [outbound(crossed_at=at)]},
           "crossings[0].crossed_at"),
          ("/v1/crossings", lambda at: inbound(crossed_at=at), "crossed_at")]


@pytest.mark.parametrize("path, body, field", FUTURE, ids=[f[0] for f in FUTURE])
def test_a_crossing_from_the_future_is_refused_beyond_the_clock_skew(app, client, auth, path,
                                                                     body, field):
    skew = app.config["MAX_CLOCK_SKEW_SECONDS"]
    assert skew == 900  # the default
    officer = auth["officer"]
    for at in (stamp(skew * 2), "2030-01-01T00:00:00Z", "2199-12-31T23:59:59+14:00"):
        response = client.post(path, json=body(at), headers=officer)
        assert_error(response, 400, "invalid_value", field)
        message = response.json["error"]["message"]
        assert f'"{at}"' in message and "in the future" in message
        assert "server's time is 20" in message and "900 s of clock skew" in message
    assert rows(app, crossings) == []
    # within the skew (a booth clock a little ahead), and the past: accepted
    for i, at in enumerate((stamp(skew / 3), stamp(-3600))):
        accepted = client.post(path, json=_renamed(body(at), i), headers=officer)
        assert accepted.status_code in (200, 201), accepted.json


def _renamed(body, i):
    items = body["crossings"] if "crossings" in body else [body]
    for item in items:
        item["crossing_id"] += f"-{i}"
    return body


def test_the_clock_skew_is_a_setting(app, client, auth):
    app.config["MAX_CLOCK_SKEW_SECONDS"] = 0
    assert_error(client.post("/v1/score", json=outbound(crossed_at=stamp(120)),
                             headers=auth["officer"]), 400, "invalid_value", "crossed_at")
    app.config["MAX_CLOCK_SKEW_SECONDS"] = 86_400
    assert client.post("/v1/score", json=outbound(crossed_at=stamp(3600)),
                       headers=auth["officer"]).status_code == 201


# --- unknown fields: ignored, named back in ignored_fields and counted ------------

@pytest.mark.parametrize("schema", BODIES)
def test_every_body_names_its_ignored_fields_back(client, auth, schema):
    body = dict(valid(schema), registration_age=12, lane=3)
    response = send(client, auth, schema, body)
    assert response.status_code == (200 if schema == "Activation" else 201), response.json
    assert response.json["ignored_fields"] == ["registration_age", "lane"]
    counted = metric(client, "southbound_ignored_fields_total")
    assert any(line.endswith(" 2.0") for line in counted), counted


@pytest.mark.parametrize("schema", BODIES)
def test_ignored_fields_is_absent_when_nothing_was_ignored(client, auth, schema):
    response = send(client, auth, schema, valid(schema))
    assert response.status_code == (200 if schema == "Activation" else 201), response.json
    assert "ignored_fields" not in response.json


def test_a_repeated_crossing_and_a_batch_name_their_ignored_fields(client, auth):
    officer = auth["officer"]
    client.post("/v1/score", json=outbound(), headers=officer)
    again = client.post("/v1/score", json=outbound(registration_age=12), headers=officer)
    assert again.status_code == 200 and again.json["ignored_fields"] == ["registration_age"]
    batch = client.post("/v1/score/batch", headers=officer, json={
        "crossings": [outbound(2), outbound(3, lane=3)], "sent_by": "lane 3"})
    assert batch.status_code == 200
    assert batch.json["ignored_fields"] == ["sent_by", "crossings[1].lane"]
    inbound_again = client.post("/v1/crossings", json=inbound(), headers=officer)
    assert "ignored_fields" not in inbound_again.json


def test_every_answer_to_a_body_documents_ignored_fields(client):
    document = client.get("/v1/openapi.json").json
    schemas = document["components"]["schemas"]

    def resolve(schema):
        if "$ref" in schema:
            return resolve(schemas[schema["$ref"].rsplit("/", 1)[1]])
        return schema
    with_body = [(path, method, op) for path, item in document["paths"].items()
                 for method, op in item.items() if "requestBody" in op]
    sent = set()
    for _, _, op in with_body:  # each body's schema is one test_every_body_... sends
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        schema = schema.get("properties", {}).get("crossings", {}).get("items", schema)
        sent.add(schema["$ref"].rsplit("/", 1)[1])
    assert sent == set(BODIES)
    for path, method, op in with_body:
        for status, answer in op["responses"].items():
            if status.startswith("2"):
                schema = resolve(answer["content"]["application/json"]["schema"])
                assert "ignored_fields" in schema["properties"], (path, method, status)
                assert "ignored_fields" not in schema["required"]


# --- a number (or boolean) where a string is wanted: told it must be a string ------

def _string_fields(schema):
    properties = document_for(PORTS)["components"]["schemas"][schema]["properties"]
    return [name for name, prop in properties.items() if prop.get("type") == "string"
            and any(v not in ("", None) for v in prop.get("enum", ["x"]))]


STRING_FIELDS = [(schema, name) for schema in BODIES for name in _string_fields(schema)]


def test_the_string_fields_are_the_contracts_text_columns():
    text = {c.name for c in COLUMNS if c.kind in ("id", "enum", "port", "jurisdiction", "text",
                                                   "timestamp")}
    crossing = {name for schema, name in STRING_FIELDS if schema == "OutboundCrossing"}
    assert crossing == text - {"referral"}  # an outcome, never sent with a crossing
    assert {name for schema, name in STRING_FIELDS if schema == "Lookout"} == \
        {"plate_id", "reason", "expires_at"}


@pytest.mark.parametrize("schema, name", STRING_FIELDS, ids=[f"{s}.{n}" for s, n in STRING_FIELDS])
@pytest.mark.parametrize("value, what", [(2304, "a number"), (1.5, "a number"),
                                         (True, "true or false")], ids=["int", "float", "bool"])
def test_a_number_where_a_string_is_wanted_is_told_so(client, auth, schema, name, value, what):
    response = send(client, auth, schema, dict(valid(schema), **{name: value}))
    assert_error(response, 400, "invalid_value", name)
    assert response.json["error"]["message"].startswith(   # spelt as JSON spells it
        f"value {json.dumps(value)} is {what}: {name} must be a string")


# --- a string where a number or a boolean is wanted: JSON's types, as documented ---

TEXT_FOR_NUMBERS = [("OutboundCrossing", "occupants", "2", "an integer from 1 to 200"),
                    ("OutboundCrossing", "registration_age_days", "12",
                     "an integer from 0 to 36525"),
                    ("OutboundCrossing", "vehicle_model_year", "2019",
                     "an integer from 1900 to the crossing's year + 1"),
                    ("OutboundCrossing", "manifest_value_usd", "12000", "a number >= 0"),
                    ("OutboundCrossing", "trailer_empty", "true", "true or false"),
                    ("InboundCrossing", "occupants", "2.0", "an integer from 1 to 200"),
                    ("Outcome", "inspected", "true", "true or false"),
                    ("Outcome", "firearms_seized", "2", "an integer from 0 to 10000"),
                    ("Outcome", "currency_seized_usd", "", "a number from 0 to 100000000")]


@pytest.mark.parametrize("schema, name, value, expected", TEXT_FOR_NUMBERS,
                         ids=[f"{s}.{n}={v!r}" for s, n, v, _ in TEXT_FOR_NUMBERS])
def test_a_string_where_a_number_or_boolean_is_wanted_is_refused(app, client, auth, schema,
                                                                 name, value, expected):
    body = dict(valid(schema), **{name: value})
    if schema == "Outcome":
        body = {"inspected": True, "seizure": False, **{name: value}}
    response = send(client, auth, schema, body)
    assert_error(response, 400, "invalid_value", name)
    kind = "a JSON boolean" if expected == "true or false" else "a JSON number"
    assert response.json["error"]["message"] == (
        f"value {json.dumps(value)} is a string: {name} must be {expected} ({kind}, not text)")
    properties = document_for(PORTS)["components"]["schemas"][schema]["properties"]
    assert "anyOf" not in properties[name] and properties[name]["type"] != "string"


@pytest.mark.parametrize("name, value, shown", [
    ("crossing_id", True, "true"), ("crossing_id", None, "null"), ("occupants", "NaN", "NaN"),
    ("occupants", [1], "[1]"), ("occupants", "x", '"x"'), ("occupants", True, "true"),
    ("crossing_id", 2304, "2304")], ids=lambda v: str(v))
def test_messages_spell_values_as_json_does(client, auth, name, value, shown):
    text = json.dumps(outbound(**{name: value})).replace('"NaN"', "NaN")  # Python's JSON reader takes NaN
    response = client.post("/v1/score", data=text, content_type="application/json",
                           headers=auth["officer"])
    assert_error(response, 400, "invalid_value", name)
    message = response.json["error"]["message"]
    assert message.startswith(f"value {shown} "), message
    assert not re.search(r"\b(True|None|nan)\b|'", message), message


# --- plausible ranges: the contract's, in the document and at the API ---------------

RANGES = {"occupants": (1, 200), "registration_age_days": (0, 36525),
          "vehicle_model_year": (1900, 2200)}
#: the seized amounts' hard caps (docs/contract.md)
CAPS = {"firearms_seized": (0, 10_000), "rounds_seized": (0, 10_000_000),
        "currency_seized_usd": (0, 100_000_000)}


def test_the_document_states_the_contracts_plausible_ranges():
    schemas = document_for(PORTS)["components"]["schemas"]
    for schema, ranges in (("OutboundCrossing", RANGES), ("Outcome", CAPS)):
        properties = schemas[schema]["properties"]
        for name, (low, high) in ranges.items():
            assert (properties[name]["minimum"], properties[name]["maximum"]) == (low, high), (
                name)
    assert "year of crossed_at + 1" in (
        schemas["OutboundCrossing"]["properties"]["vehicle_model_year"]["description"])
    bounds = {c.name: c.bounds for c in COLUMNS if c.bounds}
    assert bounds == RANGES | CAPS


@pytest.mark.parametrize("name, good, bad, message", [
    ("occupants", [1, 81, 200, 2.0], [0, 201, 1000000], "is not an integer from 1 to 200"),
    ("registration_age_days", [0, 36525], [-1, 36526], "is not an integer from 0 to 36525"),
    ("vehicle_model_year", [1900, 2025, 2026], [1899, 3000],
     "is not an integer from 1900 to the crossing's year + 1"),
    ("vehicle_model_year", [], [2027, 2199],
     ": a model year more than one year after the year of the crossing"),
], ids=["occupants", "registration", "model-year", "model-year-after-the-crossing"])
def test_a_value_out_of_its_plausible_range_is_a_400(app, client, auth, name, good, bad,
                                                      message):
    """outbound() crosses in 2025: a model year of 2026 is next year's model, 2027 is not."""
    for i, value in enumerate(good):
        response = client.post("/v1/score", json=outbound(i, **{name: value}),
                               headers=auth["officer"])
        assert response.status_code == 201, (value, response.json)
    for value in bad:
        response = client.post("/v1/score", json=outbound(99, **{name: value}),
                               headers=auth["officer"])
        assert_error(response, 400, "invalid_value", name)
        separator = "" if message.startswith(":") else " "
        assert response.json["error"]["message"] == f"value {json.dumps(value)}{separator}{message}"
    assert not rows(app, crossings, crossing_id="o99")


@pytest.mark.parametrize("text", ["1800-01-01T00:00:00Z", "2200-03-04T11:48:00-06:00"])
def test_a_timestamp_outside_the_contracts_years_is_told_so(client, auth, text):
    for schema, name in (("OutboundCrossing", "crossed_at"), ("InboundCrossing", "crossed_at"),
                         ("Lookout", "expires_at")):
        response = send(client, auth, schema, dict(valid(schema), **{name: text}))
        assert_error(response, 400, "invalid_value", name)
        assert response.json["error"]["message"] == (
            f'value "{text}" is outside the years 1900-2199'), schema


# --- contradictory outcomes: refused, naming the field ----------------------------

CONTRADICTORY = ([({"inspected": True, "seizure": False, name: 3}, name,
                   "is more than 0 but seizure is false") for name in SEIZED_AMOUNTS]
                 + [({"inspected": False, name: 3}, name, "must be empty when inspected is "
                     "false") for name in SEIZED_AMOUNTS]
                 + [({"inspected": False, "seizure": True}, "seizure", "must be empty")])


@pytest.mark.parametrize("body, field, message", CONTRADICTORY, ids=lambda v: str(v)[:40])
def test_a_contradictory_outcome_is_refused_and_nothing_stored(app, client, auth, body, field,
                                                              message):
    response = send(client, auth, "Outcome", body)
    assert_error(response, 400, "invalid_value", field)
    assert message in response.json["error"]["message"]
    assert rows(app, outcomes) == []
    assert rows(app, crossings, crossing_id="o99")[0]["inspected"] is None


@pytest.mark.parametrize("name", SEIZED_AMOUNTS)
def test_zero_seized_without_a_seizure_is_consistent(client, auth, name):
    response = send(client, auth, "Outcome", {"inspected": True, "seizure": False, name: 0})
    assert response.status_code == 201, response.json


# --- integers: integer columns in the store, ints in every answer -----------------

def _integer_body():
    values = {"vehicle_model_year": 2019, "registration_age_days": 12, "occupants": 3}
    assert set(values) | set(SEIZED_AMOUNTS) - {"currency_seized_usd"} == set(INTEGER_FIELDS)
    return values


def test_every_integer_column_is_an_integer_in_the_store(app):
    assert set(INTEGER_COLUMNS) == set(INTEGER_FIELDS)
    inspector = sa.inspect(app.extensions["southbound.store"].engine)
    for table in ("crossings", "outcomes"):
        types = {c["name"]: c["type"] for c in inspector.get_columns(table)}
        for name in INTEGER_FIELDS:
            if name in types:
                assert isinstance(types[name], sa.Integer), (table, name, types[name])


@pytest.mark.parametrize("whole_floats", [False, True], ids=["integers", "2.0"])
def test_every_integer_field_comes_back_an_int(app, client, auth, whole_floats):
    """2.0 is an integer, as JSON Schema (draft 6 on, 2020-12) reads it: taken, stored
    and answered as 2."""
    officer = auth["officer"]
    values = _integer_body()
    sent = {k: float(v) if whole_floats else v for k, v in values.items()}
    response = client.post("/v1/score", json=outbound(**sent), headers=officer)
    assert response.status_code == 201, response.json
    outcome = {"inspected": True, "seizure": True, "firearms_seized": 2.0 if whole_floats else 2,
               "rounds_seized": 40.0 if whole_floats else 40, "currency_seized_usd": 0}
    recorded = client.post("/v1/crossings/o1/outcome", json=outcome, headers=officer).json
    shown = client.get("/v1/crossings/o1", headers=auth["analyst"]).json
    expected = dict(values, firearms_seized=2, rounds_seized=40)
    for name in INTEGER_FIELDS:
        for where, value in (("crossing", shown["crossing"][name]),
                             ("outcome", shown["outcome"].get(name, expected[name])),
                             ("outcomes", shown["outcomes"][0].get(name, expected[name])),
                             ("recorded", recorded["outcome"].get(name, expected[name]))):
            assert type(value) is int and value == expected[name], (where, name, value)
    stored = rows(app, crossings, crossing_id="o1")[0]
    assert all(type(stored[name]) is int for name in INTEGER_FIELDS), stored


@pytest.mark.parametrize("name", INTEGER_FIELDS)
def test_an_integer_the_store_cannot_hold_is_a_400(app, client, auth, name):
    schema = "Outcome" if name in SEIZED_AMOUNTS else "OutboundCrossing"
    base = valid(schema)
    for value in (2**31, 2.0**40):
        response = send(client, auth, schema, dict(base, **{name: value}))
        assert_error(response, 400, "invalid_value", name)


def _store_before_migration_2(database_url):
    """A store as migration 1 left it: the contract's integers in float columns, one
    crossing and one outcome recorded."""
    old = sa.MetaData()
    for table in metadata.sorted_tables:
        copy = table.to_metadata(old)
        for column in copy.c:
            if column.name in INTEGER_COLUMNS:
                column.type = sa.Float()
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        old.create_all(conn)
        conn.execute(old.tables["schema_version"].insert().values(
            version=1, description=MIGRATIONS[0][1], applied_at=0))
        conn.execute(old.tables["crossings"].insert().values(
            crossing_id="old", crossed_at=0, utc_offset_min=0, direction="outbound",
            port_code="2304", vehicle_class="personal", plate_id="p", received_at=0,
            vehicle_model_year=2019.0, registration_age_days=12.0, occupants=None,
            inspected=1, seizure=1, firearms_seized=2.0, rounds_seized=40.0,
            currency_seized_usd=150.5))
        conn.execute(old.tables["outcomes"].insert().values(
            crossing_id="old", recorded_at=0, actor="a", inspected=1, seizure=1,
            firearms_seized=2.0, rounds_seized=40.0, currency_seized_usd=150.5))
    engine.dispose()


def test_existing_float_rows_migrate_to_integers(database_url):
    """A store from before migration 2 (integers in float columns) keeps its rows."""
    _store_before_migration_2(database_url)
    store = Store(database_url)
    try:
        assert store.migrate() == MIGRATIONS[-1][0]
        with store.engine.connect() as conn:
            row = dict(conn.execute(sa.select(crossings)).mappings().one())
            outcome = dict(conn.execute(sa.select(outcomes)).mappings().one())
        assert (row["vehicle_model_year"], row["registration_age_days"], row["occupants"],
                row["firearms_seized"], row["rounds_seized"]) == (2019, 12, None, 2, 40)
        assert all(type(row[n]) is int for n in INTEGER_COLUMNS if row[n] is not None)
        assert row["currency_seized_usd"] == 150.5
        assert (type(outcome["firearms_seized"]), outcome["rounds_seized"]) == (int, 40)
        inspector = sa.inspect(store.engine)
        for table in ("crossings", "outcomes"):
            types = {c["name"]: c["type"] for c in inspector.get_columns(table)}
            assert all(isinstance(types[n], sa.Integer) for n in INTEGER_COLUMNS if n in types)
        assert store.migrate() == MIGRATIONS[-1][0]  # again: nothing to do
    finally:
        store.engine.dispose()


def test_migration_3_indexes_crossings_by_port_and_time(database_url):
    """A store from before migration 3 gets the (port_code, crossed_at, direction) index."""
    _store_before_migration_2(database_url)
    store = Store(database_url)
    try:
        store.migrate()
        indexes = {ix["name"]: ix["column_names"]
                   for ix in sa.inspect(store.engine).get_indexes("crossings")}
        assert indexes["ix_crossings_port_time"] == ["port_code", "crossed_at", "direction"]
        assert store.migrate() == MIGRATIONS[-1][0]  # again: nothing to do
    finally:
        store.engine.dispose()


def test_workers_starting_together_migrate_once(database_url):
    """Each gunicorn worker migrates at its start: they take turns, none fails."""
    import threading
    _store_before_migration_2(database_url)
    stores = [Store(database_url) for _ in range(4)]
    start, errors = threading.Barrier(len(stores)), []

    def migrate(store):
        start.wait()
        try:
            store.migrate()
        except Exception as exc:  # noqa: BLE001 (the test reports any)
            errors.append(exc)
    threads = [threading.Thread(target=migrate, args=(s,)) for s in stores]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        with stores[0].engine.connect() as conn:
            versions = conn.execute(sa.text("SELECT version FROM schema_version")).scalars()
            assert sorted(versions) == [v for v, _, _ in MIGRATIONS]
            assert conn.execute(sa.select(crossings.c.firearms_seized)).scalar_one() == 2
    finally:
        for store in stores:
            store.engine.dispose()


@pytest.mark.parametrize("method, path, action", [
    ("post", "/v1/models/{}/activate", "activate_refused"),
    ("post", "/v1/models/{}/shadow", "shadow_refused"),
    ("delete", "/v1/models/{}/shadow", "shadow_end_refused"),
    ("get", "/reports/{}", "report_refused"),
], ids=["activate", "shadow", "end-shadow", "report"])
@pytest.mark.parametrize("version", ["v" * 200, "20261201T102123Z-1\u0000", "a\u202eb"],
                         ids=["200-characters", "nul", "bidi-override"])
def test_a_version_no_model_can_have_is_a_404_and_audited(app, client, auth, method, path,
                                                         action, version):
    """An over-long version id (the store's audit target is a VARCHAR(128) on PostgreSQL)
    or one with a control or format character is refused before anything is looked up,
    and the refusal is in the audit trail, the value quoted short."""
    response = getattr(client, method)(path.format(version), headers=auth["admin"])
    assert_error(response, 404, "not_found", "version")
    refused = [r for r in rows(app, audit) if r["action"] == action]
    assert len(refused) == 1 and refused[0]["actor"] == "admin-test"
    assert refused[0]["target"] is None
    assert len(json.loads(refused[0]["detail"])["version"]) <= 120


def test_identifiers_in_the_api_follow_the_contracts_rule(app, client, auth):
    """NFKC, no control or format character, case kept: a zero-width space cannot slip a
    plate past its lookout, and a full-width plate id is the plate itself."""
    officer, analyst = auth["officer"], auth["analyst"]
    lookout = {"plate_id": "PLOOK1", "reason": "tip", "expires_at": soon()}
    assert client.post("/v1/lookouts", json=lookout, headers=analyst).status_code == 201
    response = client.post("/v1/lookouts", json=dict(lookout, plate_id="PLOOK1\u200b"),
                           headers=analyst)
    assert_error(response, 400, "invalid_value", "plate_id")
    assert "U+200B (ZERO WIDTH SPACE), a format character" in response.json["error"]["message"]

    response = client.post("/v1/score", json=outbound(1, plate_id="PLOOK1\u200b"),
                           headers=officer)
    assert_error(response, 400, "invalid_value", "plate_id")
    assert not rows(app, crossings)
    answer = client.post("/v1/score", json=outbound(2, plate_id="\uff30\uff2c\uff2f\uff2f\uff2b1"),
                         headers=officer)
    assert answer.status_code == 201 and answer.json["refer"] is True   # the lookout fired
    assert [r["plate_id"] for r in rows(app, crossings)] == ["PLOOK1"]
    lower = client.post("/v1/score", json=outbound(3, plate_id="plook1"), headers=officer)
    assert lower.status_code == 201 and rows(app, crossings, crossing_id="o3")[0]["plate_id"] \
        == "plook1"                                                       # case kept

    batch = {"crossings": [outbound(4, plate_id="P4"),
                           outbound(5, plate_id="P5", carrier_id="C\u202e9")]}
    assert_error(client.post("/v1/score/batch", json=batch, headers=officer),
                 400, "invalid_value", "crossings[1].carrier_id")
    assert_error(client.post("/v1/crossings", json=inbound(1, crossing_id="i\x071"),
                             headers=officer), 400, "invalid_value", "crossing_id")

    assert_error(client.get("/v1/crossings/o2%E2%80%8B", headers=officer),
                 400, "invalid_value", "crossing_id")
    assert_error(client.post("/v1/crossings/o2%E2%80%8B/outcome", headers=officer,
                             json={"inspected": False}), 400, "invalid_value", "crossing_id")
    found = client.get("/v1/crossings/%EF%BD%8F2", headers=officer)        # full-width o
    assert found.status_code == 200 and found.json["crossing"]["crossing_id"] == "o2"
