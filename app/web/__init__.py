"""The HTTP glue: authentication and scopes, errors' and events' wire forms, request
logs, captures, CORS, the OpenAPI document, and gunicorn's worker."""
