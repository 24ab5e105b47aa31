"""The model registry: versioned artifacts with manifests, and which one is active.

Layout under the registry root::

    versions/<version>/model.joblib     the fitted scoring.model.RiskModel
    versions/<version>/manifest.json    what it is, what it was trained on, its metrics
    versions/<version>/comparison.json  its latest off-policy comparison with a champion
    active.json                         {"version": ..., "history": [older actives]}
    shadow.json                         {"version": ...}: the challenger scored in shadow
    events.jsonl                        append-only log of promotions, rollbacks and
                                        shadow changes (``"kind": "shadow"``)

The work is split by job: :mod:`models.artifacts` saves, verifies, loads, lists and
signs versions; :mod:`models.pointers` moves the active and shadow pointers (promote,
rollback) and logs each move; :mod:`models.manifest` is the manifest's schema;
:class:`Registry` is the two halves in one object, and every public name of them is
importable from here.

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

# the names callers import from here, wherever they are defined
from models.artifacts import (_DOMAIN, _ENVIRONMENT, _LEGACY_DOMAIN,  # noqa: F401
                              LEGACY_ALGORITHM, LEGACY_KEY_VARIABLE, MANIFEST, SIGNATURE,
                              SIGNING_ALGORITHM, Versions, _signed_message)
from models.errors import ArtifactError, RegistryError, SignatureError  # noqa: F401
from models.files import json_safe, login_name, sha256_file  # noqa: F401
from models.manifest import ARTIFACT, Manifest  # noqa: F401
from models.pointers import COMPARISON, SHADOW, Pointers, evidence  # noqa: F401


class Registry(Versions, Pointers):
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

    def save(self, model, manifest, actor=None):
        """Store a model with its manifest (a :class:`Manifest` or its dict); activate it
        if the registry had none (``actor`` goes in ``events.jsonl``, as for
        :meth:`promote`).

        Returns the new version id (UTC time of saving plus the artifact's hash).
        """
        version = self._store(model, manifest)
        if self.active_version() is None:
            self._activate(version, "first model in an empty registry", actor=actor)
        return version
