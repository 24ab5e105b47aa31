"""Writes made outside the API (a training that registers a model, promote, rollback,
the challenger in shadow, signing, exports, reports): each is made, then written to the
service's audit table as the API writes it.

The store (:class:`service.store.Store`) is passed in, opened by the caller before
anything changes, so that an unreachable database refuses the change rather than
leave it unaudited.

Who acts is an :class:`Actor`: the row's actor is the login of the process, which a
command-line option cannot change; a different name given with ``--actor`` is kept in
the row's detail as ``on_behalf_of``, a claim nobody has checked.
"""
from __future__ import annotations

from typing import NamedTuple

from models.files import login_name


class Actor(NamedTuple):
    """Who does a command: ``login`` (the audit row's actor) and ``claimed``, the name
    given with --actor when it differs from the login (else None)."""
    login: str
    claimed: str | None = None

    def detail(self):
        """The audit row's detail that says on whose behalf, if anyone's."""
        return {"on_behalf_of": self.claimed} if self.claimed else {}


def acting(claimed=None):
    """The :class:`Actor` of this process, with ``claimed`` kept when it is another name."""
    login = login_name()
    claimed = (claimed or "").strip() or None
    return Actor(login, claimed if claimed != login else None)


def record(store, actor, action, target=None, model_version=None, **detail):
    """Write one audit row of ``actor`` (an :class:`Actor`) in its own transaction."""
    with store.write() as conn:
        store.audit(conn, actor.login, action, target=target, model_version=model_version,
                    **detail, **actor.detail())


def _audit(store, actor, action, version, model_version, previous, via):
    record(store, actor, action, version, model_version, previous=previous, via=via)


def register(registry, store, model, manifest, promote, actor, via="southbound train"):
    """Save a trained model and return its version (audited: ``register``); make it active
    when ``promote``, or when none is (audited: ``activate``)."""
    previous = registry.active_version()
    version = registry.save(model, manifest, actor=actor.login)
    record(store, actor, "register", version, version, via=via,
           signed="signature" in registry.manifest(version))
    if promote and registry.active_version() != version:
        registry.promote(version, "promoted at training", actor=actor.login)
    if registry.active_version() == version and previous != version:
        _audit(store, actor, "activate", version, version, previous, via)
    return version


def promote(registry, store, version, actor, via="southbound models promote"):
    """Make ``version`` the active model (it must verify and load); audited."""
    previous = registry.active_version()
    registry.promote(version, actor=actor.login)
    _audit(store, actor, "activate", version, version, previous, via)


def rollback(registry, store, actor, via="southbound models rollback"):
    """Re-activate the model active before the current one and return it; audited."""
    previous = registry.active_version()
    version = registry.rollback(actor=actor.login)
    _audit(store, actor, "rollback", version, version, previous, via)
    return version


def set_shadow(registry, store, version, actor, via="southbound models shadow"):
    """Score ``version`` in shadow beside the active model; return the challenger it
    replaces, or None. Audited."""
    active = registry.active_version()
    previous = registry.set_shadow(version, actor=actor.login, reason=via)
    _audit(store, actor, "shadow", version, active, previous, via)
    return previous


def end_shadow(registry, store, actor, via="southbound models shadow --end"):
    """Stop scoring in shadow; return the version that was, or None (nothing audited)."""
    active = registry.active_version()
    previous = registry.end_shadow(actor=actor.login, reason=via)
    if previous is not None:
        _audit(store, actor, "shadow_end", previous, active, None, via)
    return previous


def sign(registry, store, version, actor, legacy_key=None, via="southbound models sign"):
    """Sign ``version``'s manifest with the registry's private key; return whether it was
    signed now (audited: ``sign``) or already was (nothing written)."""
    _, signed = registry.sign(version, legacy_key=legacy_key)
    if signed:
        from models.signing import key_id
        public = registry.public_key()
        record(store, actor, "sign", version, version, via=via,
               key_id=key_id(public) if public else None)
    return signed
