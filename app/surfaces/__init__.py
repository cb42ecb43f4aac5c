"""The API surfaces other than the native one: OpenAI chat, Anthropic Messages and
OpenAI Responses, each its wire format mapped to and from the conversation core."""
