"""The running app's services, for views: Flask keeps them in the app's extensions."""

from flask import current_app

from app.services import Gateway


def current() -> Gateway:
    """The gateway of the app handling this request."""
    return current_app.extensions["gateway"]
