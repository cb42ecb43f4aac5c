"""Claude Code Gateway: Claude Code behind an HTTP API.

The package itself imports nothing: gunicorn's master reads gunicorn.conf.py, which
imports a few light modules of it (settings, logs), and under gevent the app must be
imported in the worker only, after gevent's patch (modules imported earlier are not
cooperative, and gevent warns about each). The app is built in app/factory.py.
"""

from typing import Any, Mapping


def create_app(test_config: Mapping[str, Any] | None = None):
    """Build the app from the environment (and `.env`), or from `test_config` alone."""
    from app.factory import create_app as build
    return build(test_config)
