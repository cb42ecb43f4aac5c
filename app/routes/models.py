"""`GET /v1/models` and `/v1/models/<id>`: the model names /v1 accepts, in OpenAI's shapes."""

from flask import Blueprint, jsonify

from app.chat import models
from app.claude.errors import InvalidValue
from app.errors import ApiError, NotFound
from app.web.context import current

bp = Blueprint("models", __name__, url_prefix="/v1/models")
CREATED = 1735689600  # a fixed date: these names do not change between requests


@bp.get("")
def index():
    """List claude-code, the families and the operator's aliases."""
    names = models.names(current().settings.model_aliases)
    return jsonify({"object": "list", "data": [_model(name) for name in names]})


@bp.get("/<path:model_id>")
def show(model_id: str):
    """One model: any name /v1/chat/completions accepts (claude-* ids too), else 404."""
    try:
        models.resolve_model(model_id, current().settings.model_aliases)
    except (ApiError, InvalidValue):
        raise NotFound(f"The model {model_id!r} does not exist.", param="model",
                       code="model_not_found") from None
    return jsonify(_model(model_id))


def _model(name: str) -> dict:
    return {"id": name, "object": "model", "created": CREATED, "owned_by": "claude-code-gateway"}
