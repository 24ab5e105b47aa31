"""The model registry: versioned artifacts with manifests, and which one is active.

Layout under the registry root::

    versions/<version>/model.joblib     the fitted scoring.model.RiskModel
    versions/<version>/manifest.json    what it is, what it was trained on, its metrics
    versions/<version>/comparison.json  its latest off-policy comparison with a champion
    active.json                         {"version": ..., "history": [older actives]}
    shadow.json                         {"version": ...}: the challenger scored in shadow
    events.jsonl                        append-only log of promotions, rollbacks and
                                        shadow changes (``"kind": "shadow"``)

A version directory is written under a temporary name and renamed into place,
so a reader never sees half an artifact. Loading checks the artifact's SHA-256
against the manifest *before* unpickling it.

Signing (optional). A registry given a signing key (``SOUTHBOUND_SIGNING_KEY``)
writes into each manifest it saves ``"signature": {"algorithm": "hmac-sha256",
"key_id", "value"}``: an HMAC-SHA256 under the key of the whole manifest but the
signature itself (canonical JSON: sorted keys, no spaces). The manifest carries the
artifact's SHA-256 and the version id, so the signature covers the artifact's bytes
through their hash, the version it is filed under, and everything else the service
acts on (the score quantiles that set the referral threshold, the features).
With a key, loading refuses an unsigned manifest, a signature that does not verify
and a manifest filed under another version's name, all before the artifact is even
hashed, let alone unpickled. Without a key nothing is checked beyond the SHA-256,
and a signed manifest loads like any other.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import joblib

from scoring.wording import plural

ARTIFACT = "model.joblib"
MANIFEST = "manifest.json"
SHADOW = "shadow.json"
COMPARISON = "comparison.json"
SIGNATURE = "signature"
SIGNING_ALGORITHM = "hmac-sha256"
SIGNING_KEY_VARIABLE = "SOUTHBOUND_SIGNING_KEY"
MIN_KEY_CHARS = 32
_DOMAIN = b"southbound-manifest-v1\n"  # so a signature means nothing in another context


class RegistryError(Exception):
    """A registry operation that cannot be done; the message says why."""


class ArtifactError(RegistryError):
    """An artifact that fails its checks and must not be loaded."""


def login_name():
    """Who runs this process (an event with no actor given is theirs), or "unknown"."""
    import getpass
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


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


def _dumps(data, **options):
    return json.dumps(json_safe(data), sort_keys=True, default=str, allow_nan=False,
                      **options)


def _write_json(path, data):
    """Write strict JSON atomically: a temporary file in the same folder, then rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w") as handle:
        handle.write(_dumps(data, indent=2))
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _key_bytes(key):
    """The signing key as bytes, or None for no key; RegistryError for a short one."""
    if key is None or key in ("", b""):
        return None
    raw = key.encode() if isinstance(key, str) else bytes(key)
    if len(raw) < MIN_KEY_CHARS:
        raise RegistryError(
            f"{SIGNING_KEY_VARIABLE} is {len(raw)} characters long; use at least "
            f"{MIN_KEY_CHARS} random ones (e.g. `openssl rand -hex 32`)")
    return raw


def signing_key_from_environment(environ=os.environ):
    """``$SOUTHBOUND_SIGNING_KEY``, or None when it is unset or empty."""
    return environ.get(SIGNING_KEY_VARIABLE) or None


def _signed_message(manifest):
    """The bytes a manifest's signature covers: every field but the signature."""
    body = {k: v for k, v in manifest.items() if k != SIGNATURE}
    return _DOMAIN + _dumps(body, separators=(",", ":"), ensure_ascii=True).encode()


def _key_id(key):
    """A short public name for a key, to tell keys apart in messages (not a secret)."""
    return hashlib.sha256(b"southbound-key-id\n" + key).hexdigest()[:12]


