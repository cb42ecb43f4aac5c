"""`GET /health`: no auth; 200 when healthy or degraded, 503 when unhealthy; process counts."""

from flask import Blueprint, jsonify, request

from app import health
from app.gateway import current

bp = Blueprint("health", __name__, url_prefix="/health")


@bp.get("")
def show():
    """Report each check and the overall state.
    ---
    get:
      security: []
      parameters:
        - {name: deep, in: query, schema: {type: string, enum: ["1", "true"]},
           description: Also run one tiny real Claude turn (cached for a minute).}
      responses:
        200:
          description: Healthy or degraded (a 503 says unhealthy, with the same body).
          content:
            application/json:
              schema:
                type: object
                properties:
                  status: {type: string, enum: [healthy, degraded, unhealthy]}
                  checks: {type: object}
                  processes: {type: object}
        503:
          description: Unhealthy.
    """
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
        checks["claude"] = health.check_claude_turn(gateway)
    status = health.overall(checks)
    return jsonify({"status": status, "checks": checks, "processes": gateway.budget.counts()}), \
        503 if status == "unhealthy" else 200
