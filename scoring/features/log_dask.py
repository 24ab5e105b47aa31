"""The crossing log on Dask: its files, read and checked one partition per file.

:func:`read_log_dask` takes a file, a directory or a glob of CSV and Parquet files (a
month per file is typical), one partition per file, each read and checked by
:func:`scoring.contract.read_log` on a worker, so a bad row is named by file, row,
column and value as in-process. Dask is imported inside the functions that need it:
:func:`log_files` serves the in-process commands too.
"""
from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pandas as pd

from scoring.contract import COLUMN_NAMES, ContractError, parse_frame, read_log, show_value
from scoring.contract import first_row as contract_first_row

#: the suffixes read as logs in a directory
LOG_SUFFIXES = (".csv", ".parquet")


def log_files(source):
    """The files of a log given as one file, a directory (its ``.csv`` and ``.parquet``
    files) or a glob, in name order; or of a list of them, in the list's order.

    Raises
    ------
    ContractError
        When nothing matches, naming what was given.
    """
    if isinstance(source, (list, tuple)):
        return [path for one in source for path in log_files(one)]
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in LOG_SUFFIXES)
    elif path.exists() or not glob.has_magic(str(source)):
        files = [path]  # a file, or one that read_log will say is not there
    else:
        files = sorted(Path(p) for p in glob.glob(str(source)))
    if not files:
        raise ContractError("no crossing log file here (a file, a directory of .csv or "
                            ".parquet files, or a glob)", source=str(source))
    return files


def empty_log():
    """A canonical log frame with no rows (the columns and dtypes of every partition)."""
    return parse_frame(pd.DataFrame({c: pd.Series([], dtype=object) for c in COLUMN_NAMES}),
                       source="<empty>").frame


def _read_part(path, describe=None, on_error="raise"):
    result = read_log(path, on_error=on_error)
    if describe is None:
        return result.frame
    return result.frame, describe(path, result)


def _identity(path):
    stat = Path(path).stat() if Path(path).exists() else None
    return (str(Path(path).resolve()), stat and stat.st_size, stat and stat.st_mtime_ns)


def read_log_dask(source, describe=None, on_error="raise"):
    """A crossing log as a lazy Dask frame, one partition per file.

    ``source``: a file, a directory or a glob (:func:`log_files`), or a list of them.

    Each file is read and checked on a worker when the frame is computed; a bad row
    raises :class:`~scoring.contract.ContractError` naming its file and row, as
    in-process, or with ``on_error="skip"`` is set aside in the file's ``ReadResult``
    (which ``describe`` sees). Rows keep their file order within a partition.

    With ``describe(path, result)``, also returns each file's description (a lazy
    object per file, made on the worker that reads the file, in the same task).
    """
    import dask
    import dask.dataframe as dd
    files = log_files(source)
    # a key per file's identity (path, size, time of change): a file changed or put in
    # another folder is read anew, never taken from a result the cluster still holds
    parts = [dask.delayed(_read_part)(str(path), describe, on_error,
                                      dask_key_name=f"read-log-{path.name}-"
                                      + dask.base.tokenize(_identity(path), describe, on_error))
             for path in files]
    if describe is None:
        return dd.from_delayed(parts, meta=empty_log(), verify_meta=False)
    frame = dd.from_delayed([part[0] for part in parts], meta=empty_log(), verify_meta=False)
    return frame, [part[1] for part in parts]


def read_described(files, client, describe=None, on_error="raise", on_read=None):
    """The log of ``files`` persisted on the cluster, its repeated ids refused
    (:func:`repeated_ids`), and each file's ``describe(path, result)`` (none without
    ``describe``), made where the file is read, so that it is read once.

    ``on_read(descriptions)`` sees them as made; they are returned without their
    ``rejects`` (the rejected rows, which ``on_read`` may write out).
    """
    import warnings
    if describe is None:
        log, described = persisted(client, read_log_dask(files, on_error=on_error)), []
    else:
        log, described = read_log_dask(files, describe=describe, on_error=on_error)
        with warnings.catch_warnings():
            # one persist of both: Dask notes that the frame's expressions are
            # materialised to go with the descriptions' graph, as they must
            warnings.filterwarnings("ignore", "Computing mixed collections", UserWarning)
            log, *described = persisted(client, [log, *described])
    repeated_ids(log, files, client)
    described = client.compute(described, sync=True) if described else []
    if on_read is not None:
        on_read(described)
    for source in described:
        source.pop("rejects", None)
    return log, described


def repeated_ids(log, files, client):
    """Refuse a log whose ``crossing_id`` repeats across or within its files, as
    in-process: naming the later row's file and row, and the first one's.

    One shuffle of the ids (``value_counts`` split over the log's partitions); only the
    repeated ids come back to the client.
    """
    counts = log["crossing_id"].value_counts(split_out=max(log.npartitions, 1))
    repeated = client.compute(counts[counts > 1], sync=True)
    if not len(repeated):
        return
    value = sorted(repeated.index)[0]
    where = log.map_partitions(_rows_of, value, meta={"part": int, "row": int})
    where = client.compute(where, sync=True).sort_values(["part", "row"])
    (first_part, first_row), (part, row) = where.to_numpy()[:2]
    raise ContractError(
        f"value {show_value(value)} is a repeated crossing_id (first at {files[first_part]}, "
        f"row {first_row + contract_first_row(files[first_part])})",
        source=str(files[part]), row=int(row + contract_first_row(files[part])),
        column="crossing_id")


def _rows_of(part, value, partition_info=None):
    rows = np.flatnonzero((part["crossing_id"] == value).to_numpy())
    return pd.DataFrame({"part": np.full(len(rows), partition_info["number"]), "row": rows})


def persisted(client, collections):
    """``client.persist(collections)``, returned once their graph has run.

    A cluster's scheduler in this process (a ``LocalCluster``) builds a persisted graph in
    a thread of its own while this one goes on. Python before 3.12 guards each
    ``functools.cached_property`` with one lock for every instance of its class, and
    dask's expressions compute their ``_meta`` as such properties: this thread building
    new expressions and that one building the graph take two of those locks in opposite
    orders and both wait forever (seen: ``train --engine dask`` hung). So nothing more is
    built until the graph has run.
    """
    from distributed import wait
    out = client.persist(collections)
    wait(out)
    return out
