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

Signing (required). A registry with the training side's Ed25519 private key
(``SOUTHBOUND_PRIVATE_KEY``, :mod:`models.signing`) writes into each manifest it
saves ``"signature": {"algorithm": "ed25519", "key_id", "value"}``: a signature of
the whole manifest but the signature itself (canonical JSON: sorted keys, no spaces).
The manifest carries the artifact's SHA-256 and the version id, so the signature
covers the artifact's bytes through their hash, the version it is filed under, and
everything else the service acts on (the score quantiles that set the referral
threshold, the features). Loading verifies it with the public key
(``SOUTHBOUND_PUBLIC_KEY``) and refuses an unsigned manifest, a signature that does
not verify, one made with another key or with the retired shared HMAC key, and a
manifest filed under another version's name, all before the artifact is even
hashed, let alone unpickled: a pickle runs code as it loads, so nothing is
unpickled that the private key did not vouch for. Only an explicitly insecure
development mode (``SOUTHBOUND_INSECURE_UNSIGNED_MODELS=1``) skips the check.
Versions saved unsigned (or with the HMAC key) load again once ``sign`` (``southbound
models sign VERSION``, on the training side) has checked and signed them.
"""
from __future__ import annotations

import hashlib
import hmac
import io
import json
import math
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import joblib

from models import signing
from scoring.settings import site
from scoring.wording import plural

ARTIFACT = "model.joblib"
MANIFEST = "manifest.json"
SHADOW = "shadow.json"
COMPARISON = "comparison.json"
SIGNATURE = "signature"
SIGNING_ALGORITHM = signing.ALGORITHM
#: the retired shared (HMAC-SHA256) key: read only by ``sign`` to check an old signature
LEGACY_KEY_VARIABLE = "SOUTHBOUND_SIGNING_KEY"
LEGACY_ALGORITHM = "hmac-sha256"
_LEGACY_DOMAIN = b"southbound-manifest-v1\n"
_DOMAIN = b"southbound-manifest-v2\n"  # so a signature means nothing in another context
_ENVIRONMENT = object()  # a key argument left out: the process's settings (scoring.settings)


class RegistryError(Exception):
    """A registry operation that cannot be done; the message says why."""


class ArtifactError(RegistryError):
    """An artifact that fails its checks and must not be loaded."""


class SignatureError(ArtifactError):
    """A version whose signature does not vouch for it; ``reason`` says why in a few
    words that name no file (for public answers such as ``/readyz``)."""

    def __init__(self, version, reason, message):
        super().__init__(message)
        self.version = version
        self.reason = reason


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


def _signed_message(manifest, domain=_DOMAIN):
    """The bytes a manifest's signature covers: every field but the signature."""
    body = {k: v for k, v in manifest.items() if k != SIGNATURE}
    return domain + _dumps(body, separators=(",", ":"), ensure_ascii=True).encode()


def _private_key(value):
    """An Ed25519 private key, a path to one, or None; ``_ENVIRONMENT`` reads
    ``$SOUTHBOUND_PRIVATE_KEY`` (else ``var/keys/signing.key`` when it exists)."""
    if value is _ENVIRONMENT:
        value = signing.configured_path(site().private_key, signing.PRIVATE_NAME)
    if value is None or value == "" or hasattr(value, "sign"):
        return value or None
    try:
        return signing.load_private_key(value)
    except ValueError as exc:
        raise RegistryError(str(exc)) from None


