"""What the registry raises."""
from __future__ import annotations


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
