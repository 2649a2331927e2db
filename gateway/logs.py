"""Logging set-up with a filter that keeps secrets out of every log line.

Libraries log request URLs (httpx logs `.../bot<token>/getUpdates`) and
exceptions carry headers; rather than trusting each call site, every record
is scrubbed of the configured secret values and of token-shaped strings.
A request that breaks HTTP's syntax is the client's fault, already answered
400: one line, not an error with a traceback that any client could repeat
to flood the log.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from urllib.parse import quote

from aiohttp.http_exceptions import HttpProcessingError

from channels.httpkit import unreadable_reason

BOT_TOKEN = re.compile(r"(?<![0-9])\d{5,}(?::|%3[Aa])[A-Za-z0-9_-]{20,}")  # also as URLs percent-encode it
BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"']+")
MASK = "[redacted]"


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        forms = {form for s in secrets if len(s) >= 4 for form in (s, quote(s, safe=""))}
        self._secrets = sorted(forms, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        text = BOT_TOKEN.sub(MASK, text)
        return BEARER.sub(r"\1" + MASK, text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = self.redact(message)
        record.args = None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


class MalformedRequestFilter(logging.Filter):
    """aiohttp's "Error handling request" for a request its parser refused, as one INFO line.

    Handlers never let a parser error reach aiohttp (`channels.httpkit.http_errors` answers it
    400), so such a record is always aiohttp's own 400, never a failure of the gateway's.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        if not logging.getLogger().isEnabledFor(logging.INFO):
            return False
        remote = record.args[0] if isinstance(record.args, tuple) and record.args else "a client"
        record.msg = "malformed request from %s refused with %s: %s"
        record.args = (remote, exc.code, unreadable_reason(exc, 300))
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.INFO, "INFO"
        return True


MALFORMED_REQUESTS = MalformedRequestFilter()


def setup_logging(level: str, secrets: Iterable[str]) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # These log full request URLs, which for Telegram contain the bot token.
    for noisy in ("httpx", "httpcore", "telegram.request"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.server").addFilter(MALFORMED_REQUESTS)  # added once however often called
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
