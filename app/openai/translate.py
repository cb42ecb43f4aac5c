"""Claude Code events to OpenAI deltas: text as content, tools and thinking as chosen.

Claude's own tool use never becomes OpenAI `tool_calls` (clients would try to run
them). It is hidden, narrated as readable lines in the content, or sent as
`reasoning_content` that UIs render as thinking.
"""

import json
from dataclasses import dataclass

from app.claude.events import Event

HIDDEN, NARRATED, REASONING = "hidden", "narrated", "reasoning"
_TOOL_SUBJECT = ("command", "file_path", "path", "pattern", "url", "query", "description")


@dataclass(frozen=True)
class Delta:
    """A piece of the answer: visible content, or reasoning shown as thinking."""
    content: str = ""
    reasoning: str = ""


class Translator:
    """Feed it the CLI's events in order; it returns the deltas each one produces."""

    def __init__(self, display: str):
        self.display = display
        self.result: dict | None = None
        self._blocks: dict[int, dict] = {}
        self._wrote_text = False  # Claude's own text, as opposed to notes
        self._any_content = False
        self._separate = False

    def feed(self, event: Event) -> list[Delta]:
        if event.type == "result":
            self.result = event.data
            return self._fallback_text()
        if event.data.get("parent_tool_use_id"):
            return []  # a subagent's inner turn: its outcome arrives as a tool result
        if event.type == "stream_event":
            return self._stream_event(event.data.get("event") or {})
        if event.type == "user":
            return self._tool_results(event.data.get("message") or {})
        return []

    def _stream_event(self, api_event: dict) -> list[Delta]:
        kind = api_event.get("type")
        index = api_event.get("index", 0)
        if kind == "message_start":
            self._separate = self._any_content
        elif kind == "content_block_start":
            self._blocks[index] = {**api_event.get("content_block", {}), "parts": []}
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
            self._blocks.get(index, {}).setdefault("parts", []).append(
                delta.get("partial_json", ""))
        return []

    def _text(self, text: str) -> Delta:
        prefix = "\n\n" if self._separate else ""
        self._separate, self._wrote_text, self._any_content = False, True, True
        return Delta(content=prefix + text)

    def _block_stop(self, block: dict) -> list[Delta]:
        if self.display == HIDDEN:
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
            if isinstance(block, dict) and block.get("type") == "tool_result":
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

    def _fallback_text(self) -> list[Delta]:
        """A successful run that streamed no text still answers with its result."""
        text = self.result.get("result")
        if self._wrote_text or self.result.get("is_error") or not isinstance(text, str):
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
