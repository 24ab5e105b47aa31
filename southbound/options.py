"""What the commands share: their options, declared once, the parsers of dates and spans
given on the command line, and the one error handler.

Bad input ends in one line on stderr that says what and where (file, row, column,
value), and exit code 2; a registry refusal ends in one line and exit code 1. Never a
traceback.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import click
import pandas as pd

from scoring import contract

EXIT_INPUT = 2
EXIT_REFUSED = 1


def fail(message, code):
    """End the command with one line on stderr and exit code ``code``."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def handle_errors(func):
    """Turn the domain's expected failures into one line and an exit code."""
    from models.registry import RegistryError
    from scoring.settings import SettingError
    from training.fit import TrainingError

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (contract.ContractError, SettingError) as exc:
            fail(str(exc), EXIT_INPUT)
        except TrainingError as exc:
            fail(str(exc), EXIT_INPUT)
        except RegistryError as exc:
            fail(str(exc), EXIT_REFUSED)
        except OSError as exc:
            fail(f"{exc.filename or ''}: {exc.strerror or exc}", EXIT_INPUT)
        except Exception as exc:  # the store unreachable: one line, never a traceback
            import sqlalchemy as sa
            if not isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError)):
                raise
            fail(f"the database cannot be reached: {str(exc.orig or exc).splitlines()[0]}",
                 EXIT_REFUSED)
    return wrapper


def utc_micros(text, option):
    """A date or timestamp given on the command line, as UTC µs."""
    try:
        stamp = pd.Timestamp(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a date such as 2025-04-06", param_hint=option)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return int(stamp.tz_convert("UTC").value // 1000)


def days(text, option):
    """A span such as ``30d`` or ``30`` as whole days."""
    value = str(text).strip().lower().removesuffix("d")
    if not value.isdigit() or int(value) < 1:
        raise click.BadParameter(f"{text!r} is not a number of days such as 30d",
                                 param_hint=option)
    return int(value)


def iso(micros):
    """UTC µs as the contract writes a timestamp (``...Z``)."""
    return contract.format_timestamp(int(micros))


registry_option = click.option(
    "--registry", type=click.Path(file_okay=False, path_type=Path),
    help="Model registry folder [default: $SOUTHBOUND_REGISTRY or ./var/registry].")
data_option = click.option(
    "--data", "data", multiple=True, required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Crossing log, CSV or Parquet (repeat for several).")
data_files_option = click.option(
    "--data", "data", multiple=True, required=True, type=click.Path(path_type=Path),
    help="Crossing log, CSV or Parquet: a file, a folder of them or a glob "
         "(repeat for several).")
on_error_option = click.option(
    "--on-error", type=click.Choice(["raise", "skip"]), default="raise", show_default=True,
    help="Stop at the first bad row, or set bad rows aside in a rejects file.")


def engine_options(func):
    """--engine and --scheduler: in-process pandas (default) or a Dask cluster."""
    func = click.option("--scheduler", metavar="ADDRESS",
                        help="Dask scheduler (tcp://host:8786) [default: "
                             "$SOUTHBOUND_DASK_SCHEDULER, else worker processes on this "
                             "machine]; with --engine dask.")(func)
    return click.option("--engine", type=click.Choice(["pandas", "dask"]), default="pandas",
                        show_default=True,
                        help="pandas: in one process (small logs); dask: on a Dask cluster, "
                             "for logs past one machine's memory.")(func)


pipeline_options = [
    click.option("--calibration", type=click.Choice(["crossfit", "holdout"]), default=None,
                 help="crossfit: trees on every labelled row, calibrated on out-of-fold "
                      "scores; holdout: trees on the oldest 70%, calibration and validation "
                      "on the newer 15% each [default: the pipeline's, see "
                      "benchmarks/README.md].")
    , click.option("--weighting", type=click.Choice(["ipw", "none"]), default=None,
                   help="Training weights: capped inverse selection probability, or none "
                        "[default: the pipeline's].")
    , click.option("--picks", type=click.Choice(["auto", "learnt", "ignored"]), default=None,
                   help="learnt: how each inspected crossing was picked (officer, lookout, "
                        "model, random) is an input of the trees, and every crossing is "
                        "scored as a random draw; ignored: the features alone; auto: learnt "
                        "when some inspection's selection probability is empty in the log "
                        "[default: the pipeline's, auto].")]


def pipeline(func):
    """--calibration, --weighting and --picks: the training pipeline's choices."""
    for option in reversed(pipeline_options):
        func = option(func)
    return func


def _acting(ctx, param, value):
    from models.audit import acting
    return acting(value)


actor_option = click.option(
    "--actor", metavar="NAME", callback=_acting,
    help="On whose behalf you act, kept in the audit row as on_behalf_of; the row's "
         "actor is always your login (the process's user), whatever this says.")
