"""Files the product writes hold law-enforcement data (crossings, plates, decisions): each
is created readable and writable by its owner only (0600), whatever the process's umask,
before a byte of it is written.

A regular file of ours that exists already with other permissions is narrowed when it is
opened for writing; a file owned by another user, or a device, is left as it is.
"""
from __future__ import annotations

import os
import stat

#: the mode of every file the product writes with personal data
OWNER_ONLY = 0o600


def _narrow(fd):
    """Make an open regular file ours-only (0600) if we own it (never a device such as
    /dev/stdout)."""
    info = os.fstat(fd)
    if (stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid()
            and stat.S_IMODE(info.st_mode) != OWNER_ONLY):
        os.fchmod(fd, OWNER_ONLY)


def open_private(path, mode="w", **options):
    """``open(path, mode)`` for writing (``w``, ``wb``, ``a``, ``ab``), the file created
    0600 (or narrowed to it) before anything is written.

    Examples
    --------
    >>> with open_private(out, "w", encoding="utf-8") as handle:  # doctest: +SKIP
    ...     handle.write(page)
    """
    if mode.rstrip("bt") not in ("w", "a"):
        raise ValueError(f"open_private writes: mode {mode!r} is not 'w' or 'a'")
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC
    flags |= os.O_APPEND if mode.startswith("a") else os.O_TRUNC
    fd = os.open(path, flags, OWNER_ONLY)
    try:
        _narrow(fd)
        return os.fdopen(fd, mode, **options)
    except BaseException:
        os.close(fd)
        raise


def create_private(path):
    """Make sure ``path`` exists, 0600 (narrowed if ours and wider), without changing its
    contents: for writers that open a path themselves (SQLite, pandas, pyarrow), which
    then keep the file's mode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, OWNER_ONLY)
    try:
        _narrow(fd)
    finally:
        os.close(fd)
