"""`flask --app app keys ...`: create, list, revoke, rotate and capture the managed API keys.

A new or rotated key is printed once, on stdout alone (hints go to stderr), and only its
hash is kept, in the state database (STATE_DIR's, or DATABASE_URL's).
"""

import os
from datetime import datetime, timezone

import click
from dotenv import load_dotenv

from app.settings import SettingsError, read_settings
from app.shared.keys import DEFAULT_SCOPES, SCOPES, KeyStore
from app.shared.state import StateUnavailable
from app.wiring import open_state


def _attempt(action):
    """Run `action(store)` on the key store, then close the database; a refusal is the
    command's error."""
    load_dotenv(os.path.join(os.getcwd(), ".env"), override=False)  # as create_app does
    try:
        db = open_state(read_settings(os.environ))
    except (SettingsError, StateUnavailable) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        return action(KeyStore(db))
    except (ValueError, StateUnavailable) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        db.close()


@click.group("keys")
def keys_group() -> None:
    """Manage API keys: scopes, limits, debug captures."""


@keys_group.command("create")
@click.argument("name")
@click.option("--scopes", default=",".join(DEFAULT_SCOPES), show_default=True,
              help=f"Comma-separated, from: {', '.join(SCOPES)}.")
@click.option("--rpm", type=click.IntRange(min=1), help="Requests per minute.")
@click.option("--daily-tokens", type=click.IntRange(min=1), help="Tokens per UTC day.")
@click.option("--daily-usd", type=click.FloatRange(min=0, min_open=True),
              help="US dollars per UTC day.")
@click.option("--capture/--no-capture", default=False, help="Debug captures of its requests.")
def create(name, scopes, rpm, daily_tokens, daily_usd, capture) -> None:
    """Make a key called NAME and print it (the only time it is shown)."""
    chosen = [scope.strip() for scope in scopes.split(",") if scope.strip()]
    key = _attempt(lambda store: store.create(name, chosen, rpm, daily_tokens, daily_usd,
                                                   capture))
    click.echo(key)
    click.echo(f"Key {name!r} made; it is not shown again. Clients send it as "
               "'Authorization: Bearer <key>'.", err=True)


@keys_group.command("list")
def list_keys() -> None:
    """Show every key: scopes, limits, when made, whether revoked (never the key)."""
    for row in _attempt(lambda store: store.rows()):
        limits = ", ".join(f"{label}={row[field]}" for field, label in (
            ("rpm", "rpm"), ("daily_tokens", "daily-tokens"), ("daily_usd", "daily-usd"))
            if row[field] is not None) or "no limits"
        state = f"revoked {_day(row['revoked_at'])}" if row["revoked_at"] else "active"
        click.echo(f"{row['name']}\t{state}\t{','.join(row['scopes'])}\t{limits}\t"
                   f"capture={'on' if row['capture'] else 'off'}\tmade {_day(row['created_at'])}")


@keys_group.command("revoke")
@click.argument("name")
def revoke(name) -> None:
    """Stop the key called NAME from working."""
    _attempt(lambda store: store.revoke(name))
    click.echo(f"Key {name!r} revoked.", err=True)


@keys_group.command("rotate")
@click.argument("name")
def rotate(name) -> None:
    """Give NAME a new key and print it; the old one stops working, its sessions stay."""
    click.echo(_attempt(lambda store: store.rotate(name)))
    click.echo(f"Key {name!r} rotated; the old key no longer works.", err=True)


@keys_group.command("capture")
@click.argument("name")
@click.argument("state", type=click.Choice(["on", "off"]))
def capture(name, state) -> None:
    """Turn debug captures of NAME's requests on or off (STATE_DIR/captures)."""
    _attempt(lambda store: store.set_capture(name, state == "on"))
    click.echo(f"Captures for {name!r} are {state}.", err=True)


def _day(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%d")
