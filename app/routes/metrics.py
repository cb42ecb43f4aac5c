"""`GET /metrics`: Prometheus text, every worker's samples added up; needs a key with the
`metrics` scope unless METRICS_PUBLIC is on."""

from flask import Blueprint, Response

from app import metrics
from app.web.context import current

bp = Blueprint("metrics", __name__, url_prefix="/metrics")


@bp.get("")
def show():
    """The gateway's metrics, for Prometheus to scrape."""
    body, content_type = metrics.exposition(current().budget.counts)
    return Response(body, content_type=content_type)
