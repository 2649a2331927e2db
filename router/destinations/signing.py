"""Standard Webhooks signatures, as the sender computes them.

The signed content is `{webhook-id}.{webhook-timestamp}.{body}` with
HMAC-SHA256 under the secret's bytes (`whsec_<base64>` decoded), sent as
`v1,<base64 digest>`. The id is the delivery's key and stays the same on
every retry; the timestamp is the attempt's, so a receiver's replay window
applies to each attempt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac


class SecretFormatError(ValueError):
    """A `whsec_` secret that is not valid base64."""


def decode_secret(secret: str) -> bytes:
    """`whsec_<base64>` as the specification writes it; any other text as its UTF-8 bytes."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[len("whsec_"):], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SecretFormatError("the whsec_ secret is not valid base64") from exc
    return secret.encode()


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_headers(key: bytes, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(key, msg_id, timestamp, body),
    }
