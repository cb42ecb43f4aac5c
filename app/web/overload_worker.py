"""gunicorn's gthread worker, answering 429 at once when every thread is busy.

A streamed turn holds a thread for its whole length, so past `threads` requests a
plain gthread worker leaves new ones waiting unseen in its pool's backlog, where no
queue limit, keep-alive or 429 reaches them. This worker refuses them instead, in the
shape the API's clients parse, with Retry-After: every request is then served, waits in
the gateway's own visible queue, or is told to come back. gunicorn.conf.py sizes the
threads for the process cap and the queue, so this only happens past both.

Built on gunicorn 27.0.1's ThreadWorker (pinned in requirements.txt).
"""

import json
import selectors
import socket
import threading
import time
from functools import partial

from gunicorn.workers.gthread import ThreadWorker

from app import metrics

RETRY_AFTER_SECONDS = 5
DRAIN_SECONDS = 5.0  # how long a refused client may keep sending before it is cut off
PEEK_BYTES = 4096


class OverloadAwareThreadWorker(ThreadWorker):
    """A gthread worker that refuses requests beyond its threads with a 429."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._in_flight = 0  # requests a thread has taken and not yet finished
        self._counting = threading.Lock()
        self._draining: list[tuple[float, socket.socket]] = []

    def enqueue_req(self, conn):
        with self._counting:
            busy = self._in_flight >= self.cfg.threads
            self._in_flight += 0 if busy else 1
        if busy:
            self._refuse(conn.sock)
            return
        super().enqueue_req(conn)

    def handle(self, conn):
        """Serve the request, counting its thread free as soon as it is (not when the main
        loop next looks)."""
        try:
            return super().handle(conn)
        finally:
            with self._counting:
                self._in_flight -= 1

    def murder_pending(self):
        super().murder_pending()
        now = time.monotonic()
        for entry in [e for e in self._draining if e[0] <= now]:
            self._close_drained(entry[1])

    def _refuse(self, sock: socket.socket) -> None:
        """Answer 429 without a thread, then read what the client still sends and close, so
        it sees the answer rather than a reset."""
        metrics.refused("capacity_exceeded")
        try:
            sock.setblocking(False)
            sock.sendall(_answer(_peek_path(sock)))
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.nr_conns -= 1
            sock.close()
            return
        self._draining.append((time.monotonic() + DRAIN_SECONDS, sock))
        self.poller.register(sock, selectors.EVENT_READ, partial(self._drain, sock))

    def _drain(self, sock: socket.socket, _fileobj) -> None:
        try:
            if sock.recv(65536):
                return
        except BlockingIOError:
            return
        except OSError:
            pass
        self._close_drained(sock)

    def _close_drained(self, sock: socket.socket) -> None:
        self._draining = [e for e in self._draining if e[1] is not sock]
        try:
            self.poller.unregister(sock)
        except (KeyError, ValueError, OSError):
            pass
        self.nr_conns -= 1
        sock.close()


def _peek_path(sock: socket.socket) -> str:
    """The request's path if its first line has arrived, without consuming it."""
    try:
        head = sock.recv(PEEK_BYTES, socket.MSG_PEEK)
    except OSError:
        return ""
    parts = head.split(b"\r\n", 1)[0].split(b" ")
    return parts[1].decode("latin-1") if len(parts) >= 2 else ""


def _answer(path: str) -> bytes:
    """A 429 in the shape of the API the path belongs to."""
    message = "The server is busy: every thread is serving a request. Retry shortly."
    if path.startswith("/v1/messages"):
        body = {"type": "error", "error": {"type": "rate_limit_error", "message": message}}
    else:
        body = {"error": {"message": message, "type": "rate_limit_error", "param": None,
                          "code": "capacity_exceeded"}}
    data = json.dumps(body).encode()
    head = (f"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
            f"Retry-After: {RETRY_AFTER_SECONDS}\r\nContent-Length: {len(data)}\r\n"
            "Connection: close\r\n\r\n")
    return head.encode() + data
