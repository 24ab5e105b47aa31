"""Ed25519 keys that sign model manifests: made once, the private one kept on the training side.

The training side holds the private key (``$SOUTHBOUND_PRIVATE_KEY``, default
``var/keys/signing.key``, 0600) and signs every manifest it saves; the service and
the commands hold the public key (``$SOUTHBOUND_PUBLIC_KEY``, default
``var/keys/signing.pub``) and verify a manifest's signature before its artifact is
read, let alone unpickled. The manifest carries the artifact's SHA-256, so the
signature covers the artifact's bytes through their hash, the version it is filed
under, and everything else the service acts on. Whoever holds only the public key
(the service, an attacker who can write the registry folder) cannot sign.

Keys are PEM files: PKCS #8 (unencrypted; protected by its mode, as an ssh key is)
and SubjectPublicKeyInfo. A key's id is the first 16 hex digits of the SHA-256 of
its 32 raw public bytes, shown in messages and recorded beside each signature.
"""
from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (Ed25519PrivateKey,
                                                               Ed25519PublicKey)

from scoring.paths import var_dir

ALGORITHM = "ed25519"
PRIVATE_KEY_VARIABLE = "SOUTHBOUND_PRIVATE_KEY"
PUBLIC_KEY_VARIABLE = "SOUTHBOUND_PUBLIC_KEY"
INSECURE_VARIABLE = "SOUTHBOUND_INSECURE_UNSIGNED_MODELS"
PRIVATE_NAME = "signing.key"
PUBLIC_NAME = "signing.pub"


def default_keys_dir():
    """Where ``southbound keys create`` writes: ``$SOUTHBOUND_VAR/keys`` or ``./var/keys``."""
    return var_dir() / "keys"


def key_id(public_key):
    """A short public name of a key, to tell keys apart in messages (not a secret)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _write_new(path, data, mode):
    """Write ``data`` to a file that must not exist yet, created with ``mode`` at once
    (never readable by others, even for an instant)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(path, mode)  # whatever the umask took away or added


def create_key_pair(folder):
    """Make a new key pair in ``folder``: ``signing.key`` (0600) and ``signing.pub``
    (0644). Refuses (FileExistsError) to replace either. Returns (private path, public
    path, key id)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    private_path, public_path = folder / PRIVATE_NAME, folder / PUBLIC_NAME
    for path in (private_path, public_path):
        if path.exists():
            raise FileExistsError(17, "a key is already there (keys are never replaced "
                                      "silently: move it away first)", str(path))
    private = Ed25519PrivateKey.generate()
    _write_new(private_path, private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()), 0o600)
    public = private.public_key()
    _write_new(public_path, public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo), 0o644)
    return private_path, public_path, key_id(public)


def load_private_key(path):
    """The Ed25519 private key in ``path``; ValueError (saying which file and why) when it
    is missing, readable by other users, or not an Ed25519 private key."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"private key {path} cannot be read: {exc.strerror or exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(f"private key {path} is open to other users (mode "
                         f"{stat.S_IMODE(mode):04o}): `chmod 600 {path}`")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"private key {path} is not a PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"private key {path} is not an Ed25519 key")
    return key


def load_public_key(path):
    """The Ed25519 public key in ``path``; ValueError (saying which file and why)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"public key {path} cannot be read: {exc.strerror or exc}") from None
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"public key {path} is not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"public key {path} is not an Ed25519 key")
    return key


def configured_path(value, name):
    """The key file a command uses: ``value`` (the setting, e.g. ``$SOUTHBOUND_PUBLIC_KEY``)
    when set (it must exist), else ``var/keys/<name>`` when that file exists, else None."""
    if value:
        return Path(value)
    default = default_keys_dir() / name
    return default if default.exists() else None


def sign(private_key, message):
    """The signature record of ``message`` (bytes) for a manifest."""
    return {"algorithm": ALGORITHM, "key_id": key_id(private_key.public_key()),
            "value": base64.b64encode(private_key.sign(message)).decode("ascii")}


def verify(public_key, signature, message):
    """Whether ``signature`` (the value of a record, base64 text) signs ``message``."""
    try:
        raw = base64.b64decode(signature.encode("ascii"), validate=True)
        public_key.verify(raw, message)
    except (InvalidSignature, ValueError, UnicodeError):
        return False
    return True
