"""The registry's files: their hashes, and strict JSON written atomically."""
from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile

from scoring.private import open_private


def login_name():
    """Who runs this process (an event with no actor given is theirs): the login of its
    effective user in the password database, never $USER or $LOGNAME (which anyone sets),
    or ``uid N`` for a user the database does not name."""
    import pwd
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def sha256_file(path, chunk=1 << 20):
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def json_safe(value):
    """``value`` with every NaN or infinity replaced by None (strict JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def dumps(data, **options):
    """Strict JSON of ``data`` (NaN and infinities as null), keys sorted."""
    return json.dumps(json_safe(data), sort_keys=True, default=str, allow_nan=False,
                      **options)


def write_json(path, data):
    """Write strict JSON atomically: a temporary file in the same folder, then rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w") as handle:
        handle.write(dumps(data, indent=2))
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def append_line(path, event):
    """Append one JSON line to ``path`` and flush it to disk (an append-only log)."""
    with open_private(path, "a") as handle:
        handle.write(json.dumps(event) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
