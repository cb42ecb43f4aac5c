"""`/api/claude/runs`: the caller's runs: list them, see one, follow its events from where a
client left off, cancel it."""

from flask import Blueprint, jsonify, request

from app.errors import BadRequest
from app.runs.book import public
from app.web import sse
from app.web.auth import principal
from app.web.bodies import validate
from app.web.context import current
from app.web.runs import relay
from app.web.schemas import run_events_query, runs_query

bp = Blueprint("runs", __name__, url_prefix="/api/claude/runs")


@bp.get("")
def index():
    """The caller's runs still kept, newest first, maybe only those with one status."""
    query = validate(request.args, runs_query)
    runs = current().runs.of(principal().owner, query["status"])
    return jsonify({"object": "list", "data": [public(meta) for meta in runs]})


@bp.get("/<run_id>")
def show(run_id: str):
    """One run as it stands: its status, what it waits for, and its result once ended."""
    return jsonify(public(current().runs.find(principal().owner, run_id)))


@bp.get("/<run_id>/events")
def events(run_id: str):
    """The run's events after the one the client had (Last-Event-ID, or ?after=), each once,
    then live until its result."""
    after = _after(validate(request.args, run_events_query)["after"])
    gateway = current()
    batches = gateway.runs.follow(principal().owner, run_id, after, gateway.limits.keepalive)
    return sse.response(relay(batches), lambda: None, {"X-Run-Id": run_id})


@bp.post("/<run_id>/cancel")
def cancel(run_id: str):
    """Interrupt the run wherever it runs; its session stays resumable."""
    meta = current().runs.cancel(principal().owner, run_id)
    if meta.ended:
        return jsonify(public(meta)), 200  # it had ended already: nothing to cancel
    return jsonify({**public(meta), "status": "cancelling"}), 202


def _after(query_after: int | None) -> int:
    """Where the client left off: `?after=`, else the Last-Event-ID header, else the start."""
    if query_after is not None:
        return query_after
    header = request.headers.get("Last-Event-ID", "").strip()
    if not header:
        return 0
    if not header.isdigit():
        raise BadRequest("Last-Event-ID must be the id of an event of this run.",
                         param="Last-Event-ID")
    return int(header)
