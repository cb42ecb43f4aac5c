"""One turn of Claude Code: the options a client may set, operator policy, the
workspace, the session hold, admission to a process and settlement."""
