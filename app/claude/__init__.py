"""The Claude Code CLI as a library: argv building, the process runner, its events.

Nothing in this package imports Flask; views hand it plain values.
"""
