"""What every turn endpoint does to make its turn a run: check the webhook it names, start
the run's pump, and relay a run's events as SSE, each with its `id:`."""

from typing import Callable, Iterator

from app.runs.book import new_run_id
from app.runs.log import Frame, RunMeta
from app.runs.run import Rendered, Run
from app.runs.webhooks import check_url
from app.services import Gateway
from app.turns.turn import Turn
from app.web import sse


def check_webhook(gateway: Gateway, url: str | None) -> str | None:
    """The request's webhook URL, if any, on a host the operator allows (else 400 or 403,
    before anything runs)."""
    if url is None:
        return None
    settings = gateway.settings
    return check_url(url, settings.webhook_allowed_hosts, settings.webhook_secret)


def start_run(turn: Turn, surface: str, webhook: str | None,
              frames: Callable[[str], Iterator[Rendered]], run_id: str | None = None,
              summary: dict | None = None) -> Run:
    """Start the turn as a run; `frames(run_id)` renders it in the surface's events."""
    gateway = turn.gateway
    run_id = run_id or new_run_id()
    meta = RunMeta(run_id, turn.owner, surface,
                   status="running" if turn.run is not None else "queued",
                   session_id=turn.session_id, workspace=turn.workspace, webhook=webhook,
                   host=gateway.settings.node_url or None, summary=summary)
    return gateway.runs.start(meta, frames(run_id), turn.interrupt, lambda: turn.session_id,
                              pacing=turn)


def frames_of(events: Iterator[Rendered | None]) -> Iterator[Rendered]:
    """A reply's events as the frames of a run (its readers make their own keep-alives)."""
    return (event for event in events if event is not None)


def relay(batches: Iterator[list[Frame] | None], keepalive: str = sse.KEEPALIVE_COMMENT,
          numbered: bool = True) -> Iterator[str]:
    """A run's frames as SSE (named, on surfaces that name events), those that came together
    in one write; `keepalive` for each quiet spell.

    Each event carries its `id:` only where clients resume by it (`numbered`): the OpenAI
    SDK keeps an event's id, as the SSE standard says, and then takes the blank line after
    each keep-alive comment for an event with empty data, which it fails to parse. The
    OpenAI and Anthropic surfaces resume by their own numbers, or not at all."""
    for batch in batches:
        if batch is None:
            yield keepalive
        elif numbered:
            yield "".join(sse.numbered(frame.seq, frame.data, frame.event) for frame in batch)
        else:
            yield "".join(sse.event(frame.event, frame.data) if frame.event
                          else sse.message(frame.data) for frame in batch)
