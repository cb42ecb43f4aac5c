"""The API surfaces: Claude Code's native events, and OpenAI chat, Anthropic Messages and
OpenAI Responses, each its wire format mapped to and from the conversation core."""
