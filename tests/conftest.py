"""Shared fixtures: a small generated world and a model trained on it (built once)."""
from __future__ import annotations

import pytest


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


@pytest.fixture
def runner():
    from click.testing import CliRunner
    return CliRunner()
