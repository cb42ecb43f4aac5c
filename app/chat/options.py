"""The in-prompt option grammar of /v1: leading `key=value` lines, inheritance, the echo header.

Only the leading lines of the newest user message are options; text anywhere else
(later lines, earlier messages, tool output, assistant text) is never parsed. The
reply echoes the effective options in a one-line header that the next turn reads
back, only from the very start of an assistant message.
"""

import difflib
import json
import re
import uuid

from app.claude.errors import InvalidValue
from app.errors import BadRequest
from app.turns import workspaces
from app.turns.options import (
    BY_KEY,
    CHOICE,
    COUNT,
    FLAG,
    LIST,
    MAX_TURNS_LIMIT,
    SESSION,
    TURN_OPTIONS,
    WORKSPACE,
)

KEYS = tuple(option.key for option in TURN_OPTIONS)
HEADER_PREFIX = "[claude-code] "
NEW_SESSION = "new"
_LINE = re.compile(r"([A-Za-z][A-Za-z0-9_-]*)=(.*)")
TYPO_CUTOFF = 0.8  # how alike (difflib's ratio) an unknown key must be to a known one


def split_options(text: str) -> tuple[dict, str]:
    """Take the leading option lines off a message: (raw values by key, the rest)."""
    lines = text.split("\n")
    found: dict[str, str] = {}
    index = 0
    while index < len(lines):
        match = _LINE.fullmatch(lines[index].rstrip("\r"))
        if not match or match.group(1) not in KEYS:
            if match:
                _refuse_a_typo(match.group(1))
            break
        found[match.group(1)] = match.group(2).strip()
        index += 1
    if found and index < len(lines) and not lines[index].strip():
        index += 1  # the one blank line that separates options from the prompt
    return {key: parse_value(key, value) for key, value in found.items()}, \
        "\n".join(lines[index:])


def _refuse_a_typo(key: str) -> None:
    """A leading `key=value` line whose key is nearly an option's is a 400, not prompt text."""
    normal = key.lower().replace("_", "-")
    meant = normal if normal in KEYS else next(
        iter(difflib.get_close_matches(normal, KEYS, n=1, cutoff=TYPO_CUTOFF)), None)
    if meant is not None:
        raise BadRequest(f"Unknown option {key!r}: did you mean '{meant}'? (Options are "
                         "leading key=value lines; start the message with a blank line to "
                         "send such a line as text.)", param=key, code="unknown_option")


def parse_value(key: str, value: str):
    """Check one option's text and return its typed value; 400 naming the key."""
    option = BY_KEY[key]
    if option.kind == LIST:
        return _parse_list(key, value)
    if option.kind == FLAG:
        if value.lower() not in ("true", "false"):
            raise _bad(key, value, "use true or false")
        return value.lower() == "true"
    if option.kind == COUNT:
        if not re.fullmatch(r"[0-9]{1,4}", value) or not 0 < int(value) <= MAX_TURNS_LIMIT:
            raise _bad(key, value, f"use a whole number from 1 to {MAX_TURNS_LIMIT}")
        return int(value)
    if option.kind == SESSION:
        return _parse_session(key, value)
    if not value:
        return ""  # an empty value clears what the conversation had
    if option.kind == WORKSPACE:
        return workspaces.check_name(value, param=key)
    if option.kind == CHOICE and value not in option.choices:
        raise _bad(key, value, "use one of " + ", ".join(option.choices))
    return value


def _parse_session(key: str, value: str) -> str:
    """A session UUID in canonical form, or 'new' for a fresh session."""
    if value == NEW_SESSION:
        return value
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise _bad(key, value, "use a session UUID or 'new'") from None


def _parse_list(key: str, value: str) -> list[str]:
    """A JSON array of strings, or a comma-separated list; `[]` clears."""
    if value.startswith("["):
        try:
            items = json.loads(value)
        except json.JSONDecodeError:
            raise _bad(key, value, 'use a JSON array like ["Bash","Edit"]') from None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise _bad(key, value, "the JSON array must hold strings")
        return [item.strip() for item in items if item.strip()]
    return [item.strip() for item in value.split(",") if item.strip()]


def _bad(key: str, value: str, hint: str) -> BadRequest:
    return BadRequest(f"Invalid value {value!r} for option '{key}': {hint}.", param=key)


def merge(inherited: dict, given: dict) -> dict:
    """This turn's options: what the conversation had, overridden key by key."""
    merged = {**inherited, **given}
    if merged.get("session-id") == NEW_SESSION:
        del merged["session-id"]
    return {key: merged[key] for key in KEYS if key in merged and merged[key] not in ("", [])}


def render_header(options: dict) -> str:
    """The one-line echo that starts a reply, so the next turn can inherit from it."""
    shown = {key: options[key] for key in KEYS if key in options}
    return HEADER_PREFIX + json.dumps(shown, ensure_ascii=False, separators=(",", ":"))


def read_header(content: str) -> dict | None:
    """The options echoed at the very start of an assistant message, if there are any."""
    if not content.startswith(HEADER_PREFIX):
        return None
    line = content[len(HEADER_PREFIX):].split("\n", 1)[0]
    try:
        echoed = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(echoed, dict):
        return None
    try:
        return {key: parse_value(key, _as_text(echoed[key])) for key in KEYS if key in echoed}
    except (BadRequest, InvalidValue):
        return None  # an edited or damaged header is ignored, not trusted


def strip_header(content: str) -> str:
    """An assistant message without the echo header, as clients that drop it send it."""
    if read_header(content) is None:
        return content
    return content.split("\n", 1)[1].lstrip("\n") if "\n" in content else ""


def _as_text(value) -> str:
    """Turn an echoed JSON value back into option text for `parse_value`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return json.dumps(value)
    return str(value)
