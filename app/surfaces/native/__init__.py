"""The native surface: Claude Code's own stream-json events, passed through as a run."""
