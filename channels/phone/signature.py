"""Standard Webhooks signature verification (HMAC-SHA256 over `id.timestamp.body`).

Verified over the raw bytes as received (never re-serialized JSON), in
constant time, against every signature in the header and every configured
secret, so both sides can rotate keys without downtime.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable


class SignatureError(Exception):
    """The request is not signed by a holder of a configured secret."""


def decode_secret(secret: str) -> bytes:
    """`whsec_<base64>` as the specification writes it; any other text as its UTF-8 bytes."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[len("whsec_"):], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("the whsec_ secret is not valid base64") from exc
    return secret.encode()


def sign(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    keys: list[bytes],
    msg_id: str | None,
    timestamp: str | None,
    signature_header: str | None,
    body: bytes,
    *,
    tolerance_s: int = 300,
    clock: Callable[[], float] = time.time,
) -> None:
    if not keys:
        raise SignatureError("no signing secret is configured on the gateway")
    if not msg_id or not timestamp or not signature_header:
        raise SignatureError("webhook-id, webhook-timestamp and webhook-signature are required")
    try:
        sent = int(timestamp)
    except ValueError as exc:
        raise SignatureError("webhook-timestamp is not a Unix time") from exc
    if abs(clock() - sent) > tolerance_s:
        raise SignatureError(f"webhook-timestamp is more than {tolerance_s} s away from now")
    offered = [s.partition(",")[2].encode() for s in signature_header.split() if s.startswith("v1,")]
    expected = [sign(key, msg_id, timestamp, body).partition(",")[2].encode() for key in keys]
    matched = False
    for candidate in offered:
        for wanted in expected:
            matched |= hmac.compare_digest(candidate, wanted)
    if not matched:
        raise SignatureError("no signature matches")
