"""Request schemas, one instance each at module level."""

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate

from app.claude.command import EFFORTS



class StrictBoolean(fields.Boolean):
    """JSON true or false only: "false" or 0 is a type error, not a guess."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class ClaudeRequest(Schema):
    """The body of `POST /api/claude`; kebab-case keys, snake_case also accepted."""

    class Meta:
        unknown = RAISE

    prompt = fields.String(required=True)
    session_id = fields.String(data_key="session-id", load_default=None, allow_none=True)
    workspace = fields.String(load_default=None, allow_none=True)
    system_prompt = fields.String(data_key="system-prompt", load_default=None, allow_none=True)
    allowed_tools = fields.List(fields.String(), data_key="allowed-tools", load_default=list)
    disallowed_tools = fields.List(fields.String(), data_key="disallowed-tools",
                                   load_default=list)
    mcp_allowed_tools = fields.List(fields.String(), data_key="mcp-allowed-tools",
                                    load_default=list)
    dangerously_skip_permissions = StrictBoolean(
        data_key="dangerously-skip-permissions", load_default=False)
    model = fields.String(load_default=None, allow_none=True)
    effort = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(EFFORTS))
    max_turns = fields.Integer(data_key="max-turns", load_default=None, allow_none=True,
                               strict=True, validate=validate.Range(min=1, max=1000))
    stream = StrictBoolean(load_default=True)

    @pre_load
    def accept_snake_case(self, data, **kwargs):
        """Map `session_id` to `session-id` (and so on), refusing both spellings at once."""
        if not isinstance(data, dict):
            return data
        renamed = dict(data)
        for key in data:
            if "_" in key:
                kebab = key.replace("_", "-")
                if kebab in data:
                    raise ValidationError(f"Give either {key!r} or {kebab!r}, not both.", kebab)
                if kebab in self.load_fields or any(
                        f.data_key == kebab for f in self.load_fields.values()):
                    renamed[kebab] = renamed.pop(key)
        return renamed

    @pre_load
    def require_text_prompt(self, data, **kwargs):
        """An empty or blank prompt asks nothing; say so instead of running Claude."""
        if isinstance(data, dict) and isinstance(data.get("prompt"), str) \
                and not data["prompt"].strip():
            raise ValidationError("The prompt is empty.", "prompt")
        return data


claude_request = ClaudeRequest()
