"""``southbound keys`` and ``tokens``: the key pair that signs models and the API's
tokens."""
from __future__ import annotations

from pathlib import Path

import click

from southbound.common import open_store, safe_url
from southbound.options import EXIT_REFUSED, actor_option, fail, handle_errors, iso


@click.group()
def keys():
    """The Ed25519 key pair that signs models (private: training side only)."""


@keys.command("create")
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of the pair [default: $SOUTHBOUND_VAR/keys or ./var/keys].")
@click.option("--if-missing", is_flag=True,
              help="Do nothing (exit 0) when the folder already holds a key pair.")
@actor_option
@handle_errors
def keys_create(folder, if_missing, actor):
    """Make a new key pair: signing.key (the private key, mode 0600: it stays on the
    training side, where models are trained and signed) and signing.pub (the public key,
    for the service and every command that loads a model). Never replaces a key.
    Audited (``key_create``, with the key id; a pair already there writes nothing)."""
    from models.audit import record
    from models.signing import (PRIVATE_NAME, PUBLIC_NAME, create_key_pair,
                                default_keys_dir, key_id, load_public_key)
    folder = folder or default_keys_dir()
    if if_missing and (folder / PRIVATE_NAME).exists() and (folder / PUBLIC_NAME).exists():
        click.echo(f"key pair already in {folder} (key id "
                   f"{key_id(load_public_key(folder / PUBLIC_NAME))})")
        return
    store = open_store()  # unreachable: refused before a key is made
    private, public, kid = create_key_pair(folder)
    record(store, actor, "key_create", target=kid, public_key=str(public.resolve()),
           via="southbound keys create")
    click.echo(f"created key pair {kid}: private key {private} (0600, training side only), "
               f"public key {public}")


@click.group()
def tokens():
    """API tokens (stored as hashes only)."""


@tokens.command("create")
@click.option("--role", type=click.Choice(["officer", "analyst", "admin"]), required=True)
@click.option("--name", required=True, help="Who or what holds the token.")
@click.option("--expires-days", type=click.IntRange(1, 3653), default=90, show_default=True,
              help="Days until the token expires (then it is refused with 401).")
@actor_option
@handle_errors
def tokens_create(role, name, expires_days, actor):
    """Create a token; it is printed once, alone on the last line."""
    from service.auth import create_token
    store = open_store()
    token = create_token(store, role, name, actor=actor.login, expires_days=expires_days,
                         **actor.detail())
    click.echo(f"created {role} token {name!r} in {safe_url(store.url)}, expiring in "
               f"{expires_days} days; it is shown once and only its hash is kept:")
    click.echo(token)


@tokens.command("list")
@handle_errors
def tokens_list():
    """Every token by id, name, role, created, expires and revoked (UTC); never the
    secret."""
    from service.auth import list_tokens
    rows = list_tokens(open_store())
    if not rows:
        click.echo("no tokens")
        return
    click.echo(f"{'id':>5}  {'role':<8}  {'created (UTC)':<19}  {'expires (UTC)':<19}  "
               f"{'revoked (UTC)':<19}  name")
    for row in rows:
        revoked = iso(row["revoked_at"])[:19] if row["revoked_at"] else "-"
        expires = iso(row["expires_at"])[:19] if row["expires_at"] else "never"
        click.echo(f"{row['id']:>5}  {row['role']:<8}  {iso(row['created_at'])[:19]:<19}  "
                   f"{expires:<19}  {revoked:<19}  {row['name']}")


@tokens.command("revoke")
@click.argument("token_id", type=int)
@actor_option
@handle_errors
def tokens_revoke(token_id, actor):
    """Revoke token TOKEN_ID: every worker refuses it within SOUTHBOUND_TOKEN_CACHE_SECONDS."""
    from service.auth import revoke_token
    try:
        name = revoke_token(open_store(), token_id, actor=actor.login, **actor.detail())
    except KeyError:
        fail(f"no token with id {token_id} (southbound tokens list shows them)", EXIT_REFUSED)
    except ValueError as exc:
        fail(str(exc), EXIT_REFUSED)
    click.echo(f"revoked token {token_id} ({name!r})")


COMMANDS = (keys, tokens)
