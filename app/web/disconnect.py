"""Telling whether the client of a non-streaming request has gone, while its turn runs.

A streaming response notices a gone client when a write fails; a request that
writes nothing until the end has to look at its socket. gunicorn hands the
socket to the app (`gunicorn.socket`); a socket that is readable but yields no
byte was closed by the peer. Without a socket (tests' client) nobody leaves.
"""

import select
import socket
from typing import Callable


def watcher(environ: dict) -> Callable[[], bool]:
    """A check that says True once the request's client has closed its connection."""
    sock = environ.get("gunicorn.socket")
    if sock is None:
        return lambda: False
    return lambda: _closed(sock)


def _closed(sock: socket.socket) -> bool:
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
