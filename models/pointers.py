"""Which version is served: the active and shadow pointers, rollback, and their log.

:class:`Pointers` is the half of :class:`models.registry.Registry` that reads and
writes ``active.json``, ``shadow.json``, ``events.jsonl`` and the comparisons kept
beside a version; before pointing at a version it loads it (``self.load``, from
:class:`models.artifacts.Versions`), so no pointer ever names a model that fails its
checks.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

from models.errors import RegistryError
from models.files import append_line, json_safe, login_name, write_json
from scoring.wording import plural

SHADOW = "shadow.json"
COMPARISON = "comparison.json"


class Pointers:
    """The active model with its history, the challenger in shadow, and the events."""

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
        write_json(self.root / "active.json", {"version": version, "history": history})
        self._event({"at": datetime.now(timezone.utc).isoformat(), "version": version,
                     "previous": state["version"], "reason": reason,
                     "actor": actor or login_name()})

    def _event(self, event):
        append_line(self.root / "events.jsonl", event)

    # -- the challenger in shadow ---------------------------------------------

    def save_comparison(self, version, result):
        """Keep ``result`` (a :func:`training.compare.compare`, champion named in it) as
        the latest comparison of ``version``, beside its manifest."""
        self.manifest(version)  # an unknown version is refused, naming it
        stamped = dict(json_safe(result), compared_at=datetime.now(timezone.utc).isoformat())
        write_json(self.versions_dir / version / COMPARISON, stamped)

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
        write_json(self.root / SHADOW, {"version": version})
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
