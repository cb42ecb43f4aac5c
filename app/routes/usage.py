"""`GET /api/usage`: what the calling key has used today and this month, and its limits."""

from flask import Blueprint, jsonify

from app.web.auth import principal
from app.web.context import current

bp = Blueprint("usage", __name__, url_prefix="/api/usage")


@bp.get("")
def show():
    """The caller's usage today and this month (UTC), beside its limits.
    ---
    get:
      responses:
        200:
          description: >-
            Turns, tokens (input with cache reads and writes, and output) and dollars, by
            Claude Code's own figures; a key with limits gets 429 once a daily one is spent.
          content:
            application/json:
              schema:
                type: object
                properties:
                  object: {type: string, enum: [usage]}
                  key: {type: string}
                  day: {type: string, format: date}
                  today: {$ref: '#/components/schemas/Usage'}
                  month: {$ref: '#/components/schemas/Usage'}
                  limits:
                    type: object
                    properties:
                      rpm: {type: [integer, 'null']}
                      daily_tokens: {type: [integer, 'null']}
                      daily_usd: {type: [number, 'null']}
    """
    return jsonify(current().usage.report(principal()))
