"""The Messages API proxy each worker runs for its CLI processes.

A process calls it with its turn token; the proxy checks the token, charges the
call to the budget of the key whose turn runs on that process (refusing it when the
day's budget is spent), sends it on with the operator's real credential, streams
the reply back unchanged and reads what it used as it passes. The credential never
leaves the gateway's process; a Bash command inside a turn can see only the token.
"""

import http.client
import json
import re
import shutil
import socketserver
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal

from loguru import logger

from app.proxy.guard import BudgetSpent, Hold, SpendGuard
from app.proxy.metering import UsageMeter
from app.proxy.passes import Pass, PassBook
from app.proxy.prices import CallUsage
from app.proxy.upstream import Credential, Upstream

BILLED_PATH = "/v1/messages"
MAX_BODY = 64 << 20
CHUNK = 65536
HOLD_POLL_SECONDS = 0.05
HOLD_WAIT_SECONDS = 120.0  # how long a call waits for other calls of its key to settle
REFUSAL_STATUS = 402  # not retried by the CLI: a spent budget ends the turn at once
# Not passed on: hop-by-hop headers, the turn token, and encodings the meter cannot read.
DROPPED = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
           "trailer", "upgrade", "host", "content-length", "x-api-key", "authorization",
           "accept-encoding"}
RETRYABLE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
_LEADING_MODEL = re.compile(rb'\{\s*"model"\s*:\s*"([^"\\]{1,256})"\s*[,}]')  # no escapes in it


class ApiProxy:
    """The proxy of one worker: its passes, its upstream, and the listener its CLIs call."""

    def __init__(self, upstream: Upstream, credential: Credential | None, guard: SpendGuard,
                 on_socket: bool = False):
        self.upstream = upstream
        self.credential = credential
        self.guard = guard
        self.passes = PassBook()
        self.on_socket = on_socket
        self.socket_path: Path | None = None
        self.port: int | None = None
        self._server: socketserver.BaseServer | None = None

    def start(self) -> None:
        """Listen on a unix socket in a private folder (sandboxes with their own network) or
        on a loopback port."""
        if self.on_socket:
            self.socket_path = Path(tempfile.mkdtemp(prefix="ccg-proxy-")) / "api.sock"
            self._server = _UnixServer(str(self.socket_path), _Handler)
        else:
            self._server = _TcpServer(("127.0.0.1", 0), _Handler)
            self.port = self._server.server_address[1]
        self._server.proxy = self
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.5},
                         daemon=True, name="api-proxy").start()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self.socket_path is not None:
            shutil.rmtree(self.socket_path.parent, ignore_errors=True)
        self.upstream.close()

    # -- one call ---------------------------------------------------------------------------

    def handle(self, exchange: "_Handler") -> None:
        issued = self.passes.find(_token(exchange.headers))
        if issued is None:
            return exchange.fail(401, "authentication_error", "invalid x-api-key")
        if exchange.command == "HEAD":
            return exchange.reply_empty(200)  # the CLI's connectivity probe
        body = exchange.read_body()  # read before any refusal: an unread body resets the socket
        if body is None:
            return exchange.fail(413, "request_too_large", "The request body is too large.")
        billed = exchange.command == "POST" and exchange.path.split("?")[0] == BILLED_PATH
        if issued.holder is None or issued.warming and not billed:
            # a warm or idle process, or the token counts of a warm-up that a turn overtook:
            # nothing of it leaves the gateway
            return exchange.fail(403, "permission_error", "No turn runs on this process.")
        credential = self.credential
        if credential is None:
            return exchange.fail(401, "authentication_error", "The gateway has no Anthropic "
                                 "credential: its operator must set ANTHROPIC_API_KEY or "
                                 "CLAUDE_CODE_OAUTH_TOKEN.")
        if not billed:
            self._relay(exchange, credential, body)
            return
        model = _model_of(body)
        hold = self._reserve(exchange, issued, len(body), model)
        if hold is False:
            return
        usage = CallUsage()
        try:
            usage, model = self._relay(exchange, credential, body, model)
        finally:
            self.guard.settle(hold, issued.holder, model, usage)

    def _reserve(self, exchange: "_Handler", issued: Pass, size: int,
                 model: str | None) -> Hold | Literal[False]:
        """Hold the call's likely cost against the key's budget; False once refused."""
        deadline = time.monotonic() + HOLD_WAIT_SECONDS
        while True:
            try:
                hold = self.guard.reserve(issued.holder, model, size)
            except BudgetSpent as exc:
                issued.refused = exc.code
                exchange.fail(REFUSAL_STATUS, "invalid_request_error", str(exc))
                return False
            if hold is not None:
                return hold
            if time.monotonic() >= deadline:
                exchange.fail(REFUSAL_STATUS, "invalid_request_error", "Other calls of this key "
                              "still hold the rest of its daily budget; try again shortly.")
                return False
            time.sleep(HOLD_POLL_SECONDS)  # other calls of the key hold the rest: wait them out

    def _relay(self, exchange: "_Handler", credential: Credential, body: bytes,
               model: str | None = None) -> tuple[CallUsage, str | None]:
        """Send the call on with the operator's credential (handle() has checked there is
        one) and stream its answer back; return what it used."""
        headers = {k.lower(): v for k, v in exchange.headers.items() if k.lower() not in DROPPED}
        credential.apply(headers)
        headers["content-length"] = str(len(body))
        try:
            connection, response = self._send(exchange.command, exchange.path, body, headers)
        except OSError as exc:
            logger.warning("the API proxy cannot reach {}: {}", self.upstream.base_url, exc)
            exchange.fail(502, "api_error", f"The gateway cannot reach the Anthropic API "
                          f"({exc.__class__.__name__}: {exc}).", retry=False)
            return CallUsage(), model
        meter = UsageMeter("text/event-stream" in (response.getheader("content-type") or ""))
        complete = False
        try:
            exchange.start_reply(response.status, response.getheaders())
            if exchange.command != "HEAD":
                while chunk := response.read1(CHUNK):
                    meter.feed(chunk)
                    exchange.send_chunk(chunk)
                exchange.end_reply()
            complete = True
        except OSError:
            exchange.close_connection = True  # the CLI left: stop, and bill what came
        finally:
            if complete and not response.will_close:
                self.upstream.give_back(connection)
            else:
                connection.close()
        return meter.finish(), meter.model or model

    def _send(self, method: str, path: str, body: bytes, headers: dict):
        """The call's response, on a kept connection if one is still good."""
        for attempt in (0, 1):
            connection = self.upstream.connection()
            try:
                connection.request(method, self.upstream.path(path), body, headers)
                return connection, connection.getresponse()
            except RETRYABLE:
                connection.close()
                if attempt:
                    raise
            except OSError:
                connection.close()
                raise
        raise AssertionError("unreachable")


