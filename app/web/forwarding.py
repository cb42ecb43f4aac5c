"""A request for a session that lives on another host goes there, unchanged, and its answer
comes back as it streams.

The turn found the session elsewhere before any byte was sent (SessionElsewhere); this
handler replays the request to the home host's NODE_URL with the cluster's secret and the
sending host's id, and relays status, headers and body. The home host authenticates the
client's own key again (keys are shared) and runs the turn. A forwarded request that finds
its session elsewhere again is refused, never sent on: the hosts disagree, and a 503 says so.
"""

import http.client
from urllib.parse import urlsplit

from flask import Flask, Response, request
from loguru import logger

from app.errors import ServiceUnavailable
from app.shared.cluster import CLUSTER_SECRET, FORWARDED_BY, SessionElsewhere
from app.web.context import current

CONNECT_SECONDS = 5.0
READ_SECONDS = 3600.0  # a turn may stream for its whole time limit
CHUNK = 65536
# Hop-by-hop and recomputed headers: never passed along in either direction.
DROPPED = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
           "upgrade", "host", "content-length", FORWARDED_BY.lower(), CLUSTER_SECRET.lower()}


def register(app: Flask) -> None:
    app.register_error_handler(SessionElsewhere, forward)


def was_forwarded() -> bool:
    """Whether this request came from another host of the cluster."""
    cluster = current().cluster
    return cluster is not None and FORWARDED_BY in request.headers and \
        cluster.trusts(request.headers)


def forward(elsewhere: SessionElsewhere) -> Response:
    """Send this request to the session's home host and stream its answer back."""
    cluster = current().cluster
    assert cluster is not None, "only a cluster finds a session elsewhere"
    if was_forwarded():
        raise ServiceUnavailable("This request was forwarded here, but the session lives on "
                                 "yet another host: the cluster's hosts disagree; retry.",
                                 code="session_host_moved")
    target = urlsplit(elsewhere.host.url)
    headers = {k: v for k, v in request.headers.items() if k.lower() not in DROPPED}
    headers.update({FORWARDED_BY: cluster.me.id, CLUSTER_SECRET: cluster.secret})
    body = request.get_data()
    connection = _connection(target)
    try:
        connection.connect()
        connection.sock.settimeout(READ_SECONDS)
        connection.request(request.method, request.full_path.rstrip("?"), body, headers)
        upstream = connection.getresponse()
    except OSError as exc:
        connection.close()
        logger.warning("forwarding to {} failed: {}", elsewhere.host.url, exc)
        raise ServiceUnavailable(f"The host that holds this session ({elsewhere.host.url}) does "
                                 f"not answer: {exc}.", code="session_host_unavailable") from None
    logger.info("forwarded {} {} to the session's host {}", request.method, request.path,
                elsewhere.host.url)
    relayed = [(k, v) for k, v in upstream.getheaders() if k.lower() not in DROPPED]
    return Response(_relay(connection, upstream), status=upstream.status, headers=relayed,
                    direct_passthrough=True)


def _connection(target) -> http.client.HTTPConnection:
    kind = http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
    return kind(target.hostname, target.port, timeout=CONNECT_SECONDS)


def _relay(connection, upstream):
    """The home host's body as it comes; the connection closes with it (or with the client,
    whose going closes the home host's stream, and so ends its turn)."""
    try:
        while chunk := upstream.read1(CHUNK):
            yield chunk
    finally:
        connection.close()
