"""The control protocol without a CLI: a permission question and a process that records replies."""

WRITE_ASK = {"subtype": "can_use_tool", "tool_name": "Write",
             "input": {"file_path": "/tmp/notes.txt", "content": "hi"}}


class FakeProcess:
    """Stands in for a LiveProcess: records the control responses it is given."""
    alive = True

    def __init__(self):
        self.sent = []

    def reply(self, request_id, body):
        self.sent.append((request_id, body))
