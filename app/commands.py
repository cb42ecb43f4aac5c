"""Operator commands on Flask's CLI: `flask --app app doctor`, `gen-key`, `keys ...` and
`db upgrade`.

Flask's CLI calls `create_app()` to find an app's commands. For these, `create_app` hands
back `operator_app()` instead: it starts no process and refuses no setting, so `doctor`
can report a setting the server would refuse as a problem line, not a traceback.
"""

import os
import secrets

import click
from dotenv import load_dotenv
from flask import Flask
from flask.cli import FlaskGroup

from app import logs
from app.key_commands import keys_group
from app.ops import doctor
from app.settings import SettingsError, read_settings
from app.shared.state import StateUnavailable
from app.wiring import build_gateway, open_state

KEY_BYTES = 32


def loading_for_command() -> bool:
    """Tell whether Flask's CLI is loading the app to look up one of the app's own commands
    (`flask run`, `shell` and `routes` load it inside their own command instead)."""
    context = click.get_current_context(silent=True)
    return context is not None and isinstance(context.command, FlaskGroup)


def operator_app() -> Flask:
    """Build an app that carries only the operator commands."""
    app = Flask(__name__.split(".")[0])
    app.cli.add_command(doctor_command)
    app.cli.add_command(gen_key_command)
    app.cli.add_command(keys_group)
    app.cli.add_command(db_group)
    return app


@click.command("doctor")
def doctor_command() -> None:
    """Check the set-up, one line per check; exit 1 on a problem."""
    load_dotenv(os.path.join(os.getcwd(), ".env"), override=False)  # as create_app does
    logs.configure("WARNING", "text")
    findings = doctor.examine(os.environ, build_gateway, open_state)
    for finding in findings:
        click.echo(finding.line())
    if not all(finding.ok for finding in findings):
        raise click.exceptions.Exit(1)


@click.command("gen-key")
def gen_key_command() -> None:
    """Print a new random API key for API_KEY or API_KEYS."""
    click.echo(secrets.token_urlsafe(KEY_BYTES))
    # the hint goes to stderr, so `KEY=$(flask --app app gen-key)` takes the key alone
    click.echo("Put it in .env as API_KEY=<key> (or add it to API_KEYS, comma-separated); "
               "clients send it as 'Authorization: Bearer <key>'.", err=True)


@click.group("db")
def db_group() -> None:
    """The state database: SQLite in STATE_DIR, or the PostgreSQL DATABASE_URL names."""


@db_group.command("upgrade")
def db_upgrade_command() -> None:
    """Bring the state database's schema to this release's newest revision (the server does
    it too as it starts; run this first to upgrade by hand, e.g. with a migrating user)."""
    load_dotenv(os.path.join(os.getcwd(), ".env"), override=False)  # as create_app does
    try:
        db = open_state(read_settings(os.environ), migrate=False)
        try:
            before, after = db.upgrade()
        finally:
            db.close()
    except (SettingsError, StateUnavailable) as exc:
        raise click.ClickException(str(exc)) from None
    done = "already the newest" if before == after else f"upgraded from {before or 'nothing'}"
    click.echo(f"{db.where}: schema at revision {after} ({done})")
