"""`/v1/responses`: OpenAI's Responses API, steered by the same option lines as
/v1/chat/completions, continued by `previous_response_id`; background responses run on
without their client, to retrieve, resume, cancel and delete."""

import time

from flask import Blueprint, jsonify, request

from app.chat.answer import open_answer
from app.chat.converse import ChatAsk
from app.errors import NotFound
from app.runs.log import RunMeta
from app.surfaces.responses import background, stored
from app.surfaces.responses.reply import ResponsesReply
from app.surfaces.responses.request import parse_responses, retrieve_query
from app.web import sse
from app.web.auth import principal
from app.web.bodies import read_json, validate
from app.web.chat_http import (answer_headers, display_header, respond, session_header,
                               watch_events)
from app.web.context import current
from app.web.runs import frames_of, relay, start_run

bp = Blueprint("responses", __name__, url_prefix="/v1")
CANCEL_WAIT_SECONDS = 10.0  # how long a cancel waits to answer with the response as it ended
NOT_AFTER_ANY = 10 ** 9  # follow a run past every event: only its end is awaited


@bp.post("/responses")
def create():
    """Run one conversation turn and answer as a response (streamed, whole, or at once while
    it runs in the background)."""
    gateway = current()
    asked = parse_responses(read_json(request), gateway.settings.model_aliases)
    caller = principal()
    previous = stored.find(gateway.conversations, asked.previous_response_id, caller.owner)
    ask = ChatAsk(asked.messages, asked.cli_model, asked.effort, session_header(), caller,
                  asked.stream, tools=asked.tools, tool_guidance=asked.tool_guidance,
                  previous=previous)
    answer = open_answer(gateway, ask, display_header())
    reply = ResponsesReply(answer, asked)
    headers = answer_headers(answer, asked.ignored)
    if not asked.background:
        return respond(answer, reply, asked.stream, headers)
    watch_events(answer.turn)
    started = start_run(answer.turn, reply.surface, None,
                        lambda run_id: frames_of(reply.events()), reply.run_id, reply.summary)
    headers["X-Run-Id"] = started.id
    if asked.stream:
        return sse.response(relay(started.follow(0, gateway.limits.keepalive), numbered=False),
                            lambda: None,
                            headers)
    return jsonify(background.view(started.meta)), 200, headers


@bp.get("/responses/<response_id>")
def retrieve(response_id: str):
    """A background response as it stands; with `stream=true`, its events after
    `starting_after` (a sequence number), then live until it ends."""
    query = validate(request.args, retrieve_query)
    gateway, owner = current(), principal().owner
    meta = _find(response_id)
    if not query["stream"]:
        return jsonify(background.view(meta))
    after = query["starting_after"] + 1 if query["starting_after"] is not None else 0
    frames = gateway.runs.follow(owner, meta.id, after, gateway.limits.keepalive)
    return sse.response(relay(frames, numbered=False), lambda: None, {"X-Run-Id": meta.id})


@bp.post("/responses/<response_id>/cancel")
def cancel(response_id: str):
    """Cancel a background response; answers with it as it ended (`cancelled`, unless it had
    ended before)."""
    gateway, owner = current(), principal().owner
    _find(response_id)
    gateway.runs.cancel(owner, response_id)
    deadline = time.monotonic() + CANCEL_WAIT_SECONDS
    for _ in gateway.runs.follow(owner, response_id, NOT_AFTER_ANY, 0.5):
        if time.monotonic() > deadline:
            break  # still ending: the response says where it stands
    return jsonify(background.view(_find(response_id)))


@bp.delete("/responses/<response_id>")
def delete(response_id: str):
    """Forget a background response (cancelling it if it still runs)."""
    _find(response_id)
    current().runs.delete(principal().owner, response_id)
    return jsonify({"id": response_id, "object": "response", "deleted": True})


def _find(response_id: str) -> RunMeta:
    """The caller's background response; 404 in OpenAI's words for any other."""
    try:
        return current().runs.find(principal().owner, response_id)
    except NotFound:
        raise NotFound(f"Response with id '{response_id}' not found.", param="response_id",
                       code="response_not_found") from None
