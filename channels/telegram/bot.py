"""The python-telegram-bot Application the adapter drives, pointed at `api_url`.

It is built without an Updater: PTB's Updater confirms updates to Telegram
(moves the offset) as soon as they are queued, before anything is stored, so
a crash loses them. The adapter fetches updates itself and hands them to the
Application's handlers only after they are committed.
"""

from __future__ import annotations

import json
from typing import Any

from telegram.ext import Application
from telegram.request import BaseRequest, HTTPXRequest, RequestData

ALLOWED_UPDATES = ("message", "edited_message")


class UpdatesRequest(HTTPXRequest):
    """The request object PTB uses for getUpdates only; keeps each answer's updates as sent.

    Stored records keep the update JSON as Telegram sent it, unknown fields
    included, and an update PTB cannot parse must still be stored rather than
    make every later poll fail. `do_request` is the transport hook PTB's
    request classes are meant to implement; this one only looks at the answer.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._last: list[dict[str, Any]] = []

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        code, payload = await super().do_request(url, method, request_data, read_timeout=read_timeout,
                                                 write_timeout=write_timeout, connect_timeout=connect_timeout,
                                                 pool_timeout=pool_timeout)
        self._last = []
        if 200 <= code <= 299:
            try:
                answer = json.loads(payload)
            except ValueError:
                answer = None
            result = answer.get("result") if isinstance(answer, dict) else None
            if isinstance(result, list):
                self._last = [u for u in result if isinstance(u, dict)]
        return code, payload

    def take(self) -> list[dict[str, Any]]:
        """The updates of the last successful answer, once."""
        last, self._last = self._last, []
        return last


def build_application(token: str, api_url: str, timeout_s: float) -> tuple[Application[Any, Any, Any, Any, Any, Any],
                                                                          UpdatesRequest]:
    root = api_url.rstrip("/")
    updates = UpdatesRequest(connection_pool_size=1, read_timeout=timeout_s, write_timeout=timeout_s,
                             connect_timeout=timeout_s, pool_timeout=timeout_s)
    calls = HTTPXRequest(connection_pool_size=16, read_timeout=timeout_s, write_timeout=timeout_s,
                         connect_timeout=timeout_s, pool_timeout=timeout_s, media_write_timeout=timeout_s * 4)
    app = (
        Application.builder()
        .token(token)
        .base_url(f"{root}/bot")
        .base_file_url(f"{root}/file/bot")
        .request(calls)
        .get_updates_request(updates)
        .updater(None)
        .job_queue(None)
        .concurrent_updates(False)
        .build()
    )
    return app, updates
