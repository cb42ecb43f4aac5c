"""The OpenAI-compatible surface: request mapping, event translation, response shapes.

Pure functions and small classes; the Flask glue lives in app/routes/chat.py.
"""
