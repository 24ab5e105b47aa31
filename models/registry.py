"""The model registry: versioned artifacts with manifests, and which one is active.

Layout under the registry root::

    versions/<version>/model.joblib     the fitted scoring.model.RiskModel
    versions/<version>/manifest.json    what it is, what it was trained on, its metrics
    active.json                         {"version": ..., "history": [older actives]}
    events.jsonl                        append-only log of promotions and rollbacks

A version directory is written under a temporary name and renamed into place,
so a reader never sees half an artifact. Loading checks the artifact's SHA-256
against the manifest *before* unpickling it.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import joblib

ARTIFACT = "model.joblib"
MANIFEST = "manifest.json"


class RegistryError(Exception):
    """A registry operation that cannot be done; the message says why."""


class ArtifactError(RegistryError):
    """An artifact that fails its checks and must not be loaded."""


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


def _write_json(path, data):
    """Write strict JSON atomically: a temporary file in the same folder, then rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w") as handle:
        json.dump(json_safe(data), handle, indent=2, sort_keys=True, default=str,
                  allow_nan=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class Registry:
    """Model versions in a folder.

    Parameters
    ----------
    root : str or Path
        Created on first save.

    Examples
    --------
    >>> reg = Registry("var/registry")                  # doctest: +SKIP
    >>> version = reg.save(model, {"metrics": {...}})   # doctest: +SKIP
    >>> model, manifest = reg.load()                     # the active version   # doctest: +SKIP
    """

    def __init__(self, root):
        self.root = Path(root)

    @property
    def versions_dir(self):
        return self.root / "versions"

    def save(self, model, manifest):
        """Store a model with its manifest; activate it if the registry had none.

        Returns the new version id (UTC time of saving plus the artifact's hash).
        """
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.versions_dir, prefix=".staging-"))
        try:
            joblib.dump(model, staging / ARTIFACT, compress=3)
            digest = sha256_file(staging / ARTIFACT)
            now = datetime.now(timezone.utc)
            base = f"{now:%Y%m%dT%H%M%S}Z-{digest[:8]}"
            for attempt in range(1, 1000):
                # the same bytes saved twice in one second get a suffix
                version = base if attempt == 1 else f"{base}-{attempt}"
                manifest = dict(manifest, version=version, created_at=now.isoformat(),
                                artifact=ARTIFACT, artifact_sha256=digest)
                _write_json(staging / MANIFEST, manifest)
                try:
                    os.rename(staging, self.versions_dir / version)
                    break
                except OSError:
                    if not (self.versions_dir / version).exists():
                        raise
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        if self.active_version() is None:
            self._activate(version, "first model in an empty registry")
        return version

    def versions(self):
        """Manifests of every version, oldest first."""
        if not self.versions_dir.is_dir():
            return []
        out = []
        for path in sorted(self.versions_dir.iterdir()):
            if path.name.startswith(".") or not (path / MANIFEST).is_file():
                continue
            out.append(self.manifest(path.name))
        return out

    def manifest(self, version):
        """The manifest of one version, or RegistryError if there is no such version."""
        path = self.versions_dir / str(version) / MANIFEST
        try:
            return json_safe(json.loads(path.read_text()))
        except FileNotFoundError:
            raise RegistryError(f"no model version {version!r} in {self.root}") from None
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"manifest of {version!r} is unreadable: {exc}") from None

    def _state(self):
        path = self.root / "active.json"
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return {"version": None, "history": []}
        except (OSError, ValueError) as exc:
            raise RegistryError(f"{path} is unreadable: {exc}") from None

    def active_version(self):
        """The active version id, or None."""
        return self._state()["version"]

    def resolve(self, version=None):
        """``version`` itself, or the active one; RegistryError when there is none."""
        version = version or self.active_version()
        if version is None:
            raise RegistryError(f"no active model in {self.root}: train one first")
        return version

    def load(self, version=None):
        """Verify and load a version (default: the active one).

        Returns
        -------
        (model, manifest)

        Raises
        ------
        ArtifactError
            The artifact is missing, or its SHA-256 differs from the manifest's.
        """
        version = self.resolve(version)
        manifest = self.manifest(version)
        path = self.versions_dir / version / manifest.get("artifact", ARTIFACT)
        try:
            digest = sha256_file(path)
        except OSError as exc:
            raise ArtifactError(f"artifact of {version} is unreadable: {exc}") from None
        if digest != manifest.get("artifact_sha256"):
            raise ArtifactError(
                f"artifact of {version} has SHA-256 {digest[:12]}…, manifest says "
                f"{str(manifest.get('artifact_sha256'))[:12]}…: refusing to load it")
        try:
            model = joblib.load(path)
        except Exception as exc:  # a verified file that still fails to unpickle
            raise ArtifactError(f"artifact of {version} does not load: {exc}") from None
        return model, manifest

    def promote(self, version, reason="promoted"):
        """Make ``version`` the active model (it must load cleanly)."""
        self.load(version)
        self._activate(version, reason)

    def rollback(self):
        """Re-activate the version that was active before the current one."""
        state = self._state()
        history = [v for v in state["history"] if v != state["version"]]
        if not history:
            raise RegistryError("nothing to roll back to: no earlier active version")
        previous = history[-1]
        self.load(previous)
        self._activate(previous, "rollback", pop=True)
        return previous

    def _activate(self, version, reason, pop=False):
        self.root.mkdir(parents=True, exist_ok=True)
        state = self._state()
        history = list(state["history"])
        if pop:
            history = history[:-1]
        elif state["version"] and state["version"] != version:
            history.append(state["version"])
        _write_json(self.root / "active.json", {"version": version, "history": history})
        event = {"at": datetime.now(timezone.utc).isoformat(), "version": version,
                 "previous": state["version"], "reason": reason}
        with open(self.root / "events.jsonl", "a") as handle:
            handle.write(json.dumps(event) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
