"""The gateway's proxy of the Anthropic Messages API: the only way a turn reaches the API.

It adds the operator's credential, which never enters a sandbox, and charges each call
to the key whose turn made it.
"""
