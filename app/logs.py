"""Logging, configured once at the entry point: one stderr sink, text or JSON lines."""

import json
import logging
import sys
from datetime import datetime, timezone

from loguru import logger

TEXT_FORMAT = ("<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> <level>{level: <7}</level> "
               "{process} {message}")


def configure(level: str, fmt: str) -> None:
    """Replace loguru's default sink with ours; safe to call again (tests do)."""
    logger.remove()
    if fmt == "json":
        logger.add(sys.stderr, level=level, serialize=True, backtrace=False, diagnose=False)
    else:
        logger.add(sys.stderr, level=level, format=TEXT_FORMAT, backtrace=False,
                   diagnose=False, colorize=None)


class GunicornJson(logging.Formatter):
    """gunicorn's own lines in the shape of loguru's JSON records, so a shipper reads one format."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, timezone.utc)
        return json.dumps({"text": super().format(record) + "\n", "record": {
            "extra": {}, "level": {"name": record.levelname, "no": record.levelno},
            "message": record.getMessage(), "name": record.name,
            "process": {"id": record.process, "name": record.processName},
            "time": {"repr": str(when), "timestamp": record.created}}})


def gunicorn_logconfig(fmt: str, level: str) -> dict:
    """Build gunicorn's `logconfig_dict`: empty (its own text lines) unless LOG_FORMAT=json."""
    if fmt != "json":
        return {}
    errors = {"level": level.upper(), "handlers": ["error_console"], "propagate": False}
    access = {"level": "CRITICAL", "handlers": [], "propagate": False}  # the app logs requests
    return {"formatters": {"generic": {"()": GunicornJson}},
            "loggers": {"gunicorn.error": errors, "gunicorn.access": access},
            "root": {"level": "WARNING", "handlers": ["error_console"]}}
