"""`GET /docs`: Swagger UI over /openapi.json, from our own copy of swagger-ui-dist.

`npm ci` installs swagger-ui-dist (package.json) beside the CLI; its files are served
from node_modules so the server needs no CDN and works offline. Only the few files
the page uses are served, never the rest of node_modules.
"""

from pathlib import Path

from flask import Blueprint, abort, render_template, send_from_directory

from app.console import headers

bp = Blueprint("docs", __name__, url_prefix="/docs", template_folder="templates")
bp.after_request(headers.protect)
SWAGGER_UI = Path(__file__).resolve().parents[2] / "node_modules" / "swagger-ui-dist"
ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png"})


@bp.get("")
def show():
    """The API viewer, or a page saying how to install it."""
    installed = (SWAGGER_UI / "swagger-ui-bundle.js").is_file()
    return render_template("console/docs.html", page="docs", installed=installed), \
        200 if installed else 503


@bp.get("/swagger-ui/<name>")
def asset(name: str):
    """One of swagger-ui-dist's files the page loads."""
    if name not in ASSETS:
        abort(404)
    return send_from_directory(SWAGGER_UI, name, max_age=3600)
