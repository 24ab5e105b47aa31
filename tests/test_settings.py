"""The service's settings: each typed and range-checked when read, from the environment
(`serve`, `serve --check`, the commands that open the store) or from create_app's test
mapping; a bad one is one line naming the variable and its value, exit 2, before any
worker starts."""
from __future__ import annotations

import pytest

from scoring.settings import SETTINGS
from southbound.cli import main

BAD = {  # variable: (value, what the line must say after "error: SOUTHBOUND_<NAME> ")
    "DATABASE_URL": [("mysql://x", "'mysql://x' names the database 'mysql': the store is "
                                   "SQLite"),
                     ("not a url", "'not a url' is not a database URL"),
                     ("mysql://me:secret@db/x", "'mysql://me:***@db/x' names the database")],
    "BATCH_LIMIT": [("abc", "'abc' is not a whole number (>= 1)"),
                    ("0", "'0' is out of range: from 1 up")],
    "MAX_CLOCK_SKEW_SECONDS": [("-5", "'-5' is out of range: from 0 up"),
                               ("inf", "'inf' is not a finite number")],
    "RATE_LIMIT_PER_MINUTE": [("1.5", "'1.5' is not a whole number (>= 0)")],
    "AUTH_FAILURES_PER_MINUTE": [("-1", "'-1' is out of range: from 0 up")],
    "MODEL_CHECK_SECONDS": [("soon", "'soon' is not a number (>= 0)")],
    "SQLITE_SYNCHRONOUS": [("FULL; DROP TABLE x", "'FULL; DROP TABLE x' is not one of FULL, "
                                                  "NORMAL, EXTRA, OFF")],
    "LOG_LEVEL": [("LOUD", "'LOUD' is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL")],
    "RANDOM_SEED": [("x", "'x' is not a whole number (>= 0)")],
    "REDIS_URL": [("http://cache", "'http://cache' is not a Redis URL")],
    "INSECURE_UNSIGNED_MODELS": [("maybe", "'maybe' is not 1 or 0 (on or off)")],
    "REGISTRY": [(" ", "' ' is empty: give a path")],
}
CASES = [(name, value, said) for name, cases in BAD.items() for value, said in cases]


def _one_line(result, needle):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: " + needle), (needle, lines[0])
    return lines[0]


@pytest.mark.parametrize("name,value,said", CASES, ids=[f"{c[0]}={c[1]}" for c in CASES])
def test_serve_check_refuses_a_bad_setting_naming_it(runner, monkeypatch, name, value, said):
    monkeypatch.setenv(f"SOUTHBOUND_{name}", value)
    line = _one_line(runner.invoke(main, ["serve", "--check", "--port", "1"]),
                     f"SOUTHBOUND_{name} {said}")
    assert "secret" not in line


def test_serve_refuses_a_bad_setting_before_any_worker_starts(runner, monkeypatch):
    import service.server
    started = []
    monkeypatch.setattr(service.server, "run", lambda *a, **k: started.append(a))
    monkeypatch.setenv("SOUTHBOUND_BATCH_LIMIT", "abc")
    _one_line(runner.invoke(main, ["serve", "--port", "1"]), "SOUTHBOUND_BATCH_LIMIT 'abc'")
    assert not started


@pytest.mark.parametrize("text,said", [
    ("bogus_key = 3\n", "is not a referral policy: unknown key 'bogus_key'"),
    ("random_share = \"lots\"\n", "is not a referral policy: random_share 'lots'"),
    ("random_share = \n", "is not a TOML file"),
], ids=["unknown key", "wrong type", "not TOML"])
def test_a_bad_policy_file_in_the_environment_is_refused(runner, monkeypatch, tmp_path,
                                                          text, said):
    policy = tmp_path / "policy.toml"
    policy.write_text(text)
    monkeypatch.setenv("SOUTHBOUND_POLICY_FILE", str(policy))
    _one_line(runner.invoke(main, ["serve", "--check", "--port", "1"]),
              f"SOUTHBOUND_POLICY_FILE '{policy}' {said}")
    monkeypatch.setenv("SOUTHBOUND_POLICY_FILE", str(tmp_path / "none.toml"))
    _one_line(runner.invoke(main, ["serve", "--check", "--port", "1"]),
              "SOUTHBOUND_POLICY_FILE '" + str(tmp_path / "none.toml") + "' cannot be read")


def test_a_command_that_opens_the_store_refuses_a_bad_database_url(runner, monkeypatch):
    monkeypatch.setenv("SOUTHBOUND_DATABASE_URL", "mysql://x")
    _one_line(runner.invoke(main, ["tokens", "list"]),
              "SOUTHBOUND_DATABASE_URL 'mysql://x' names the database 'mysql'")


