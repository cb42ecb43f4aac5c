"""Request schemas, one instance each at module level."""

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate

from app.runs.book import STATUSES as RUN_STATUSES
from app.turns.options import (
    CHOICE,
    COUNT,
    FLAG,
    LIST,
    MAX_TURNS_LIMIT,
    TURN_OPTIONS,
    TurnOption,
)


class StrictBoolean(fields.Boolean):
    """JSON true or false only: "false" or 0 is a type error, not a guess."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


def _turn_field(option: TurnOption) -> fields.Field:
    """The body field of one turn option, checked as its kind requires."""
    if option.kind == LIST:
        return fields.List(fields.String(), load_default=list, data_key=option.key)
    if option.kind == FLAG:
        return StrictBoolean(load_default=False, data_key=option.key)
    if option.kind == COUNT:
        return fields.Integer(load_default=None, allow_none=True, strict=True,
                              validate=validate.Range(min=1, max=MAX_TURNS_LIMIT),
                              data_key=option.key)
    check = validate.OneOf(option.choices) if option.kind == CHOICE else None
    return fields.String(load_default=None, allow_none=True, validate=check, data_key=option.key)


class TurnFields(Schema):
    """The native turn options as body fields, in the order of their table."""

    class Meta:
        register = False
        include = {option.attr: _turn_field(option) for option in TURN_OPTIONS if option.native}


class ClaudeRequest(TurnFields):
    """The body of `POST /api/claude`: a prompt and the turn options; kebab-case keys,
    snake_case also accepted."""

    class Meta:
        unknown = RAISE

    prompt = fields.String(required=True)
    stream = StrictBoolean(load_default=True)
    approvals = StrictBoolean(load_default=False)  # ask the client where rules allow no tool
    # What a client that goes away does to its run: interrupt it, or let it finish.
    on_disconnect = fields.String(load_default="interrupt", data_key="on-disconnect",
                                  validate=validate.OneOf(("interrupt", "continue")))
    webhook = fields.String(load_default=None, allow_none=True,
                            validate=validate.Length(max=2000))  # told when the run ends

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


class PermissionAnswer(Schema):
    """The body of `POST /api/claude/permissions/<request_id>`: allow (maybe with changed
    input) or deny (maybe saying why)."""

    class Meta:
        unknown = RAISE

    behavior = fields.String(required=True, validate=validate.OneOf(("allow", "deny")))
    updated_input = fields.Dict(load_default=None, allow_none=True, data_key="updated_input")
    message = fields.String(load_default=None, allow_none=True,
                            validate=validate.Length(max=4000))
    always = StrictBoolean(load_default=False)  # allow: the same tool unasked for the session


permission_answer = PermissionAnswer()


class SessionsQuery(Schema):
    """The query string of `GET /api/claude/sessions`: a page size and where the page starts."""

    class Meta:
        unknown = RAISE

    limit = fields.Integer(load_default=20, strict=False, validate=validate.Range(min=1, max=100))
    after = fields.UUID(load_default=None)  # the last session id of the previous page


sessions_query = SessionsQuery()


class RunsQuery(Schema):
    """The query string of `GET /api/claude/runs`: maybe only runs with one status."""

    class Meta:
        unknown = RAISE

    status = fields.String(load_default=None, validate=validate.OneOf(RUN_STATUSES))


runs_query = RunsQuery()


class RunEventsQuery(Schema):
    """The query string of `GET /api/claude/runs/<id>/events`: the last event already had."""

    class Meta:
        unknown = RAISE

    after = fields.Integer(load_default=None, strict=False, validate=validate.Range(min=0))


run_events_query = RunEventsQuery()
