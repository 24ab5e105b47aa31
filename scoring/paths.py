"""Default locations, overridable by environment variables and command options."""
from __future__ import annotations

import os
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"


def var_dir():
    """Working data of a checkout: ``$SOUTHBOUND_VAR`` or ``./var``."""
    return Path(os.environ.get("SOUTHBOUND_VAR", "var"))


def registry_dir():
    """The model registry: ``$SOUTHBOUND_REGISTRY`` or ``./var/registry``."""
    return Path(os.environ.get("SOUTHBOUND_REGISTRY") or var_dir() / "registry")


def ports_file():
    return DATA_DIR / "sw_border_ports.csv"


def extra_ports_file():
    """A site's own port table added to the shipped one: ``$SOUTHBOUND_PORTS_FILE`` or None."""
    return os.environ.get("SOUTHBOUND_PORTS_FILE") or None
