"""Default locations, from the settings (read once, :mod:`scoring.settings`) and command options."""
from __future__ import annotations

from pathlib import Path

from scoring.settings import site

DATA_DIR = Path(__file__).resolve().parent / "data"


def var_dir():
    """Working data of a checkout: ``$SOUTHBOUND_VAR`` or ``./var``."""
    return site().var


def registry_dir():
    """The model registry: ``$SOUTHBOUND_REGISTRY`` or ``./var/registry``."""
    return site().registry


def ports_file():
    return DATA_DIR / "sw_border_ports.csv"


def extra_ports_file():
    """A site's own port table added to the shipped one: ``$SOUTHBOUND_PORTS_FILE`` or None."""
    return site().ports_file
