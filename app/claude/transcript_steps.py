"""A turn's steps as a reader follows them: what Claude wrote, thought, which tools it called
and what they answered, taken from the content blocks of a session file's entries.

The console shows these; the prompt and the joined reply stay beside them for clients
that want only the words. Tool output can be long, so each result is cut to a size a
page can show.
"""

RESULT_CHARS = 20_000  # a tool's answer beyond this is cut, with a note saying so


def assistant_steps(blocks: list[dict]) -> list[dict]:
    """Text, thinking and tool calls from an assistant entry's blocks, in order."""
    steps = []
    for block in blocks:
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            steps.append({"type": "text", "text": block["text"]})
        elif kind == "thinking" and isinstance(block.get("thinking"), str):
            steps.append({"type": "thinking", "thinking": block["thinking"]})
        elif kind == "tool_use":
            steps.append({"type": "tool_use", "id": block.get("id"),
                          "name": str(block.get("name")), "input": block.get("input")})
    return steps


def result_steps(blocks: list[dict]) -> list[dict]:
    """The tool results in a user entry's blocks (the CLI's answers to tool calls)."""
    return [{"type": "tool_result", "tool_use_id": block.get("tool_use_id"),
             "content": _cut(_result_text(block.get("content"))),
             "is_error": bool(block.get("is_error"))}
            for block in blocks if block.get("type") == "tool_result"]


def _result_text(content) -> str:
    """A result's content as text: a string as it is, a list of blocks by their text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(block.get("text", "[image]") if block.get("type") == "text"
                         else "[image]" for block in content if isinstance(block, dict))
    return ""


def _cut(text: str) -> str:
    if len(text) <= RESULT_CHARS:
        return text
    return text[:RESULT_CHARS] + f"\n[... {len(text) - RESULT_CHARS} more characters]"
