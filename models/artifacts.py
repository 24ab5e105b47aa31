"""Versions in the registry folder: save, verify, load, list and sign them.

:class:`Versions` is the half of :class:`models.registry.Registry` that reads and
writes ``versions/<version>/``: the artifact, its manifest (:class:`models.manifest.
Manifest`) and the manifest's signature, checked before any byte of the artifact is
read (see :mod:`models.registry` for why).
"""
from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import joblib

from models import signing
from models.errors import ArtifactError, RegistryError, SignatureError
from models.files import dumps, json_safe, sha256_file, write_json
from models.manifest import ARTIFACT, SCHEMA_VERSION, Manifest
from scoring.private import open_private
from scoring.settings import site

MANIFEST = "manifest.json"
SIGNATURE = "signature"
SIGNING_ALGORITHM = signing.ALGORITHM
#: the retired shared (HMAC-SHA256) key: read only by ``sign`` to check an old signature
LEGACY_KEY_VARIABLE = "SOUTHBOUND_SIGNING_KEY"
LEGACY_ALGORITHM = "hmac-sha256"
_LEGACY_DOMAIN = b"southbound-manifest-v1\n"
_DOMAIN = b"southbound-manifest-v2\n"  # so a signature means nothing in another context
_ENVIRONMENT = object()  # a key argument left out: the process's settings (scoring.settings)


def _signed_message(manifest, domain=_DOMAIN):
    """The bytes a manifest's signature covers: every field but the signature, as
    stored (a manifest saved before a field existed is checked without it)."""
    body = {k: v for k, v in manifest.items() if k != SIGNATURE}
    return domain + dumps(body, separators=(",", ":"), ensure_ascii=True).encode()


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


def _record(version, manifest):
    """``manifest`` (a dict) by field; ArtifactError when it cannot be read as one."""
    try:
        return Manifest.from_dict(manifest)
    except ValueError as exc:
        raise ArtifactError(f"manifest of {version!r} is unreadable: {exc}") from None


class Versions:
    """Model versions in ``root/versions``, with their keys (the parameters as
    :class:`models.registry.Registry` documents them)."""

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
        manifest = json.loads(dumps(manifest))  # the exact values a reader will see
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
        record = _record(version, manifest)
        signature = record.signature
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
        if record.version != version:
            raise SignatureError(version, "filed under another version", (
                f"model {version} carries the signed manifest of "
                f"{record.version!r}: refusing to load it"))

    @property
    def versions_dir(self):
        return self.root / "versions"

    def _store(self, model, manifest):
        """Write a new version (artifact, then its manifest, signed when the registry
        holds the private key) and return its id: the UTC time of saving plus the
        artifact's hash. ``manifest``: a :class:`Manifest` or its dict."""
        manifest = manifest.to_dict() if isinstance(manifest, Manifest) else dict(manifest)
        try:
            Manifest.from_dict(manifest)
        except ValueError as exc:
            raise RegistryError(f"not saving a manifest this code cannot read: {exc}") from None
        manifest.setdefault("schema_version", SCHEMA_VERSION)
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.versions_dir, prefix=".staging-"))
        try:
            with open_private(staging / ARTIFACT, "wb") as handle:
                joblib.dump(model, handle, compress=3)
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
                write_json(staging / MANIFEST, manifest)
                try:
                    os.rename(staging, self.versions_dir / version)
                    break
                except OSError:
                    if not (self.versions_dir / version).exists():
                        raise
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
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
        """The manifest of one version, as stored (a dict; :meth:`Manifest.from_dict`
        reads it by field), or RegistryError if there is no such version."""
        if not isinstance(version, str) or version in ("", ".", "..") or "/" in version:
            raise RegistryError(f"no model version {version!r} in {self.root}")
        path = self.versions_dir / version / MANIFEST
        try:
            manifest = json_safe(json.loads(path.read_text()))
        except FileNotFoundError:
            raise RegistryError(f"no model version {version!r} in {self.root}") from None
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"manifest of {version!r} is unreadable: {exc}") from None
        _record(version, manifest)
        return manifest

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
        record = _record(version, manifest)
        artifact = record.artifact
        if not isinstance(artifact, str) or Path(artifact).name != artifact:
            raise ArtifactError(f"manifest of {version} names artifact {artifact!r}: "
                                f"refusing to {action} it")
        path = self.versions_dir / version / artifact
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ArtifactError(f"artifact of {version} is unreadable: {exc}") from None
        digest = hashlib.sha256(data).hexdigest()
        if digest != record.artifact_sha256:
            raise ArtifactError(
                f"artifact of {version} has SHA-256 {digest[:12]}…, manifest says "
                f"{str(record.artifact_sha256)[:12]}…: refusing to {action} it")
        return data

    def sign(self, version, legacy_key=None):
        """Check an existing version and sign its manifest with the private key.

        For versions saved unsigned, with the retired shared HMAC key, or under a
        retired key pair. The artifact must match the manifest's SHA-256 (it is never
        unpickled); a manifest signed with the HMAC key must verify under
        ``legacy_key`` when one is given. Whoever signs vouches that the artifact is
        the one trained. The manifest is signed as stored (no field added). Returns
        (signed manifest, whether it was signed now: False when it already verifies
        under this key).
        """
        if self._private is None:
            raise RegistryError(f"nothing to sign with: no private key "
                                f"({signing.PRIVATE_KEY_VARIABLE} is not set and there is no "
                                f"var/keys/{signing.PRIVATE_NAME}; `southbound keys create`)")
        manifest = self.manifest(version)
        record = _record(version, manifest)
        if record.version != version:
            raise ArtifactError(f"model {version} carries the manifest of "
                                f"{record.version!r}: refusing to sign it")
        old = record.signature
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
        write_json(self.versions_dir / version / MANIFEST, signed)
        return signed, True
