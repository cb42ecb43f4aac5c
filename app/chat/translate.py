"""Claude Code events to OpenAI deltas: text as content, tools and thinking as chosen.

Claude's own tool use never becomes OpenAI `tool_calls` (clients would try to run
them). It is hidden, narrated as readable lines in the content, or sent as
`reasoning_content` that UIs render as thinking. Only calls of the client's own
functions become `tool_calls`, under the names the client gave them; and a
permission question (approvals in chat) becomes a question in the content.
"""

import json
from dataclasses import dataclass

from app.claude import client_tools
from app.claude.events import Event

HIDDEN, NARRATED, REASONING = "hidden", "narrated", "reasoning"
_TOOL_SUBJECT = ("command", "file_path", "path", "pattern", "url", "query", "description")


@dataclass(frozen=True)
class Delta:
    """A piece of the answer: visible content, reasoning shown as thinking, or a piece of a
    function call (an OpenAI `tool_calls` delta entry)."""
    content: str = ""
    reasoning: str = ""
    call: dict | None = None


class Translator:
    """Feed it the CLI's events in order; it returns the deltas each one produces."""

    def __init__(self, display: str, answered: frozenset[str] = frozenset()):
        self.display = display
        self.result: dict | None = None
        self.api_stop: str | None = None  # why the API ended Claude's latest message
        self._blocks: dict[int, dict] = {}
        self._wrote_text = False  # Claude's own text, as opposed to notes
        self._any_content = False
        self._separate = False
        self._calls: dict[str, int] = {}  # tool_use id of a client function call -> its index
        self._answered = set(answered)  # calls whose results the client itself sent

    def feed(self, event: Event) -> list[Delta]:
        if event.type == "result":
            self.result = event.data
            return self._fallback_text(event.data)
        if event.data.get("parent_tool_use_id"):
            return []  # a subagent's inner turn: its outcome arrives as a tool result
        if event.type == "stream_event":
            return self._stream_event(event.data.get("event") or {})
        if event.type == "user":
            return self._tool_results(event.data.get("message") or {})
        if event.type == "permission_request":
            return [self._note_text(question(event.data))]
        return []

    def _stream_event(self, api_event: dict) -> list[Delta]:
        kind = api_event.get("type")
        index = api_event.get("index", 0)
        if kind == "message_start":
            self._separate = self._any_content
        elif kind == "content_block_start":
            block = {**api_event.get("content_block", {}), "parts": []}
            self._blocks[index] = block
            name = client_tools.client_name(block.get("name") or "") \
                if block.get("type") == "tool_use" else None
            if name is not None:
                block["call"] = self._calls[str(block.get("id"))] = len(self._calls)
                return [Delta(call={"index": block["call"], "id": block.get("id"),
                                    "type": "function",
                                    "function": {"name": name, "arguments": ""}})]
        elif kind == "message_delta":
            self.api_stop = (api_event.get("delta") or {}).get("stop_reason") or self.api_stop
        elif kind == "content_block_delta":
            return self._block_delta(index, api_event.get("delta") or {})
        elif kind == "content_block_stop":
            return self._block_stop(self._blocks.pop(index, {}))
        return []

    def _block_delta(self, index: int, delta: dict) -> list[Delta]:
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return [self._text(delta["text"])]
        if kind == "thinking_delta" and self.display != HIDDEN:
            if self.display == REASONING:
                return [Delta(reasoning=delta.get("thinking", ""))]
            self._blocks.get(index, {}).setdefault("parts", []).append(delta.get("thinking", ""))
        elif kind == "input_json_delta":
            block = self._blocks.get(index, {})
            if "call" in block and delta.get("partial_json"):
                return [Delta(call={"index": block["call"],
                                    "function": {"arguments": delta["partial_json"]}})]
            block.setdefault("parts", []).append(delta.get("partial_json", ""))
        return []

    def _text(self, text: str) -> Delta:
        prefix = "\n\n" if self._separate else ""
        self._separate, self._wrote_text, self._any_content = False, True, True
        return Delta(content=prefix + text)

    def _block_stop(self, block: dict) -> list[Delta]:
        if self.display == HIDDEN or "call" in block:
            return []
        if block.get("type") == "tool_use":
            line = f"🔧 {block.get('name', 'tool')}: {_subject(''.join(block['parts']))}"
            return [self._note(line)]
        if block.get("type") == "thinking":
            if self.display == REASONING:
                return [Delta(reasoning="\n")]  # ends the streamed thought before what follows
            return [self._note("💭 " + "".join(block["parts"]).strip())]
        return []

    def _tool_results(self, message: dict) -> list[Delta]:
        if self.display == HIDDEN or not isinstance(message.get("content"), list):
            return []
        notes = []
        for block in message["content"]:
            if isinstance(block, dict) and block.get("type") == "tool_result" \
                    and block.get("tool_use_id") not in {*self._calls, *self._answered}:
                status = "failed" if block.get("is_error") else "done"
                notes.append(self._note(f"↳ {status}: {_first_line(block.get('content'))}"))
        return notes

    def _note(self, line: str) -> Delta:
        """A tool or thinking note, as a quoted content line or as reasoning."""
        if self.display == REASONING:
            return Delta(reasoning=line + "\n")
        prefix = "\n\n" if self._any_content else ""
        self._separate, self._any_content = True, True
        return Delta(content=prefix + "\n".join("> " + part for part in line.split("\n")))

    def _note_text(self, text: str) -> Delta:
        """Text of the gateway's own in the content, set apart from what came before."""
        prefix = "\n\n" if self._any_content else ""
        self._separate, self._any_content = True, True
        return Delta(content=prefix + text)

    def _fallback_text(self, result: dict) -> list[Delta]:
        """A successful run that streamed no text still answers with its result."""
        text = result.get("result")
        if self._wrote_text or result.get("is_error") or not isinstance(text, str):
            return []
        return [self._text(text)] if text else []


def _subject(arguments: str) -> str:
    """The one argument that says what a tool call does (its command, file, ...)."""
    try:
        values = json.loads(arguments) if arguments else {}
    except json.JSONDecodeError:
        return arguments[:200]
    for key in _TOOL_SUBJECT:
        if isinstance(values, dict) and isinstance(values.get(key), str):
            return values[key][:200]
    return json.dumps(values, ensure_ascii=False)[:200]


def _first_line(content) -> str:
    if isinstance(content, list):
        content = " ".join(b.get("text", "") for b in content if isinstance(b, dict))
    text = str(content or "").strip()
    first = text.split("\n", 1)[0][:160]
    more = text.count("\n")
    return first + (f" (+{more} more lines)" if more else "")


def question(request: dict) -> str:
    """A permission question as a chat message: which tool, on what, and how to answer."""
    tool = request.get("tool_name", "a tool")
    subject = _subject(json.dumps(request.get("input") or {}))
    rule = request.get("rule") or tool
    return (f"🔐 Claude wants to use **{tool}**: `{subject}`\n\n"
            f"Reply **yes** to allow it this once, **always** to allow `{rule}` for the rest "
            "of this conversation, or **no** to refuse. Any other message refuses it and goes "
            "to Claude as your next request.")
