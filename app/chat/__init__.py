"""The wire-neutral conversation core: options, conversations, messages and turns.

Every API surface (`app/openai/`, later others) parses its wire format into these
plain values and renders what comes back; nothing here imports a surface or Flask.
"""
