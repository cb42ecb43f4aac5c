"""The CLI's own session files: finding, reading and deleting them, and waiting until a live
process has written its last turn.

A live process appends a turn to `<config dir>/projects/<cwd>/<session>.jsonl` a few
tens of milliseconds after it prints the turn's `result`. A cold resume in another
process reads that file, so it waits until the file holds the last message the
previous turn printed (each line carries the `uuid` the CLI printed on stdout).

Each line is one JSON entry: `user` and `assistant` entries carry a `message` as the
API has it (one `assistant` entry per content block), other types are the CLI's
bookkeeping. The format is the CLI's, not ours, so it is read tolerantly.
"""

import json
import os
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Iterator

from app.claude import transcript_steps

POLL_SECONDS = 0.02
TAIL_BYTES = 1 << 20  # the last turn's messages are at the end of the file
INTERRUPT_NOTICE = "[Request interrupted by user"  # the CLI's user line after an interrupt
SYNTHETIC_MODEL = "<synthetic>"  # assistant lines the CLI makes up itself


def find(session_id: str, base: Path) -> Path | None:
    """The session's file under a config folder (a key's own), in whichever project folder
    the CLI put it."""
    return next(iter((base / "projects").glob(f"*/{session_id}.jsonl")), None)


def wait_for_message(session_id: str, message_uuid: str, seconds: float, base: Path) -> bool:
    """Wait until the session's file holds the message; tell whether it came in time."""
    deadline = time.monotonic() + seconds
    needle = f'"uuid":"{message_uuid}"'.encode()
    path = None
    while True:
        path = path or find(session_id, base)
        if path is not None and needle in _tail(path):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)


def _tail(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - TAIL_BYTES))
            return handle.read()
    except OSError:
        return b""


def delete(session_id: str, base: Path) -> None:
    """Remove the session's file and the folders the CLI keeps beside it (tool output,
    its shell environment); `session_id` must be a checked UUID."""
    for path in (base / "projects").glob(f"*/{session_id}.jsonl"):
        path.unlink(missing_ok=True)
    for folder in [*(base / "projects").glob(f"*/{session_id}"), base / "session-env" / session_id]:
        shutil.rmtree(folder, ignore_errors=True)


def last_message(path: Path) -> str | None:
    """The uuid of the newest message in a session file: where a fork of it goes on."""
    found = None
    for entry in _entries(path):
        if entry.get("type") in ("user", "assistant") and isinstance(entry.get("uuid"), str):
            found = entry["uuid"]
    return found


def read_turns(path: Path, until: str | None = None) -> list[dict]:
    """The prompts and replies in a session file, oldest first, up to message `until`.

    Lines it cannot read are skipped; tool results and interrupt notices are not
    prompts (they belong to the turn they came in); a turn's assistant texts are joined,
    and its `steps` list every text, thinking, tool call and tool result in order.
    """
    turns: list[dict] = []
    prompt_id = None
    for entry in _entries(path):
        if entry.get("type") == "user" and _is_prompt(entry, prompt_id):
            prompt_id = entry.get("promptId")
            turns.append({"prompt": _text(entry), "reply": "", "created_at": _time(entry),
                          "steps": []})
        elif entry.get("type") == "assistant" and turns and not _synthetic(entry):
            text = _text(entry)
            turns[-1]["reply"] += ("\n\n" if turns[-1]["reply"] and text else "") + text
            turns[-1]["steps"] += transcript_steps.assistant_steps(_blocks(entry))
        elif entry.get("type") == "user" and turns:
            turns[-1]["steps"] += transcript_steps.result_steps(_blocks(entry))
        if until is not None and entry.get("uuid") == until:
            break
    return turns


def _entries(path: Path) -> Iterator[dict]:
    """The file's entries of the main conversation (subagents' side chains left out)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and not entry.get("isSidechain") \
                        and not entry.get("isMeta"):
                    yield entry
    except OSError:
        return


def _blocks(entry: dict) -> list[dict]:
    """The entry's content blocks; plain string content counts as one text block."""
    message = entry.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _is_prompt(entry: dict, prompt_id) -> bool:
    """Whether a user entry starts a turn: text or images the user sent, not a tool result,
    not the interrupt notice that ends the turn it belongs to (same promptId)."""
    kinds = {block.get("type") for block in _blocks(entry)}
    if "tool_result" in kinds or not kinds & {"text", "image"}:
        return False
    if prompt_id is not None and entry.get("promptId") == prompt_id:
        return False
    return not _text(entry).startswith(INTERRUPT_NOTICE)


def _text(entry: dict) -> str:
    """The entry's text blocks joined (an image shows as [image])."""
    parts = [block["text"] if block.get("type") == "text" else "[image]"
             for block in _blocks(entry) if block.get("type") == "image"
             or block.get("type") == "text" and isinstance(block.get("text"), str)]
    return "\n\n".join(part for part in parts if part)


def _synthetic(entry: dict) -> bool:
    """An assistant line the CLI made up (e.g. 'No response requested.' after an interrupt)."""
    message = entry.get("message")
    return isinstance(message, dict) and message.get("model") == SYNTHETIC_MODEL


def _time(entry: dict) -> int | None:
    """The entry's ISO timestamp in unix seconds, if it has a readable one."""
    try:
        return int(datetime.fromisoformat(str(entry["timestamp"]).replace("Z", "+00:00"))
                   .timestamp())
    except (KeyError, ValueError):
        return None
