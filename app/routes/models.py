"""`GET /v1/models`: the model names /v1 accepts, in OpenAI's list shape."""

from flask import Blueprint, jsonify

from app.gateway import current
from app.chat import models

bp = Blueprint("models", __name__, url_prefix="/v1/models")
CREATED = 1735689600  # a fixed date: these names do not change between requests


@bp.get("")
def index():
    """List claude-code, the families and the operator's aliases."""
    names = models.names(current().settings.model_aliases)
    return jsonify({"object": "list", "data": [
        {"id": name, "object": "model", "created": CREATED, "owned_by": "claude-code-gateway"}
        for name in names]})
