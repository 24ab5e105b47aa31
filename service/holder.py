"""The model in service: loaded with its signature and SHA-256 checked, swapped without
dropping requests.

The service holds only the public key (``PUBLIC_KEY``): every version's manifest
signature is verified before its artifact is read, when ``active.json`` or
``shadow.json`` changes or an analyst activates one, never per request. A version
that fails is refused and the model already in service keeps scoring; with no
verified model at all the service answers 503 and ``/readyz`` says why.

Each worker keeps a (model, manifest, policy) triple and replaces it whole, so a
request in flight finishes with the model it started with. Workers notice an
activation made elsewhere by reading the registry's ``active.json`` at each check
(every ``MODEL_CHECK_SECONDS``): an activation reaches every worker within one check
interval plus the time to verify and load the model. The file's bytes are compared,
not its (mtime, size): a same-size rewrite within one timestamp tick is still seen.

The challenger in shadow (``shadow.json``, beside ``active.json``) is read the same
way, at the same checks: every worker of every instance sharing the registry scores
it within one check interval of a change. A challenger that cannot be loaded, or
that fails while scoring, is logged and dropped (until ``shadow.json`` changes);
scoring goes on with the model in service alone.

Instances on several hosts share the registry folder on a shared filesystem (README,
*Deployment*): these checks reopen the two files, which close-to-open consistency
makes current. Each served policy reads a port's recent scores from the store again
every ``THRESHOLD_REFRESH_SECONDS`` (``refresh_seconds``), so workers and instances
refer at one threshold.

A registry that cannot be read while serving (``active.json`` garbled, removed or
naming a missing version; a version whose artifact or signature fails) never takes
the model in service away: the worker logs the error once per change of
``active.json``, keeps scoring with the model it has, stays ready, and retries at
each check until the registry reads again.
"""
from __future__ import annotations

import logging
import threading
import time

from models.registry import _ENVIRONMENT, ArtifactError, Registry, RegistryError, SignatureError
from scoring.features import FEATURES
from scoring.policy import PolicyConfig, ReferralPolicy, ScoreQuantiles
from scoring.reasons import group_matrix
from scoring.score import score_one
from service.errors import ApiError, without_paths

log = logging.getLogger("southbound.service")


class Served:
    """What one request scores with: the model, its manifest, the policy, reason groups."""

    def __init__(self, model, manifest, policy):
        self.model = model
        self.manifest = manifest
        self.version = manifest["version"]
        self.policy = policy
        self.groups = group_matrix(model.features_)


class Challenger:
    """A model scored in shadow: its score of a crossing and whether it would refer it
    at the port's capacity, by its own per-port score quantiles (never the decision)."""

    def __init__(self, model, manifest):
        self.model = model
        self.manifest = manifest
        self.version = manifest["version"]
        self.quantiles = ScoreQuantiles.from_manifest(manifest)
        missing = sorted(set(model.features_) - set(FEATURES))
        if missing:
            raise ArtifactError(f"model {self.version} needs features this service does not "
                                f"compute: {', '.join(missing)}")

    def score(self, features, port, config, scored_at):
        """The ``shadow_scores`` row of one crossing (its features computed once, for
        the model in service)."""
        scored = score_one(self.model, features, config.bands,
                           threshold=self.quantiles.threshold(port, config.capacity_of(port)))
        return {"scored_at": scored_at, "port_code": port, "model_version": self.version,
                "risk_score": scored.probability, "raw_score": scored.raw,
                "threshold": scored.threshold, "would_refer": scored.refer}


