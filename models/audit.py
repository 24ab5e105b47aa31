"""Changes of the model in service made outside the API (a training that activates its
model, promote, rollback, the challenger in shadow): each is made in the registry and
written to the service's audit table as the API writes it.

The store (:class:`service.store.Store`) is passed in, opened by the caller before
anything changes, so that an unreachable database refuses the change rather than
leave it unaudited.
"""
from __future__ import annotations


def _audit(store, actor, action, version, model_version, previous, via):
    with store.write() as conn:
        store.audit(conn, actor, action, target=version, model_version=model_version,
                    previous=previous, via=via)


def register(registry, store, model, manifest, promote, actor, via="southbound train"):
    """Save a trained model and return its version; make it active when ``promote``, or
    when none is (``store`` may be None only when neither holds)."""
    previous = registry.active_version()
    version = registry.save(model, manifest, actor=actor)
    if promote and registry.active_version() != version:
        registry.promote(version, "promoted at training", actor=actor)
    if registry.active_version() == version and previous != version:
        _audit(store, actor, "activate", version, version, previous, via)
    return version


def promote(registry, store, version, actor, via="southbound models promote"):
    """Make ``version`` the active model (it must verify and load); audited."""
    previous = registry.active_version()
    registry.promote(version, actor=actor)
    _audit(store, actor, "activate", version, version, previous, via)


def rollback(registry, store, actor, via="southbound models rollback"):
    """Re-activate the model active before the current one and return it; audited."""
    previous = registry.active_version()
    version = registry.rollback(actor=actor)
    _audit(store, actor, "rollback", version, version, previous, via)
    return version


def set_shadow(registry, store, version, actor, via="southbound models shadow"):
    """Score ``version`` in shadow beside the active model; return the challenger it
    replaces, or None. Audited."""
    active = registry.active_version()
    previous = registry.set_shadow(version, actor=actor, reason=via)
    _audit(store, actor, "shadow", version, active, previous, via)
    return previous


def end_shadow(registry, store, actor, via="southbound models shadow --end"):
    """Stop scoring in shadow; return the version that was, or None (nothing audited)."""
    active = registry.active_version()
    previous = registry.end_shadow(actor=actor, reason=via)
    if previous is not None:
        _audit(store, actor, "shadow_end", previous, active, None, via)
    return previous
