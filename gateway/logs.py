"""Logging set-up with a filter that keeps secrets out of every log line.

Libraries log request URLs (httpx logs `.../bot<token>/getUpdates`) and
exceptions carry headers; rather than trusting each call site, every record
is scrubbed of the configured secret values and of token-shaped strings.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from urllib.parse import quote

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
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
