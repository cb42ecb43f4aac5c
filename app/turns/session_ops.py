"""What the sessions API does to one of a key's sessions: show it with its turns, fork it,
delete it. To any other key a session does not exist (404).

A fork is made lazily, with the CLI's own mechanism: the new id is recorded as a
fork of its source at the source's newest message, and its first turn runs
`--resume=<source> --resume-session-at=<message> --fork-session --session-id=<new id>`
(SessionStore.launch_spec), which copies that history into the fork's own file and
leaves the source as it was; later turns of the source do not reach the fork.

Deleting stops the session's idle processes first, in every worker, because a
process writes its session file again when it exits.
"""

import uuid
from pathlib import Path

from app.claude import transcripts
from app.claude.command import check_session_id
from app.errors import Conflict, NotFound
from app.services import Gateway
from app.shared import session_list
from app.shared.session_list import SessionInfo

SETTLE_SECONDS = 2.0  # a live process writes a turn to its file shortly after its result
PARAM = "session-id"


def owned(gateway: Gateway, owner: str, session_id: str) -> SessionInfo:
    """The caller's session; 400 for an id that is not a UUID, 404 for anyone else's."""
    session_id = check_session_id(session_id, PARAM)
    info = session_list.find(gateway.db, session_id, owner)
    if info is None:
        raise NotFound(f"Session {session_id} was not found.", param=PARAM,
                       code="session_not_found")
    if gateway.cluster is not None:
        gateway.cluster.check_home(info.id)  # its file is on its home host
    return info


def show(gateway: Gateway, owner: str, session_id: str) -> dict:
    """The session with the prompts and replies of its turns, read from the CLI's file (a
    fork that has not run yet shows its source's, up to where it forks)."""
    info = owned(gateway, owner, session_id)
    config = gateway.folders.config(owner)
    _settle(gateway, info.id, config)
    start = gateway.sessions.pending_fork(info.id)
    path, until = (transcripts.find(start[0], config), start[1]) if start else \
        (transcripts.find(info.id, config), None)
    return {**info.public(), "turns_detail": transcripts.read_turns(path, until) if path else []}


def fork(gateway: Gateway, owner: str, session_id: str) -> dict:
    """Record a new session that continues this one as it stands now, and return it."""
    info = owned(gateway, owner, session_id)
    start = gateway.sessions.pending_fork(info.id) or \
        (info.id, _newest_message(gateway, info.id, gateway.folders.config(owner)))
    new_id = str(uuid.uuid4())
    gateway.sessions.add_fork(new_id, info.id, *start)
    if gateway.cluster is not None:
        gateway.cluster.homes.follow(new_id, info.id)
    forked = session_list.find(gateway.db, new_id, owner)
    assert forked is not None, "just recorded"
    return forked.public()


def delete(gateway: Gateway, owner: str, session_id: str) -> dict:
    """Forget the session and delete its files; 409 while a turn of it runs or waits, or
    while forks that have not run yet start from it."""
    info = owned(gateway, owner, session_id)
    lock = gateway.locks.lock(info.id, 0)
    try:
        forks = gateway.sessions.pending_forks_of(info.id)
        if forks:
            raise Conflict(f"Session {info.id} has forks that have not run a turn yet and "
                           f"start from it ({', '.join(forks)}): run or delete them first.",
                           param=PARAM, code="session_has_forks")
        gateway.sessions.forget(info.id)
        gateway.pool.forget(info.id)  # here at once, in other workers within a tick
        transcripts.delete(info.id, gateway.folders.config(owner))
    finally:
        lock.release()
    return {"id": info.id, "object": "session", "deleted": True}


def _newest_message(gateway: Gateway, session_id: str, config: Path) -> str:
    """Where a fork of the session goes on: its newest message, read while no turn runs."""
    lock = gateway.locks.lock(session_id, 0)
    try:
        _settle(gateway, session_id, config)
        path = transcripts.find(session_id, config)
        message = transcripts.last_message(path) if path else None
    finally:
        lock.release()
    if message is None:
        raise Conflict(f"Session {session_id} has nothing to fork yet: Claude Code has not "
                       "written its history.", param=PARAM, code="nothing_to_fork")
    return message


def _settle(gateway: Gateway, session_id: str, config: Path) -> None:
    """Wait (briefly) until the session's file holds the last turn a live process answered."""
    last = gateway.sessions.last_message_of(session_id)
    if last:
        transcripts.wait_for_message(session_id, last, SETTLE_SECONDS, config)
