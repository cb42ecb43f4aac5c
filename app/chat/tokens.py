"""An estimate of the input tokens a conversation costs, for clients that ask first.

Claude Code adds its own system prompt and tool definitions, and the exact count
needs the API; this counts about four characters a token, plus a flat cost per
image and per message, and is labelled an estimate wherever it is answered.
"""

from app.chat.message import Message
from app.claude.client_tools import ClientTool

CHARS_PER_TOKEN = 4
IMAGE_TOKENS = 1600  # Anthropic's figure for an image of about 1.15 megapixels
MESSAGE_TOKENS = 4


def estimate(messages: list[Message], tools: tuple[ClientTool, ...] = ()) -> int:
    """About how many input tokens the messages and tool definitions take."""
    chars = sum(len(m.text) + sum(len(c.name) + len(c.arguments) for c in m.tool_calls)
                for m in messages)
    chars += sum(len(t.name) + len(t.description) + len(t.schema) for t in tools)
    images = sum(len(m.images) for m in messages)
    return -(-chars // CHARS_PER_TOKEN) + images * IMAGE_TOKENS + len(messages) * MESSAGE_TOKENS
