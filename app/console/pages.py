"""The console's pages: runs, sessions, one session, usage, health; one template each."""

from flask import Blueprint, render_template

from app.claude.command import EFFORTS
from app.console import headers
from app.settings import PERMISSION_MODES

bp = Blueprint("console", __name__, url_prefix="/", template_folder="templates",
               static_folder="static", static_url_path="console/static")
bp.after_request(headers.protect)


@bp.get("")
def runs():
    """What is running, queued and waiting now, and the approvals waiting for this key."""
    return render_template("console/runs.html", page="runs")


@bp.get("sessions")
def sessions():
    """The key's sessions, searchable by title."""
    return render_template("console/sessions.html", page="sessions")


@bp.get("sessions/<session_id>")
def session(session_id: str):
    """One session's transcript, with fork, delete and a form to continue it."""
    return render_template("console/session.html", page="sessions", session_id=session_id,
                           efforts=EFFORTS, permission_modes=PERMISSION_MODES)


@bp.get("usage")
def usage():
    """The key's turns, tokens and dollars against its limits; processes and queue."""
    return render_template("console/usage.html", page="usage")


@bp.get("status")
def status():
    """The health checks in words (the JSON is /health)."""
    return render_template("console/status.html", page="status")
