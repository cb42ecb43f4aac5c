"""Runs: every turn as a run with an id and an event log, so a client can reconnect to it,
leave it running, list what runs, and be told when it ends or waits."""
