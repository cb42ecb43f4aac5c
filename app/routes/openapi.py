"""`GET /openapi.json`: the OpenAPI 3.1 description of every endpoint; no auth, like /health.

Public because it holds nothing a key protects: it is built from the code alone (no
setting, key or session in it) and says what the README says, and API explorers and
client generators fetch it before they are given a key.
"""

from flask import Blueprint, current_app, jsonify

from app.web import openapi

bp = Blueprint("openapi", __name__, url_prefix="/openapi.json")


@bp.get("")
def show():
    """Describe every endpoint in OpenAPI 3.1, for API explorers and client generators."""
    return jsonify(openapi.document(current_app))
