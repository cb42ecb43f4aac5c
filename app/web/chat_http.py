"""What every chat route does besides its own wire format: read the session named outside
the messages and the tool display from the request's headers, set the answer's session
and ignored fields on the response's, and send the answer streamed or whole."""

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from app.chat.answer import ChatAnswer
from app.claude.command import check_session_id
from app.errors import BadRequest
from app.settings import TOOL_DISPLAYS
from app.turns.turn import Turn
from app.web import capture, requestlog, sse
from app.web.disconnect import watcher
from app.web.runs import frames_of, relay, start_run


def session_header() -> str | None:
    """The session the X-Session-Id header names, checked."""
    value = request.headers.get("X-Session-Id")
    return check_session_id(value, "X-Session-Id") if value else None


def display_header() -> str | None:
    """How tools show, if the X-Tool-Display header says (an option line beats it)."""
    chosen = request.headers.get("X-Tool-Display")
    if chosen and chosen not in TOOL_DISPLAYS:
        raise BadRequest(f"X-Tool-Display must be one of {', '.join(TOOL_DISPLAYS)}.",
                         param="X-Tool-Display")
    return chosen


def answer_headers(answer: ChatAnswer, ignored: list[str]) -> dict:
    """The answer's response headers (its session, the fields it ignored), and its log line."""
    turn = answer.turn
    requestlog.annotate(workspace=turn.workspace or "shared", session=turn.session_id,
                        live=turn.live)
    headers = {"X-Session-Id": turn.session_id or ""}
    if ignored:
        headers["X-Ignored-Params"] = ", ".join(ignored)
    return headers


def respond(answer: ChatAnswer, reply, stream: bool, headers: dict) -> ResponseReturnValue:
    """Stream the reply as a run (its events resumable by the run's id, the turn interrupted
    if the client leaves), or run it to the end (looking for the client) and send it whole."""
    watch_events(answer.turn)
    answer.on_first_content = requestlog.first_output()  # time to first token
    if stream:
        started = start_run(answer.turn, reply.surface, None,
                            lambda run_id: frames_of(reply.events()), reply.run_id,
                            reply.summary)
        requestlog.annotate(run=started.id)
        batches = started.follow(0, answer.turn.gateway.limits.keepalive)
        return sse.response(relay(batches, reply.keepalive, numbered=False), started.end,
                            {**headers, "X-Run-Id": started.id})
    answer.turn.client_gone = watcher(request.environ)
    return jsonify(reply.complete()), 200, headers


def watch_events(turn: Turn) -> None:
    """Give the turn's CLI events to this request's debug capture, if its key has one on."""
    recording = capture.current()
    turn.on_event = recording.event if recording is not None else None
