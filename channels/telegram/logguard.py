"""Keep the bot token out of every log line, whoever configured logging.

httpx logs each request URL at INFO, and Bot API URLs contain the token
(`/bot<token>/getUpdates`). A logger's filters only see records made on that
very logger, so the redacting filter is put on each library logger that can
carry the token, for as long as the adapter runs.
"""

from __future__ import annotations

import logging

PREFIXES = ("httpx", "httpcore", "telegram", "gateway.channels.telegram", "asyncio")
KNOWN = ("httpx", "httpcore", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy",
         "telegram", "telegram.ext", "telegram.Bot", "telegram.ext.ExtBot", "telegram.ext.Application",
         "telegram.request", "telegram.request.BaseRequest", "telegram.request.HTTPXRequest",
         "gateway.channels.telegram", "asyncio")


class LogGuard:
    def __init__(self, redactor: logging.Filter) -> None:
        self._redactor = redactor
        self._guarded: list[logging.Logger] = []

    def install(self) -> None:
        names = set(KNOWN) | {
            name for name in logging.root.manager.loggerDict
            if any(name == p or name.startswith(p + ".") for p in PREFIXES)
        }
        for name in sorted(names):
            logger = logging.getLogger(name)
            if self._redactor not in logger.filters:
                logger.addFilter(self._redactor)
                self._guarded.append(logger)

    def remove(self) -> None:
        for logger in self._guarded:
            logger.removeFilter(self._redactor)
        self._guarded.clear()
