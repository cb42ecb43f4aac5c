"""Building the app: `create_app()` only wires settings, logging, errors, auth and the
blueprints (the services themselves are built in app/wiring.py)."""

import os
from collections import ChainMap
from typing import Any, Mapping

from dotenv import load_dotenv
from flask import Flask, g, request
from flask.json.provider import DefaultJSONProvider
from loguru import logger

from app import commands, errors, logs
from app.claude.command import load_operator_settings
from app.ops import health
from app.settings import SettingsError, load_settings
from app.turns import mcp
from app.web import access, auth, capture, claude_errors, cors, forwarding, requestlog
from app.web.context import current as current_gateway
from app.wiring import build_gateway

PUBLIC_ENDPOINTS = {"health.show", "openapi.show", "static"}
PUBLIC_BLUEPRINTS = {"console", "docs"}  # pages without data: their scripts send the key
METRICS_ENDPOINT = "metrics.show"  # public too when METRICS_PUBLIC is on


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from the environment (and `.env`), or from `test_config` alone."""
    if test_config is None and commands.loading_for_command():
        return commands.operator_app()  # `flask doctor`, `gen-key`: no processes, no refusal
    environ: Mapping[str, Any]
    if test_config is None:
        load_dotenv(os.path.join(os.getcwd(), ".env"), override=False)
        environ = os.environ
    else:
        environ = test_config
    settings = load_settings(environ)
    try:
        mcp_servers = mcp.load_servers(settings.mcp_config_path)
    except ValueError as exc:
        raise SettingsError(f"MCP_CONFIG_PATH is invalid: {exc}") from None
    try:
        operator_settings = load_operator_settings(settings.claude_settings_path)
    except ValueError as exc:
        raise SettingsError(f"CLAUDE_SETTINGS_PATH is invalid: {exc}") from None
    logs.configure(settings.log_level, settings.log_format)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    # Replies keep the order their fields were built in; the provider is Flask's default one
    assert isinstance(app.json, DefaultJSONProvider)
    app.json.sort_keys = False
    # The CLI's own settings and the Anthropic ones also come from the real environment when
    # a test passes only the gateway's settings.
    app.extensions["gateway"] = build_gateway(
        settings, mcp_servers, environ if test_config is None else ChainMap(
            dict(test_config), os.environ), operator_settings)
    if settings.startup_check:
        health.log_startup_turn(app.extensions["gateway"].deep)
    claude_errors.register()
    errors.register(app)
    forwarding.register(app)
    requestlog.register(app)
    app.after_request(capture.finish)
    cors.register(app, settings.cors_origins)
    _require_keys(app, settings.keys, PUBLIC_ENDPOINTS | (
        {METRICS_ENDPOINT} if settings.metrics_public else set()))
    _register_blueprints(app)
    if not settings.keys:
        logger.warning("No API_KEY or API_KEYS set: anyone who can reach {}:{} can run "
                       "Claude Code; serving on loopback only.", settings.host, settings.port)
    return app


def _require_keys(app: Flask, keys: tuple[str, ...], public: set[str]) -> None:
    @app.before_request
    def check_key() -> None:
        # a browser's preflight carries no key and runs no view
        if request.endpoint not in public and request.blueprint not in PUBLIC_BLUEPRINTS \
                and not cors.is_preflight(request):
            gateway = current_gateway()
            gateway.db.ensure()  # a removed STATE_DIR is made again first
            g.principal = auth.authenticate(request.headers, keys, gateway.keys)
            access.admit(g.principal, request.endpoint, gateway.usage)
            if g.principal.capture:
                capture.start(gateway.db.folder("captures"), request, g.request_id)


def _register_blueprints(app: Flask) -> None:
    from app.console import docs, pages
    from app.routes import (
        chat,
        claude,
        health,
        messages,
        metrics,
        models,
        openapi,
        responses,
        runs,
        sessions,
        usage,
    )
    for module in (claude, runs, chat, models, health, openapi, messages, sessions, responses,
                   usage, metrics, pages, docs):
        app.register_blueprint(module.bp)
