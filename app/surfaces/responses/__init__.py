"""The OpenAI Responses surface: request mapping, response items and events, stored ids.

Pure functions and small classes; the Flask glue lives in app/routes/responses.py.
"""
