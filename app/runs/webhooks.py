"""Telling a client's URL that its run ended or waits, signed as Standard Webhooks says.

A run may name a webhook only on a host the operator allows (WEBHOOK_ALLOWED_HOSTS),
checked before the run starts, so the server never posts anywhere else. Each event is
signed with WEBHOOK_SECRET (headers webhook-id, webhook-timestamp, webhook-signature, by the
`standardwebhooks` package) and posted from one sender thread per worker, retried with
back-off while the receiver fails: never in the run's way.
"""

import http.client
import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import urlsplit

from loguru import logger
from standardwebhooks.webhooks import Webhook

from app.errors import BadRequest, Forbidden

EVENTS = ("run.completed", "run.failed", "run.cancelled", "run.waiting")
BACKOFF_SECONDS = (1, 5, 25, 120, 600)  # then given up
TIMEOUT_SECONDS = 10.0


def check_url(url, allowed_hosts: tuple[str, ...], secret: str, param: str = "webhook") -> str:
    """A webhook URL the operator allows; 400 for a malformed one, 403 for any other host."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequest("webhook must be an http(s) URL.", param=param)
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    if host not in allowed_hosts and parts.hostname not in allowed_hosts:
        raise Forbidden(f"Webhooks may go only to the hosts the operator allows "
                        f"(WEBHOOK_ALLOWED_HOSTS); {host} is not one.", param=param,
                        code="webhook_host_not_allowed")
    if not secret:
        raise Forbidden("Webhooks are off on this server: the operator has not set "
                        "WEBHOOK_SECRET.", param=param, code="webhooks_off")
    return url


@dataclass
class Delivery:
    """One event for one URL, and how often it was tried."""
    url: str
    kind: str
    data: dict
    id: str = field(default_factory=lambda: "msg_" + uuid.uuid4().hex)
    attempts: int = 0
    due: float = 0.0


class WebhookSender:
    """Posts signed events from one thread, retrying failures later."""

    def __init__(self, secret: str):
        self._signer = Webhook(secret) if secret else None
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def send(self, url: str, kind: str, data: dict) -> None:
        """Queue an event; returns at once (nothing is sent without a secret to sign it)."""
        if self._signer is None:
            return
        self._queue.put(Delivery(url, kind, data))
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._deliver_all, daemon=True,
                                                name="webhooks")
                self._thread.start()

    def _deliver_all(self) -> None:
        later: list[Delivery] = []
        while True:
            wait = min((d.due for d in later), default=time.monotonic() + 60) - time.monotonic()
            try:
                later.append(self._queue.get(timeout=max(0.0, wait)))
            except queue.Empty:
                pass
            now = time.monotonic()
            for delivery in [d for d in later if d.due <= now]:
                later.remove(delivery)
                if not self._deliver(delivery):
                    self._retry(delivery, later)

    def _retry(self, delivery: Delivery, later: list) -> None:
        if delivery.attempts > len(BACKOFF_SECONDS):
            logger.warning("webhook {} to {} given up after {} attempts", delivery.kind,
                           delivery.url, delivery.attempts)
            return
        delivery.due = time.monotonic() + BACKOFF_SECONDS[delivery.attempts - 1]
        later.append(delivery)

    def _deliver(self, delivery: Delivery) -> bool:
        """Post one event; tell whether the receiver took it (a 2xx)."""
        assert self._signer is not None  # send() queues nothing without it
        delivery.attempts += 1
        moment = datetime.now(timezone.utc)
        body = json.dumps({"type": delivery.kind, "timestamp": moment.isoformat(),
                           "data": delivery.data}).encode()
        headers = {"Content-Type": "application/json", "webhook-id": delivery.id,
                   "webhook-timestamp": str(int(moment.timestamp())),
                   "webhook-signature": self._signer.sign(delivery.id, moment, body)}
        parts = urlsplit(delivery.url)
        kind = http.client.HTTPSConnection if parts.scheme == "https" else \
            http.client.HTTPConnection
        connection = kind(parts.hostname or "", parts.port, timeout=TIMEOUT_SECONDS)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request("POST", target, body, headers)
            status = connection.getresponse().status
        except OSError as exc:
            logger.info("webhook {} to {} failed (attempt {}): {}", delivery.kind,
                        delivery.url, delivery.attempts, exc)
            return False
        finally:
            connection.close()
        return 200 <= status < 300
