"""The model names a conversation may ask for, and the CLI model each stands for."""

from app.claude.command import check_model
from app.errors import BadRequest

DEFAULT_MODEL = "claude-code"
FAMILIES = ("sonnet", "opus", "haiku")


def resolve_model(name: str, aliases: dict[str, str]) -> str | None:
    """The CLI model for a model name (None: the CLI's default); 400 if unknown."""
    if name == DEFAULT_MODEL:
        return None
    if name in aliases:
        return aliases[name]
    if name in FAMILIES or name.startswith("claude-"):
        return check_model(name)
    allowed = ", ".join([DEFAULT_MODEL, *FAMILIES, "claude-<model id>", *sorted(aliases)])
    raise BadRequest(f"Unknown model {name!r}: use one of {allowed}.", param="model",
                     code="model_not_found")


def names(aliases: dict[str, str]) -> list[str]:
    """Every model name to list: the default, the families, the operator's aliases."""
    return [DEFAULT_MODEL, *FAMILIES, *aliases]