class Registry:
    """Model versions in a folder.

    Parameters
    ----------
    root : str or Path
        Created on first save.
    private_key : Ed25519PrivateKey or path, optional
        The training side's key: ``save`` signs each manifest with it. Left out:
        ``$SOUTHBOUND_PRIVATE_KEY``, else ``var/keys/signing.key`` when it exists.
        The service passes None: it never holds the private key.
    public_key : Ed25519PublicKey or path, optional
        ``load`` refuses any version whose manifest it does not verify. Left out:
        ``$SOUTHBOUND_PUBLIC_KEY``, else ``var/keys/signing.pub`` when it exists;
        with neither, the private key's own public half.
    allow_unsigned : bool, optional
        The insecure development mode: load without checking signatures (the
        SHA-256 is still checked). Left out: ``$SOUTHBOUND_INSECURE_UNSIGNED_MODELS``.

    Examples
    --------
    >>> reg = Registry("var/registry")                  # doctest: +SKIP
    >>> version = reg.save(model, {"metrics": {...}})   # doctest: +SKIP
    >>> model, manifest = reg.load()                     # the active version   # doctest: +SKIP
    """

    def __init__(self, root, private_key=_ENVIRONMENT, public_key=_ENVIRONMENT,
                 allow_unsigned=_ENVIRONMENT):
        self.root = Path(root)
        self._private = _private_key(private_key)
        if public_key is _ENVIRONMENT:
            public_key = signing.configured_path(site().public_key, signing.PUBLIC_NAME)
        self._public_source = public_key or None
        self._public = None
        if allow_unsigned is _ENVIRONMENT:
            allow_unsigned = site().insecure_unsigned_models
        self.allow_unsigned = bool(allow_unsigned)

    @property
    def signing(self):
        """Whether this registry signs what it saves (it holds the private key)."""
        return self._private is not None

    def public_key(self):
        """The key signatures are verified with, or None when there is none;
        RegistryError when the configured file is not a readable Ed25519 public key."""
        if self._public is None:
            source = self._public_source
            if source is None:
                self._public = self._private.public_key() if self._private else None
            elif hasattr(source, "verify"):
                self._public = source
            else:
                try:
                    self._public = signing.load_public_key(source)
                except ValueError as exc:
                    raise RegistryError(str(exc)) from None
        return self._public

    def _sign(self, manifest):
        """``manifest`` (as it reads back from disk) with its signature."""
        manifest = json.loads(_dumps(manifest))  # the exact values a reader will see
        manifest.pop(SIGNATURE, None)
        manifest[SIGNATURE] = signing.sign(self._private, _signed_message(manifest))
        return manifest

    def verify_signature(self, version, manifest):
        """Refuse (SignatureError) a manifest the private key did not sign for ``version``.

        Reads only the manifest: call it before the artifact is opened. Does nothing
        in the insecure development mode (``allow_unsigned``).
        """
        if self.allow_unsigned:
            return
        signature = manifest.get(SIGNATURE)
        redo = f"on the training side, check and sign it with `southbound models sign {version}`"
        if not signature:
            raise SignatureError(version, "not signed", (
                f"model {version} is not signed: refusing to load it ({redo} if its "
                f"artifact is trusted)"))
        if isinstance(signature, dict) and signature.get("algorithm") == LEGACY_ALGORITHM:
            raise SignatureError(version, "signed with the retired shared key", (
                f"model {version} carries an HMAC signature of the retired shared key "
                f"({LEGACY_KEY_VARIABLE}), which whoever verifies could also make: refusing "
                f"to load it ({redo})"))
        if (not isinstance(signature, dict) or signature.get("algorithm") != SIGNING_ALGORITHM
                or not isinstance(signature.get("value"), str)):
            raise SignatureError(version, "malformed signature", (
                f"model {version} has a malformed signature (expected {SIGNING_ALGORITHM}): "
                f"refusing to load it"))
        public = self.public_key()
        if public is None:
            raise SignatureError(version, "no public key to verify it with", (
                f"no public key to verify model {version} with: set "
                f"{signing.PUBLIC_KEY_VARIABLE} to the training side's public key (a new "
                f"pair: `southbound keys create`); refusing to load it"))
        ours = signing.key_id(public)
        if not signing.verify(public, signature["value"], _signed_message(manifest)):
            theirs = signature.get("key_id")
            if theirs != ours:
                raise SignatureError(version, "signed with another key", (
                    f"model {version} fails its signature check: it was signed with another "
                    f"key (key id {theirs}, the public key is {ours}); refusing to load it"))
            raise SignatureError(version, "signature check failed", (
                f"model {version} fails its signature check: the manifest or the artifact "
                f"hash it vouches for was changed after signing; refusing to load it"))
        if manifest.get("version") != version:
            raise SignatureError(version, "filed under another version", (
                f"model {version} carries the signed manifest of "
                f"{manifest.get('version')!r}: refusing to load it"))

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
                if self._private is not None:
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
            The manifest's signature does not verify (SignatureError: unsigned,
            tampered, another key; unless ``allow_unsigned``), or the artifact is
            missing or its SHA-256 differs from the manifest's. Nothing is read,
            let alone unpickled, before the signature has verified.
        """
        version = self.resolve(version)
        manifest = self.manifest(version)
        self.verify_signature(version, manifest)
        # the bytes hashed are the bytes unpickled: a file swapped between the check
        # and the load (by whoever can write the folder) is never read again
        data = self._checked_artifact(version, manifest, "load")
        try:
            model = joblib.load(io.BytesIO(data))
        except Exception as exc:  # a verified file that still fails to unpickle
            raise ArtifactError(f"artifact of {version} does not load: {exc}") from None
        return model, manifest

    def _checked_artifact(self, version, manifest, action):
        """The artifact's bytes once they match the manifest's SHA-256."""
        artifact = manifest.get("artifact", ARTIFACT)
        if not isinstance(artifact, str) or Path(artifact).name != artifact:
            raise ArtifactError(f"manifest of {version} names artifact {artifact!r}: "
                                f"refusing to {action} it")
        path = self.versions_dir / version / artifact
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ArtifactError(f"artifact of {version} is unreadable: {exc}") from None
        digest = hashlib.sha256(data).hexdigest()
        if digest != manifest.get("artifact_sha256"):
            raise ArtifactError(
                f"artifact of {version} has SHA-256 {digest[:12]}…, manifest says "
                f"{str(manifest.get('artifact_sha256'))[:12]}…: refusing to {action} it")
        return data

    def sign(self, version, legacy_key=None):
        """Check an existing version and sign its manifest with the private key.

        For versions saved unsigned, with the retired shared HMAC key, or under a
        retired key pair. The artifact must match the manifest's SHA-256 (it is never
        unpickled); a manifest signed with the HMAC key must verify under
        ``legacy_key`` when one is given. Whoever signs vouches that the artifact is
        the one trained. Returns (signed manifest, whether it was signed now: False
        when it already verifies under this key).
        """
        if self._private is None:
            raise RegistryError(f"nothing to sign with: no private key "
                                f"({signing.PRIVATE_KEY_VARIABLE} is not set and there is no "
                                f"var/keys/{signing.PRIVATE_NAME}; `southbound keys create`)")
        manifest = self.manifest(version)
        if manifest.get("version") != version:
            raise ArtifactError(f"model {version} carries the manifest of "
                                f"{manifest.get('version')!r}: refusing to sign it")
        old = manifest.get(SIGNATURE)
        if isinstance(old, dict) and old.get("algorithm") == LEGACY_ALGORITHM and legacy_key:
            expected = hmac.new(legacy_key.encode(), _signed_message(manifest, _LEGACY_DOMAIN),
                                hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected.encode(), str(old.get("value")).encode()):
                raise ArtifactError(f"model {version} fails its old HMAC signature check "
                                    f"under {LEGACY_KEY_VARIABLE}: refusing to sign it")
        self._checked_artifact(version, manifest, "sign")
        public = self._private.public_key()
        if (isinstance(old, dict) and old.get("algorithm") == SIGNING_ALGORITHM
                and isinstance(old.get("value"), str)
                and signing.verify(public, old["value"], _signed_message(manifest))):
            return manifest, False
        signed = self._sign(manifest)
        _write_json(self.versions_dir / version / MANIFEST, signed)
        return signed, True

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
