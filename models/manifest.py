"""The manifest beside every artifact: what the model is, what grew it, how it did.

Training fills the first fields, the registry its own (version, creation time, the
artifact's name and SHA-256, the signature) when it saves. A manifest is JSON; this
module gives its fields names, types and the defaults every reader took for a field
left out, so that the keys are spelled once::

    >>> m = Manifest.from_dict({"trees": 12})
    >>> m.schema_version, m.trees, m.data, m.artifact
    (1, 12, {}, 'model.joblib')

``schema_version`` counts changes of meaning: a manifest written before it existed is
version 1, as are the ones written now (the same keys, plus the version). A manifest
of a newer version than this code reads is refused rather than misread.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

#: the version of the keys and meanings written now
SCHEMA_VERSION = 1
KIND = "southbound-risk-model"
ARTIFACT = "model.joblib"
#: the registry's fields: written once it has set them (an unsaved model has none)
REGISTRY_FIELDS = ("version", "created_at", "artifact", "artifact_sha256", "signature")
#: fields whose value is a JSON object: one written as null reads as empty, as every
#: reader took it
_SECTIONS = ("categories", "params", "training", "calibration", "data", "score_quantiles",
             "metrics", "libraries")


@dataclass
class Manifest:
    """A model's manifest, by field (see the module docstring).

    Fields training writes come first, in the order they are written; ``extra`` keeps
    any other key (``backtest``, added by ``southbound train --backtest``) as it was.
    """

    kind: str = KIND
    contract_version: str | None = None
    code_version: str | None = None
    features: list = field(default_factory=list)
    excluded_features: list = field(default_factory=list)
    features_without_values: list = field(default_factory=list)
    #: the categories of each categorical feature, as the encoder learnt them
    categories: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    #: how it was trained: calibration, weighting, trees, folds, seed, engine, ...
    training: dict = field(default_factory=dict)
    trees: int | None = None
    #: method, slope, intercept
    calibration: dict = field(default_factory=dict)
    #: sources, fingerprint, rows, outbound, windows, split, blocks, labelled
    data: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    score_quantiles: dict = field(default_factory=dict)
    #: {"validation": evaluate_scores' report}
    metrics: dict = field(default_factory=dict)
    libraries: dict = field(default_factory=dict)
    training_seconds: float | None = None
    schema_version: int = SCHEMA_VERSION
    # the registry's own
    version: str | None = None
    created_at: str | None = None
    artifact: str | None = None
    artifact_sha256: str | None = None
    signature: dict | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data):
        """The manifest of a JSON object as any version of the code wrote it.

        A key left out takes its default (``schema_version`` 1, ``artifact``
        ``model.joblib``, an empty object or list, else None); a value present is kept
        as it is, but for a section written as null, which reads as empty.

        Raises
        ------
        ValueError
            ``data`` is no JSON object, or its ``schema_version`` is not a version
            this code reads.
        """
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        version = data.get("schema_version", 1)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ValueError(f"schema_version {version!r} is not a positive integer")
        if version > SCHEMA_VERSION:
            raise ValueError(f"schema_version {version} is newer than this code reads "
                             f"({SCHEMA_VERSION}): upgrade southbound to read it")
        names = {f.name for f in fields(cls)} - {"extra"}
        known = {k: v for k, v in data.items() if k in names}
        for name in _SECTIONS:
            if name in known and known[name] is None:
                known[name] = {}
        known.setdefault("schema_version", 1)
        known.setdefault("artifact", ARTIFACT)
        return cls(**known, extra={k: v for k, v in data.items() if k not in names})

    def to_dict(self):
        """The JSON object: every field training writes, the registry's fields once
        set, then ``extra``. ``from_dict(m.to_dict()) == m``, and a saved manifest comes
        back as it was read (an unsaved one gains the default ``artifact``)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "extra" or (f.name in REGISTRY_FIELDS and value is None):
                continue
            out[f.name] = value
        out.update(self.extra)
        return out