def _token(headers) -> str | None:
    given = headers.get("x-api-key")
    if given:
        return given
    scheme, _, value = (headers.get("authorization") or "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _model_of(body: bytes) -> str | None:
    """The call's model, from the start of its body, where the CLI writes it; else from the
    whole JSON (parsing a body of 100 KB and more cost milliseconds before every call)."""
    leading = _LEADING_MODEL.match(body)
    if leading:
        try:
            return leading.group(1).decode("utf-8")
        except UnicodeDecodeError:
            pass
    try:
        model = json.loads(body).get("model")
    except (ValueError, AttributeError):
        return None
    return model if isinstance(model, str) else None


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive, so a CLI's calls reuse one connection."""
    protocol_version = "HTTP/1.1"
    server: "_TcpServer | _UnixServer"  # only ApiProxy.start() makes the servers it runs in

    def do_HEAD(self) -> None:
        self.server.proxy.handle(self)

    do_GET = do_POST = do_DELETE = do_HEAD

    def log_message(self, *args):  # the gateway logs turns, not each call
        pass

    def read_body(self) -> bytes | None:
        length = int(self.headers.get("content-length") or 0)
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            return self._read_chunked()
        return self.rfile.read(length) if length <= MAX_BODY else None

    def _read_chunked(self) -> bytes | None:
        parts: list[bytes] = []
        size = 0
        while True:
            length = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if length == 0:
                self.rfile.readline()
                return b"".join(parts)
            size += length
            if size > MAX_BODY:
                return None
            parts.append(self.rfile.read(length))
            self.rfile.readline()

    def start_reply(self, status: int, headers) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in DROPPED and name.lower() != "content-encoding":
                self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def send_chunk(self, chunk: bytes) -> None:
        self.wfile.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")

    def end_reply(self) -> None:
        self.wfile.write(b"0\r\n\r\n")

    def reply_empty(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def fail(self, status: int, kind: str, message: str, retry: bool = True) -> None:
        """An error in the API's own shape, which the CLI shows as the turn's error; with
        `retry` off the CLI is told not to try again (it would, for minutes, on a 5xx)."""
        body = json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()
        self.close_connection = True  # the request's body may be unread
        self.send_response(status)
        self.send_header("Connection", "close")
        if not retry:
            self.send_header("x-should-retry", "false")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _TcpServer(ThreadingHTTPServer):
    daemon_threads = True
    proxy: ApiProxy  # set by ApiProxy.start(); its handlers call it


class _UnixServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    proxy: ApiProxy  # as on _TcpServer

    def get_request(self):
        request, _ = super().get_request()
        return request, ("unix", 0)  # BaseHTTPRequestHandler wants a (host, port) address