class ModelHolder:
    """The active model of a registry, for one worker."""

    def __init__(self, registry, policy_config, window, check_seconds, public_key=_ENVIRONMENT,
                 refresh_seconds=None, allow_unsigned=_ENVIRONMENT):
        # never the private key: the service cannot sign a model
        self.registry = Registry(registry, private_key=None, public_key=public_key,
                                 allow_unsigned=allow_unsigned)
        self.policy_config = policy_config
        self.window = window
        self.refresh_seconds = refresh_seconds
        self.check_seconds = check_seconds
        self.served = None
        self.error = None
        self.refused = None  # why the active version was refused, naming no file
        self._checked = 0.0
        self._stamp = None
        self._logged = None  # (stamp, error) last logged, so a fault is logged once
        self._lock = threading.Lock()
        self.challenger = None       # the Challenger scored in shadow, or None
        self.shadow_error = None
        self._shadow_stamp = None    # bytes of shadow.json when last read

    def _shadow_bytes(self):
        try:
            return (self.registry.root / "shadow.json").read_bytes()
        except OSError:
            return None

    def load_shadow(self):
        """(Re)read ``shadow.json``: load its challenger, or drop it (logged) when it
        cannot be served; scoring never depends on it."""
        self._shadow_stamp = self._shadow_bytes()
        try:
            version = self.registry.shadow_version()
            if version is None:
                self.challenger, self.shadow_error = None, None
                return None
            if self.challenger is not None and self.challenger.version == version:
                return self.challenger
            self.challenger = Challenger(*self.registry.load(version))
            self.shadow_error = None
            log.info("scoring model %s in shadow", version, extra={"shadow_version": version})
        except Exception as exc:  # noqa: BLE001 - a bad challenger must never stop scoring
            self.drop_shadow(exc)
        return self.challenger

    def drop_shadow(self, exc):
        """Stop scoring the challenger in this worker until ``shadow.json`` changes."""
        version = self.challenger.version if self.challenger else None
        self.challenger = None
        self.shadow_error = f"{type(exc).__name__}: {exc}"
        log.error("challenger dropped from shadow: %s", self.shadow_error,
                  extra={"shadow_version": version})

    def _active_stamp(self):
        """The bytes of ``active.json`` (a few dozen), or None when it cannot be read."""
        try:
            return (self.registry.root / "active.json").read_bytes()
        except OSError:
            return None

    def load_active(self):
        """(Re)load the registry's active version; on failure keep the current model."""
        stamp = self._active_stamp()
        try:
            version = self.registry.resolve()
            if self.served is not None and self.served.version == version:
                self._stamp = stamp
                self.error = None
                return self.served
            served = self._build(*self.registry.load(version))
            event = self.registry.last_event()
        except RegistryError as exc:
            self.error = str(exc)
            self.refused = (f"model {exc.version} refused: {exc.reason}"
                            if isinstance(exc, SignatureError) else None)
            if self._logged != (stamp, self.error):  # once per fault, not at every check
                self._logged = (stamp, self.error)
                log.error("model not loaded: %s", exc, extra={
                    "model_version": self.served.version if self.served else None})
            return self.served
        if event is None or event.get("version") != served.version:
            log.warning("active.json names model %s but no promotion recorded it: edited by "
                        "hand? serving it, actor unknown", served.version,
                        extra={"model_version": served.version, "actor": "unknown"})
        self._serve(served)
        self._stamp = stamp
        return self.served

    def _build(self, model, manifest):
        """What a loaded model would be served as; ArtifactError if it cannot be."""
        try:
            policy = ReferralPolicy(self.policy_config, ScoreQuantiles.from_manifest(manifest),
                                    window=self.window, refresh_seconds=self.refresh_seconds)
            return Served(model, manifest, policy)
        except Exception as exc:  # noqa: BLE001 - any bad artifact must be refused, not served
            raise ArtifactError(f"model {manifest.get('version')} cannot be served: "
                                f"{type(exc).__name__}: {exc}") from None

    def _serve(self, served):
        if self.served is not None:  # carry the recent-score windows over
            served.policy.carry_over(self.served.policy)
        self.served = served
        self.error = None
        self.refused = None
        self._logged = None
        log.info("serving model %s", served.version)

    def current(self):
        """The served triple; 503 when there is no model to serve."""
        now = time.monotonic()
        if now - self._checked >= self.check_seconds:
            with self._lock:
                if now - self._checked >= self.check_seconds:
                    self._checked = now
                    if self._active_stamp() != self._stamp:
                        self.load_active()
                    if self._shadow_bytes() != self._shadow_stamp:
                        self.load_shadow()
        if self.served is None:
            raise ApiError(503, "no_model", without_paths(self.error, self.registry.root)
                           if self.error else "no active model to score with")
        return self.served

    def activate(self, version, actor=None):
        """Promote ``version`` in the registry and serve it; refuse a bad artifact.

        Raises RegistryError (the old model keeps serving).
        """
        with self._lock:
            model, manifest = self.registry.load(version)
            served = self._build(model, manifest)
            self.registry.promote(version, "activated through the API", actor=actor)
            self._serve(served)
            self._stamp = self._active_stamp()
            self.load_shadow()  # promoting the challenger ends its shadow
        return manifest

    def rollback(self, actor=None):
        """Serve the version active before the current one (RegistryError: nothing to roll
        back to, or it is refused; the current model keeps serving). Returns it."""
        with self._lock:
            version = self.registry.rollback(actor=actor)
            self.load_active()
            self.load_shadow()
        return version

    def set_shadow(self, version, actor=None):
        """Score ``version`` in shadow from now on (RegistryError when it cannot be);
        returns the challenger it replaced, or None."""
        with self._lock:
            previous = self.registry.set_shadow(version, actor=actor,
                                                reason="shadow set through the API")
            self.load_shadow()
        return previous

    def end_shadow(self, actor=None):
        """Stop scoring in shadow; returns the version that was."""
        with self._lock:
            previous = self.registry.end_shadow(actor=actor, reason="shadow ended through the API")
            self.load_shadow()
        return previous


def init_app(app):
    config = app.config
    policy = (PolicyConfig.from_toml(config["POLICY_FILE"]) if config["POLICY_FILE"]
              else PolicyConfig())
    insecure = config["INSECURE_UNSIGNED_MODELS"]
    if insecure:
        log.warning("INSECURE development mode (SOUTHBOUND_INSECURE_UNSIGNED_MODELS): model "
                    "signatures are NOT checked; any file in the registry can run code in "
                    "this service. Never in production")
    holder = ModelHolder(config["REGISTRY"], policy, config["THRESHOLD_WINDOW"],
                         config["MODEL_CHECK_SECONDS"], config["PUBLIC_KEY"] or None,
                         config["THRESHOLD_REFRESH_SECONDS"], allow_unsigned=insecure)
    holder.load_active()
    holder.load_shadow()
    app.extensions["southbound.models"] = holder