class Registry:
    """Model versions in a folder.

    Parameters
    ----------
    root : str or Path
        Created on first save.
    signing_key : str or bytes, optional
        With a key (at least 32 characters), ``save`` signs each manifest and
        ``load`` refuses any version whose manifest is unsigned or does not verify.

    Examples
    --------
    >>> reg = Registry("var/registry")                  # doctest: +SKIP
    >>> version = reg.save(model, {"metrics": {...}})   # doctest: +SKIP
    >>> model, manifest = reg.load()                     # the active version   # doctest: +SKIP
    """

    def __init__(self, root, signing_key=None):
        self.root = Path(root)
        self._key = _key_bytes(signing_key)

    @property
    def signing(self):
        """Whether this registry signs what it saves and checks what it loads."""
        return self._key is not None

    def _sign(self, manifest):
        """``manifest`` (as it reads back from disk) with its signature."""
        manifest = json.loads(_dumps(manifest))  # the exact values a reader will see
        manifest.pop(SIGNATURE, None)
        value = hmac.new(self._key, _signed_message(manifest), hashlib.sha256).hexdigest()
        manifest[SIGNATURE] = {"algorithm": SIGNING_ALGORITHM, "key_id": _key_id(self._key),
                               "value": value}
        return manifest

    def verify_signature(self, version, manifest):
        """Refuse (ArtifactError) a manifest this registry's key did not sign.

        Does nothing without a key. Reads only the manifest: call it before the
        artifact is opened.
        """
        if self._key is None:
            return
        signature = manifest.get(SIGNATURE)
        if not signature:
            raise ArtifactError(
                f"model {version} is not signed and {SIGNING_KEY_VARIABLE} is set: "
                f"refusing to load it (sign it with `southbound models sign {version}` "
                f"if its artifact is trusted)")
        if (not isinstance(signature, dict) or signature.get("algorithm") != SIGNING_ALGORITHM
                or not isinstance(signature.get("value"), str)):
            raise ArtifactError(f"model {version} has a malformed signature "
                                f"(expected {SIGNING_ALGORITHM}): refusing to load it")
        expected = hmac.new(self._key, _signed_message(manifest), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature["value"].encode("utf-8",
                                                                            "replace")):
            ours = _key_id(self._key)
            theirs = signature.get("key_id")
            why = (f"it was signed with another key (key id {theirs}, "
                   f"{SIGNING_KEY_VARIABLE} is {ours})" if theirs and theirs != ours
                   else "the manifest or the artifact hash it vouches for was changed "
                        "after signing")
            raise ArtifactError(f"model {version} fails its signature check: {why}; "
                                f"refusing to load it")
        if manifest.get("version") != version:
            raise ArtifactError(
                f"model {version} carries the signed manifest of "
                f"{manifest.get('version')!r}: refusing to load it")

    @property
    def versions_dir(self):
        return self.root / "versions"

    def save(self, model, manifest, actor=None):
        """Store a model with its manifest; activate it if the registry had none (``actor``
        goes in ``events.jsonl``, as for :meth:`promote`).

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
                manifest.pop(SIGNATURE, None)  # never carry over a stale signature
                if self._key is not None:
                    manifest = self._sign(manifest)
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
            self._activate(version, "first model in an empty registry", actor=actor)
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
        if not isinstance(version, str) or version in ("", ".", "..") or "/" in version:
            raise RegistryError(f"no model version {version!r} in {self.root}")
        path = self.versions_dir / version / MANIFEST
        try:
            manifest = json_safe(json.loads(path.read_text()))
        except FileNotFoundError:
            raise RegistryError(f"no model version {version!r} in {self.root}") from None
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"manifest of {version!r} is unreadable: {exc}") from None
        if not isinstance(manifest, dict):
            raise ArtifactError(f"manifest of {version!r} is unreadable: not a JSON object")
        return manifest

    def _state(self):
        path = self.root / "active.json"
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError:
            return {"version": None, "history": []}
        except (OSError, ValueError) as exc:
            raise RegistryError(f"{path} is unreadable: {exc}") from None
        if (not isinstance(state, dict) or "version" not in state
                or not isinstance(state["version"], (str, type(None)))
                or not isinstance(state.get("history", []), list)
                or not all(isinstance(v, str) for v in state.get("history", []))):
            raise RegistryError(f"{path} is unreadable: not "
                                '{"version": "<version>", "history": [...]}')
        return {"version": state.get("version"), "history": state.get("history", [])}

    def last_event(self):
        """The newest readable promotion or rollback of ``events.jsonl``, or None (shadow
        changes are skipped: they never change the model in service)."""
        try:
            lines = (self.root / "events.jsonl").read_text().splitlines()
        except OSError:
            return None
        for line in reversed(lines):
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("kind", "active") == "active":
                return event
        return None

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
            The artifact is missing, or its SHA-256 differs from the manifest's; with
            a signing key, also when the manifest is unsigned or its signature fails.
            Nothing is unpickled before every check has passed.
        """
        version = self.resolve(version)
        manifest = self.manifest(version)
        self.verify_signature(version, manifest)
        path = self._checked_artifact(version, manifest, "load")
        try:
            model = joblib.load(path)
        except Exception as exc:  # a verified file that still fails to unpickle
            raise ArtifactError(f"artifact of {version} does not load: {exc}") from None
        return model, manifest

    def _checked_artifact(self, version, manifest, action):
        """The artifact's path once its bytes match the manifest's SHA-256."""
        artifact = manifest.get("artifact", ARTIFACT)
        if not isinstance(artifact, str) or Path(artifact).name != artifact:
            raise ArtifactError(f"manifest of {version} names artifact {artifact!r}: "
                                f"refusing to {action} it")
        path = self.versions_dir / version / artifact
        try:
            digest = sha256_file(path)
        except OSError as exc:
            raise ArtifactError(f"artifact of {version} is unreadable: {exc}") from None
        if digest != manifest.get("artifact_sha256"):
            raise ArtifactError(
                f"artifact of {version} has SHA-256 {digest[:12]}…, manifest says "
                f"{str(manifest.get('artifact_sha256'))[:12]}…: refusing to {action} it")
        return path

    def sign(self, version):
        """Sign an existing version's manifest with this registry's key.

        For versions saved before signing was switched on, or under a retired key.
        Checks the artifact against the manifest's SHA-256 first (never unpickles
        it): whoever signs vouches that the artifact is the one trained.
        Returns the signed manifest.
        """
        if self._key is None:
            raise RegistryError(f"nothing to sign with: {SIGNING_KEY_VARIABLE} is not set")
        manifest = self.manifest(version)
        if manifest.get("version") != version:
            raise ArtifactError(f"model {version} carries the manifest of "
                                f"{manifest.get('version')!r}: refusing to sign it")
        self._checked_artifact(version, manifest, "sign")
        signed = self._sign(manifest)
        _write_json(self.versions_dir / version / MANIFEST, signed)
        return signed

    def promote(self, version, reason="promoted", actor=None):
        """Make ``version`` the active model (it must load cleanly); ``actor`` goes in
        ``events.jsonl``."""
        self.load(version)
        self._activate(version, reason, actor=actor)
        try:
            challenger = self.shadow_version()
        except RegistryError:
            challenger = None
        if challenger == version:  # the challenger won: it no longer shadows itself
            self._set_shadow(None, actor, f"{version} promoted to active")

    def rollback_target(self):
        """The version :meth:`rollback` would serve again, or None."""
        state = self._state()
        history = [v for v in state["history"] if v != state["version"]]
        return history[-1] if history else None

    def rollback(self, actor=None):
        """Re-activate the version that was active before the current one."""
        previous = self.rollback_target()
        if previous is None:
            raise RegistryError(self._nothing_earlier(self._state()["version"]))
        self.load(previous)
        self._activate(previous, "rollback", pop=True, actor=actor)
        return previous

    def _nothing_earlier(self, current):
        """Why there is nothing to roll back to, naming what was served after ``current``
        when a rollback undid it."""
        if current is None:
            return f"nothing to roll back to: no model is active in {self.root}"
        message = (f"nothing to roll back to: {current} is the earliest version this registry "
                   "has served")
        last = self.last_event() or {}
        if last.get("reason") == "rollback" and last.get("version") == current \
                and last.get("previous"):
            message += (f" ({last['previous']}, active after it, was rolled back already: "
                        f"`southbound models promote {last['previous']}` serves it again)")
        return message

    def _activate(self, version, reason, pop=False, actor=None):
        self.root.mkdir(parents=True, exist_ok=True)
        state = self._state()
        history = list(state["history"])
        if pop:
            history = history[:-1]
        elif state["version"] and state["version"] != version:
            history.append(state["version"])
        _write_json(self.root / "active.json", {"version": version, "history": history})
        self._event({"at": datetime.now(timezone.utc).isoformat(), "version": version,
                     "previous": state["version"], "reason": reason,
                     "actor": actor or login_name()})

    def _event(self, event):
        with open(self.root / "events.jsonl", "a") as handle:
            handle.write(json.dumps(event) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    # -- the challenger in shadow ---------------------------------------------

    def save_comparison(self, version, result):
        """Keep ``result`` (a :func:`training.compare.compare`, champion named in it) as
        the latest comparison of ``version``, beside its manifest."""
        self.manifest(version)  # an unknown version is refused, naming it
        stamped = dict(json_safe(result), compared_at=datetime.now(timezone.utc).isoformat())
        _write_json(self.versions_dir / version / COMPARISON, stamped)

    def comparison(self, version):
        """The latest comparison kept for ``version``, or None."""
        try:
            return json.loads((self.versions_dir / version / COMPARISON).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise RegistryError(f"comparison of {version} is unreadable: {exc}") from None

    def shadow_version(self):
        """The version scored in shadow beside the active one, or None."""
        path = self.root / SHADOW
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise RegistryError(f"{path} is unreadable: {exc}") from None
        if not isinstance(state, dict) or not isinstance(state.get("version"), (str, type(None))):
            raise RegistryError(f'{path} is unreadable: not {{"version": "<version>"}}')
        return state["version"]

    def set_shadow(self, version, actor=None, reason="shadow"):
        """Score ``version`` in shadow beside the active model (it must verify and load,
        and not be the active one); replaces any earlier challenger. Returns the one
        it replaced, or None."""
        if version == self.active_version():
            raise RegistryError(f"model {version} is the active model: a challenger in "
                                "shadow is another version")
        self.load(version)
        return self._set_shadow(version, actor, reason)

    def end_shadow(self, actor=None, reason="shadow ended"):
        """Stop scoring in shadow; returns the version that was, or None."""
        return self._set_shadow(None, actor, reason)

    def _set_shadow(self, version, actor, reason):
        self.root.mkdir(parents=True, exist_ok=True)
        previous = self.shadow_version()
        _write_json(self.root / SHADOW, {"version": version})
        self._event({"at": datetime.now(timezone.utc).isoformat(), "kind": "shadow",
                     "version": version, "previous": previous, "reason": reason,
                     "actor": actor or login_name()})
        return previous


def evidence(registry, version, champion):
    """(found, words): the latest comparison of ``version`` against ``champion`` (the
    model in service) kept in the registry, or why there is none."""
    if champion is None or champion == version:
        return False, f"no comparison to show: {version} would replace no other model"
    kept = registry.comparison(version)
    hint = f"southbound compare --champion {champion} --challenger {version}"
    if kept is None:
        return False, f"no comparison of {version} against {champion} is kept ({hint})"
    if kept.get("champion") != champion:
        return False, (f"the latest comparison of {version} is against {kept.get('champion')}, "
                       f"not the model in service {champion} ({hint})")
    labels = kept.get("labels", {})
    if kept.get("sufficient") is False:
        return False, (f"the latest comparison of {version} against {champion} is insufficient "
                       f"evidence: {kept.get('verdict')} ({hint})")
    return True, (f"evidence ({kept.get('compared_at', '?')[:16]}, "
                  f"{plural(labels.get('crossings', 0), 'crossing')} scored by both, "
                  f"{plural(labels.get('labelled_seizures', 0), 'seizure')}): "
                  f"{kept.get('verdict')}")
