"""Where a chat turn stops answering for now and waits for its client's next request.

Two moments do: Claude called functions the client serves (the reply ends with
them, as OpenAI's `tool_calls`), or Claude wants a tool no rule allows and the
conversation asked for approvals in chat (the reply ends with the question). The
CLI itself goes on waiting in its process.
"""

from app.claude import client_tools
from app.claude.control import Pause
from app.claude.events import Event


class PauseWatch:
    """Feed it a turn's events; it returns what the client must answer once the turn waits."""

    def __init__(self, chat_approvals: bool, client_functions: bool):
        self.chat_approvals = chat_approvals
        self.client_functions = client_functions
        self._calls: list[str] = []  # the client's functions in the message being streamed

    def feed(self, event: Event) -> Pause | None:
        """{"approval": the permission_request} or {"calls": [tool_use ids]}, else None."""
        if self.chat_approvals and event.type == "permission_request":
            return {"approval": event.data}
        if not self.client_functions or event.type != "stream_event" \
                or event.data.get("parent_tool_use_id"):
            return None
        api_event = event.data.get("event") or {}
        kind = api_event.get("type")
        if kind == "message_start":
            self._calls = []
        elif kind == "content_block_start":
            block = api_event.get("content_block") or {}
            if block.get("type") == "tool_use" and client_tools.client_name(block.get("name", "")):
                self._calls.append(str(block.get("id")))
        elif kind == "message_stop" and self._calls:
            return {"calls": list(self._calls)}
        return None
