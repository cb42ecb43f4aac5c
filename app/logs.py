"""Logging, configured once at the entry point: one stderr sink, text or JSON lines."""

import sys

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
