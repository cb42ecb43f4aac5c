"""Confinement of every `claude` process: what it may see, and the environment it gets.

A turn's process and everything it starts (Bash, hooks, MCP servers) run inside a
bubblewrap sandbox that shows the system's read-only parts, the CLI, the turn's
workspace and the key's own home (its Claude config folder), and nothing else: no
STATE_DIR, no project, no other workspace, no other process. Its environment is
built from an allowlist; it reaches the Anthropic API only through the gateway's
proxy (app/proxy), with a token that is worth nothing outside the gateway.
"""
