"""Headers every console page and the API viewer are sent with.

The pages hold a key in session storage, so no script may run but our own files
(a transcript is text a model wrote, shown with textContent, and this is the second
line of defence), and no other site may frame them.
"""

from flask import Response

POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
          "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
          "form-action 'self'")


def protect(response: Response) -> Response:
    """Add the content security policy and its companions to a console response."""
    response.headers.setdefault("Content-Security-Policy", POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response
