"""`GET /health`: no auth; 200 when healthy or degraded, 503 when unhealthy; process counts."""

from flask import Blueprint, jsonify, request

from app.ops import health
from app.web.context import current

bp = Blueprint("health", __name__, url_prefix="/health")
DEEP_WAIT_SECONDS = 8.0  # a load balancer gives up after 5 to 10 s


@bp.get("")
def show():
    """Report each check and the overall state."""
    gateway = current()
    settings = gateway.settings
    checks = {
        "cli": health.check_cli(settings.claude_path),
        "workspace_base": health.check_workspace_base(settings.workspace_base),
        "mcp_config": health.check_mcp_config(settings.mcp_config_path),
        "state": health.check_state(gateway.db),
        "sandbox": health.check_sandbox(gateway.confiner),
        "credential": health.check_credential(gateway.proxy),
    }
    if request.args.get("deep") in ("1", "true"):
        checks["claude"] = gateway.deep.verdict(DEEP_WAIT_SECONDS)
    elif gateway.deep.failure() is not None:  # a test turn that failed lately still counts
        checks["claude"] = gateway.deep.failure()
    status = health.overall(checks)
    report = {"status": status, "checks": checks, "processes": gateway.budget.counts()}
    if gateway.cluster is not None:
        report["hosts"] = health.hosts(gateway.cluster)
    return jsonify(report), 503 if status == "unhealthy" else 200
