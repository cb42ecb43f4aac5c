"""The operator's tools: health checks, doctor and the flask commands."""
