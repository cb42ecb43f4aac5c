"""A response kept as a run (background, or streamed): the response object as it stands,
whichever worker or host runs it."""

from app.runs.log import RunMeta

# The response's status for each status of its run.
STATUS = {"queued": "queued", "running": "in_progress", "waiting": "in_progress",
          "completed": "completed", "failed": "failed", "incomplete": "incomplete",
          "cancelled": "cancelled"}


def view(meta: RunMeta) -> dict:
    """The response: whole once its run ended, else as it began, with the status it has."""
    response = dict(meta.result if meta.ended and meta.result else meta.summary or {})
    response["status"] = STATUS[meta.status]
    if meta.status == "cancelled":
        response["error"] = None
    return response
