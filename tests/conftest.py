"""Shared fixtures: a small generated world and a model trained on it (built once)."""
from __future__ import annotations

import os
import tempfile

import pytest

# Under pytest-xdist (`make test` runs one worker per core) each worker gets one thread
# for OpenMP (scikit-learn's trees) and BLAS, and so does every process it starts: a
# thread per core in every worker oversubscribes the cores, and OpenMP's spinning threads
# then wait on each other. Measured on 2 cores: 9m27s in one process, 10m36s on 2 workers
# with the default threads, 5m05s on 2 workers with one thread each.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_name] = "1"
# the run's own Ed25519 key pair (each xdist worker its own), never ./var/keys of the
# checkout: every registry a test saves is signed with it (the registry reads
# SOUTHBOUND_PRIVATE_KEY) and every load, command and served app verifies with it; the
# servers and commands the tests start inherit both variables
os.environ.pop("SOUTHBOUND_SIGNING_KEY", None)  # the retired shared key
os.environ.pop("SOUTHBOUND_INSECURE_UNSIGNED_MODELS", None)
from models.signing import create_key_pair  # noqa: E402

_private, _public, _ = create_key_pair(tempfile.mkdtemp(prefix="southbound-test-keys-"))
os.environ["SOUTHBOUND_PRIVATE_KEY"], os.environ["SOUTHBOUND_PUBLIC_KEY"] = (str(_private),
                                                                             str(_public))
# SQLite's commits under WAL without an fsync each (NORMAL survives a crash of the process,
# as FULL, the default, also survives power loss, which no test cuts): the stores the
# tests, commands and servers they start write to; tests/helpers/pg.py does the same for
# PostgreSQL's test databases (synchronous_commit off)
os.environ["SOUTHBOUND_SQLITE_SYNCHRONOUS"] = "NORMAL"
# commands that audit (train, models promote, tokens) write to a store of the run's own,
# never to ./var/southbound.db of the checkout or a store named in the caller's shell
os.environ["SOUTHBOUND_DATABASE_URL"] = (
    f"sqlite:///{tempfile.mkdtemp(prefix='southbound-tests-')}/commands.db")


@pytest.fixture(autouse=True)
def _site_read_afresh():
    """Each test's settings read afresh: the process reads ``SOUTHBOUND_*`` once
    (scoring.settings), and a test's ``monkeypatch.setenv`` or app must not leak into the next."""
    from scoring import settings
    settings.forget()
    yield
    settings.forget()


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    """A 60-day synthetic world written as CSV: (log path, truth path)."""
    from training.synth import WorldConfig, generate_world, write_world
    log, truth = generate_world(WorldConfig(days=60, seed=3, scale=0.004))
    return write_world(log, truth, tmp_path_factory.mktemp("world") / "world.csv")


@pytest.fixture(scope="session")
def world_frame(world):
    from scoring.contract import read_log
    return read_log(world[0]).frame


@pytest.fixture(scope="session")
def trained(world_frame):
    """(model, manifest) trained on the small world."""
    from training.fit import train
    return train(world_frame, progress=lambda message: None)


@pytest.fixture(scope="session")
def trained_early(world_frame):
    """(model, manifest) trained on the small world's rows before 2025-02-20: its last
    two weeks are rows the model's trees never saw (``evaluate`` grades them)."""
    import pandas as pd
    from training.fit import TrainConfig, train
    until = int(pd.Timestamp("2025-02-20", tz="UTC").value // 1000)
    return train(world_frame, TrainConfig(until=until), progress=lambda message: None)


@pytest.fixture(scope="session")
def challenger_model(world_frame):
    """Another model of the small world (a challenger): without the plate's prior
    seizures, another seed."""
    from training.fit import TrainConfig, train
    return train(world_frame, TrainConfig(exclude=("plate_prior_seizures",), seed=5),
                 progress=lambda message: None)


@pytest.fixture
def runner():
    from click.testing import CliRunner
    return CliRunner()


# --- the service ---------------------------------------------------------------

@pytest.fixture(scope="session")
def migrated_stores(tmp_path_factory):
    """Per kind of database, a store this process migrated once (made on first use):
    the SQLite file, the PostgreSQL database's name."""
    made, drops = {}, []

    def get(kind):
        if kind not in made:
            if kind == "sqlite":
                from service.store import Store
                path = tmp_path_factory.mktemp("migrated") / "southbound.db"
                store = Store(f"sqlite:///{path}")
                store.migrate()
                store.engine.dispose()
                made[kind] = path
            else:
                from tests.helpers.pg import migrated_database
                made[kind], drop = migrated_database()
                drops.append(drop)
        return made[kind]
    yield get
    for drop in drops:
        drop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path, migrated_stores):
    """Each service test runs against SQLite and against PostgreSQL, on a fresh database:
    empty, or for a test of the ``app`` fixture a copy of a freshly migrated store (the
    migrations run once per process, not once per test; the tests that build older
    schemas take ``database_url`` without ``app``)."""
    migrated = "app" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path / "southbound.db"
        if migrated:
            from scoring.private import create_private
            from tests.helpers.sqlite import copy_store
            create_private(path)
            copy_store(migrated_stores("sqlite"), path)
        yield f"sqlite:///{path}"
        return
    from tests.helpers.pg import pg_database
    url, drop = pg_database(template=migrated_stores("postgresql") if migrated else None)
    yield url
    drop()


@pytest.fixture
def store(database_url):
    """A migrated store on ``database_url`` (SQLite and PostgreSQL), closed after."""
    from service.store import Store
    store = Store(database_url)
    store.migrate()
    yield store
    store.engine.dispose()


@pytest.fixture(scope="session")
def pristine_registry(tmp_path_factory, trained):
    """A registry whose active model is the one trained on the small world; never
    served or changed itself: each user gets a copy (``tests.helpers.browser.registry_copy``)."""
    from models.registry import Registry
    path = tmp_path_factory.mktemp("service-registry")
    Registry(path).save(*trained)
    return path


@pytest.fixture
def registry_path(pristine_registry, tmp_path):
    """This test's own registry, the small world's model active."""
    from tests.helpers.browser import registry_copy
    return registry_copy(pristine_registry, tmp_path)


@pytest.fixture
def app(database_url, registry_path, tmp_path):
    from service import create_app
    app = create_app({"DATABASE_URL": database_url, "REGISTRY": str(registry_path),
                      "REPORT_DIR": str(tmp_path / "reports"),
                      "TOKEN_CACHE_SECONDS": 0, "MODEL_CHECK_SECONDS": 0,
                      "RANDOM_SEED": 1, "LOG_LEVEL": "WARNING", "MAX_BODY_BYTES": 200_000,
                      "RATE_LIMIT_PER_MINUTE": 0, "AUTH_FAILURES_PER_MINUTE": 0})
    yield app
    app.extensions["southbound.store"].engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def auth(app):
    """Authorization headers for each role."""
    from service.auth import create_token
    store = app.extensions["southbound.store"]
    return {role: {"Authorization": f"Bearer {create_token(store, role, role + '-test')}"}
            for role in ("officer", "analyst", "admin")}


@pytest.fixture
def private_pg():
    """A throwaway PostgreSQL cluster of this test's own, started (to stop, hang, restart)."""
    import subprocess

    from tests.helpers.browser import require
    from tests.helpers.pg import PrivateCluster, pg_missing
    require(pg_missing())
    cluster = PrivateCluster()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"{exc.cmd}: {exc.stderr}") from None
    finally:
        cluster.remove()
