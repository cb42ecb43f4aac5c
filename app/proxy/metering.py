"""Reading what an API call used from the response the proxy passes on, as it passes.

A streamed reply reports usage twice: `message_start` carries the input figures and
`message_delta` the final output count. Only `data:` lines that mention usage are parsed,
and a chunk without the word is not even split into lines, so the text deltas in between
cost one substring test a chunk. A whole JSON reply (count_tokens, a non-streamed message)
carries one `usage` object.
"""

import json

from app.proxy.prices import CallUsage

MAX_LINE = 1 << 20  # a line longer than this cannot be a usage report


class UsageMeter:
    """Fed the response body chunk by chunk; `usage` holds what it reported so far."""

    def __init__(self, streamed: bool):
        self.streamed = streamed
        self.usage = CallUsage()
        self.model: str | None = None
        self._partial = b""
        self._whole: list[bytes] = []

    def feed(self, chunk: bytes) -> None:
        if not self.streamed:
            self._whole.append(chunk)
            return
        data = self._partial + chunk
        if b'"usage"' not in data:  # most chunks: text deltas; keep only the unfinished line
            self._partial = data[data.rfind(b"\n") + 1:]
        else:
            lines = data.split(b"\n")
            self._partial = lines.pop()
            for line in lines:
                if line.startswith(b"data:") and b'"usage"' in line:
                    self._read(line[5:])
        if len(self._partial) > MAX_LINE:
            self._partial = b""

    def finish(self) -> CallUsage:
        """The call's usage, once the whole body has been fed."""
        if self.streamed:
            if self._partial.startswith(b"data:") and b'"usage"' in self._partial:
                self._read(self._partial[5:])
        else:
            self._read(b"".join(self._whole))
        return self.usage

    def _read(self, data: bytes) -> None:
        try:
            event = json.loads(data)
        except ValueError:
            return
        if not isinstance(event, dict):
            return
        message = event.get("message")
        if not isinstance(message, dict):
            message = event
        if isinstance(message.get("model"), str):
            self.model = message["model"]
        for holder in (message, event):
            if isinstance(holder.get("usage"), dict):
                self.usage = self.usage.merged(holder["usage"])
