"""Images a client sends, as Claude image blocks: base64 only, since remote URLs are not
fetched (the gateway would become a way to reach any address from the server)."""

import base64
import binascii
import re

from app.errors import BadRequest

MEDIA_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
_DATA_URL = re.compile(r"data:(image/[a-z]+);base64,(.*)", re.S)


def image_block(where: str, url) -> dict:
    """A base64 data URL (`data:image/png;base64,...`) as a Claude image block."""
    match = _DATA_URL.fullmatch(url) if isinstance(url, str) else None
    if not match or match.group(1) not in MEDIA_TYPES:
        raise BadRequest(f"{where}: only data URLs of PNG, JPEG, GIF or WebP images are "
                         "accepted (data:image/png;base64,...).", param=where)
    return base64_block(where, match.group(1), match.group(2))


def base64_block(where: str, media_type, data) -> dict:
    """Base64 image data of a known type as a Claude image block, checked."""
    if media_type not in MEDIA_TYPES or not isinstance(data, str):
        raise BadRequest(f"{where}: only base64 PNG, JPEG, GIF or WebP images are accepted.",
                         param=where)
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{where}: the image data is not valid base64.", param=where) from None
    return {"type": "image", "source": {"type": "base64", "media_type": media_type,
                                        "data": data}}
