"""The ``southbound`` command: one group, one subcommand per job.

The commands live in :mod:`southbound.commands`, one module per family; their shared
options and error handler in :mod:`southbound.options`. Bad input ends in one line on
stderr that says what and where, and exit code 2; a registry refusal ends in one line
and exit code 1. Never a traceback.
"""
from __future__ import annotations

import click

from southbound.commands import (credentials, grading, models, retention, scoring, service,
                                 training, trail, world)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="southbound")
def main():
    """Southbound: risk scoring of outbound crossings at US-Mexico land ports."""
    from scoring import settings
    settings.use()   # SOUTHBOUND_* read once per command, before its options' defaults


for family in (world, training, grading, scoring, models, service, credentials, trail,
               retention):
    for command in family.COMMANDS:
        main.add_command(command)


if __name__ == "__main__":
    main()