def test_the_defaults_are_valid_and_typed():
    from scoring.settings import SETTINGS, from_environment
    settings = from_environment({})
    assert list(settings) == [s.name for s in SETTINGS]
    assert settings["BATCH_LIMIT"] == 500 and isinstance(settings["BATCH_LIMIT"], int)
    assert settings["MAX_CLOCK_SKEW_SECONDS"] == 900.0
    assert settings["LOG_LEVEL"] == "INFO" and settings["RANDOM_SEED"] == ""
    again = from_environment({"SOUTHBOUND_LOG_LEVEL": "warning", "SOUTHBOUND_BATCH_LIMIT": " 20"})
    assert again["LOG_LEVEL"] == "WARNING" and again["BATCH_LIMIT"] == 20


@pytest.mark.parametrize("config,said", [
    ({"BATCH_LIMIT": "abc"}, "BATCH_LIMIT 'abc' is not a whole number"),
    ({"BATCH_LIMIT": True}, "BATCH_LIMIT True is not a whole number"),
    ({"MAX_CLOCK_SKEW_SECONDS": -1}, "MAX_CLOCK_SKEW_SECONDS -1 is out of range"),
    ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL 'mysql://x' names the database"),
], ids=["text", "bool", "negative", "database"])
def test_the_app_factorys_mapping_is_checked_the_same_way(tmp_path, config, said):
    from service import create_app
    from scoring.settings import SettingError
    with pytest.raises(SettingError, match="^" + said.replace("(", r"\(")):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
                    "REGISTRY": str(tmp_path / "registry"), **config})
    assert not (tmp_path / "store.db").exists()


@pytest.mark.parametrize("name", [s.name for s in SETTINGS])
def test_a_setting_read_again_from_its_own_value_keeps_it(name):
    """An app's settings are read once more when passed on (a replay's workers, a test's
    app made from another's config): each parser takes its own output back unchanged
    (SOUTHBOUND_RETENTION_DAYS once read its empty default as None, then refused None)."""
    setting = next(s for s in SETTINGS if s.name == name)
    value = setting.parse(setting.default)
    assert setting.parse(value) == value


def test_the_defaults_under_var_lie_under_southbound_var(tmp_path):
    from scoring.settings import from_environment
    var = tmp_path / "sb"
    moved = from_environment({"SOUTHBOUND_VAR": str(var)})
    assert moved["DATABASE_URL"] == f"sqlite:///{var}/southbound.db"
    assert moved["REGISTRY"] == str(var / "registry")
    assert moved["REPORT_DIR"] == str(var / "reports")
    assert moved["PUBLIC_KEY"] == str(var / "keys" / "signing.pub")
    plain = from_environment({})
    assert (plain["DATABASE_URL"], plain["REGISTRY"], plain["PUBLIC_KEY"]) == (
        "sqlite:///var/southbound.db", "var/registry", "var/keys/signing.pub")
    named = from_environment({"SOUTHBOUND_VAR": str(var), "SOUTHBOUND_REGISTRY": "/srv/reg",
                              "SOUTHBOUND_PUBLIC_KEY": ""})
    assert (named["REGISTRY"], named["PUBLIC_KEY"]) == ("/srv/reg", "")


def test_the_service_serves_what_the_commands_made_under_southbound_var(tmp_path, monkeypatch,
                                                                        trained):
    """`keys create`, then a model saved (as `train` saves it) and `serve`, all with only
    SOUTHBOUND_VAR set: the service verifies with the key the commands made there and
    serves the model from the registry there, its store there too."""
    from click.testing import CliRunner

    from models.registry import Registry
    from scoring import settings
    from service import create_app
    for name in ("PUBLIC_KEY", "PRIVATE_KEY", "DATABASE_URL", "REGISTRY", "REPORT_DIR"):
        monkeypatch.delenv("SOUTHBOUND_" + name, raising=False)
    var = tmp_path / "sb"
    monkeypatch.setenv("SOUTHBOUND_VAR", str(var))
    made = CliRunner().invoke(main, ["keys", "create"])
    assert made.exit_code == 0, made.output
    assert (var / "keys" / "signing.pub").exists()
    settings.forget()
    version = Registry(var / "registry").save(*trained)
    app = create_app({"LOG_LEVEL": "WARNING"})
    try:
        served = app.extensions["southbound.models"].served
        assert served is not None and served.version == version
        assert (var / "southbound.db").exists()
    finally:
        app.extensions["southbound.store"].engine.dispose()
