"""The Anthropic Messages surface: request mapping, message events, error shape.

Pure functions and small classes; the Flask glue lives in app/routes/messages.py.
"""
