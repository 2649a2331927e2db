"""A local Telegram Bot API on 127.0.0.1 (aiohttp) that answers as Telegram documents.

It serves `POST /bot<token>/<method>` for getMe, getUpdates, sendMessage,
setWebhook, deleteWebhook, getWebhookInfo and getFile, and file downloads at
`GET /file/bot<token>/<file_path>`, with Telegram's JSON shapes
(`{"ok": true, "result": ...}` or `{"ok": false, "error_code", "description",
"parameters"}`). getUpdates keeps unconfirmed updates until a call passes a
higher offset, as Telegram does, and long-polls for `timeout` seconds.

Tests drive it: `push` updates, `add_file` content, `fail` the next calls of
a method (status, retry_after, or a delay past the client's timeout), and
`hold` a method's next call (it blocks, unanswered, until released) to kill the gateway at an
exact point.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "7123456789:AAHfakeTokenForTests_0123456789abcdEF"
BOT_ID = 7123456789
BOT_USER = {"id": BOT_ID, "is_bot": True, "first_name": "Service Desk", "username": "desk_test_bot"}
BOT_LIMIT = 20 * 1024 * 1024  # the cloud Bot API's download limit

INT_FIELDS = {"offset", "limit", "timeout", "chat_id", "message_id", "max_connections"}
JSON_FIELDS = {"allowed_updates", "reply_parameters", "reply_markup", "drop_pending_updates", "entities"}


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]
    at: float  # monotonic


@dataclass(frozen=True)
class Fault:
    status: int = 500
    description: str = "Internal Server Error"
    retry_after: int | None = None
    delay: float = 0.0  # hold the answer this long first (past the client's timeout: a timeout)


@dataclass
class Hold:
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class StoredFile:
    data: bytes
    file_unique_id: str
    path: str
    size: int


def user(user_id: int = 4242, first_name: str = "Jürgen", *, username: str | None = "jurgen",
         language_code: str | None = "de", last_name: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if last_name:
        found["last_name"] = last_name
    if username:
        found["username"] = username
    if language_code:
        found["language_code"] = language_code
    return found


class FakeBotApi:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.sent: list[dict[str, Any]] = []
        self.pending: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] = {"url": ""}
        self.webhook_pending: deque[int] = deque()  # pending_update_count answers, in turn (last one sticks)
        self.webhook_error: tuple[int, str] | None = None
        self.files: dict[str, StoredFile] = {}
        self._faults: dict[str, deque[Fault]] = {}
        self._holds: dict[str, Hold] = {}
        self._held: list[Hold] = []
        self._arrived = asyncio.Event()
        self._update_ids = itertools.count(500_000)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._sent_ids = itertools.count(900_000)
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.url

    async def close(self) -> None:
        for hold in [*self._holds.values(), *self._held]:
            hold.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- what tests use ----------------------------------------------------------
    def message(self, text: str | None = None, *, chat_id: int = 4242, sender: dict[str, Any] | None = None,
                chat_type: str = "private", **content: Any) -> dict[str, Any]:
        """A `message` update (not yet pushed) with fresh update and message ids."""
        sender = sender or user(chat_id if chat_type == "private" else 4242)
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat.update({k: sender[k] for k in ("first_name", "username") if k in sender})
        else:
            chat["title"] = "Office"
        message: dict[str, Any] = {
            "message_id": next(self._message_ids.setdefault(chat_id, itertools.count(1))),
            "from": sender, "chat": chat, "date": int(time.time()), **content,
        }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                word = text.split()[0]
                message["entities"] = [{"offset": 0, "length": len(word.encode("utf-16-le")) // 2,
                                        "type": "bot_command"}]
        return {"update_id": next(self._update_ids), "message": message}

    def edit(self, update: dict[str, Any], text: str, edit_date: int | None = None) -> dict[str, Any]:
        original = update["message"]
        edited = {**original, "text": text, "edit_date": edit_date or original["date"] + 60}
        return {"update_id": next(self._update_ids), "edited_message": edited}

    def other(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"update_id": next(self._update_ids), kind: payload}

    def push(self, *updates: dict[str, Any]) -> None:
        self.pending.extend(updates)
        self._arrived.set()

    def add_file(self, data: bytes, *, path: str, size: int | None = None) -> str:
        """Register a file; returns its file_id. `size` may claim more than `data` holds."""
        file_id = f"BQACAgIAAx-{len(self.files) + 1}-{path.replace('/', '_')}"
        self.files[file_id] = StoredFile(data, f"AgADuniq{len(self.files) + 1}", path,
                                         len(data) if size is None else size)
        return file_id

    def file_field(self, file_id: str, **extra: Any) -> dict[str, Any]:
        stored = self.files[file_id]
        return {"file_id": file_id, "file_unique_id": stored.file_unique_id, "file_size": stored.size, **extra}

    def fail(self, method: str, *faults: Fault) -> None:
        self._faults.setdefault(method, deque()).extend(faults)

    def hold(self, method: str) -> Hold:
        """The next call of `method` blocks (unanswered) until released or the fake closes."""
        hold = Hold()
        self._holds[method] = hold
        return hold

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def texts_to(self, chat_id: int) -> list[str]:
        return [str(m["text"]) for m in self.sent if int(m["chat_id"]) == chat_id]

    # -- the Bot API ---------------------------------------------------------------
    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            body = await request.read()
            return json.loads(body) if body else {}
        form = await request.post()
        params: dict[str, Any] = {}
        for key, value in form.items():
            if not isinstance(value, str):
                params[key] = value
            elif key in INT_FIELDS:
                params[key] = int(value)
            elif key in JSON_FIELDS:
                params[key] = json.loads(value)
            else:
                params[key] = value
        return params

    async def _method(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await self._params(request)
        self.calls.append(Call(method, params, time.monotonic()))
        hold = self._holds.pop(method, None)  # one call only: the next ones pass
        if hold is not None:
            self._held.append(hold)
            hold.reached.set()
            await hold.release.wait()
        faults = self._faults.get(method)
        if faults:
            fault = faults.popleft()
            if fault.delay:
                await asyncio.sleep(fault.delay)
            return _error(fault.status, fault.description, fault.retry_after)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return _error(404, "Not Found")
        return await handler(params)  # type: ignore[no-any-return]

    async def _m_getMe(self, _params: dict[str, Any]) -> web.Response:
        return _ok({**BOT_USER, "can_join_groups": True, "can_read_all_group_messages": False,
                    "supports_inline_queries": False})

    async def _m_getUpdates(self, params: dict[str, Any]) -> web.Response:
        offset = int(params.get("offset") or 0)
        if offset:
            self.pending = [u for u in self.pending if u["update_id"] >= offset]
        if not self.pending:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout=float(params.get("timeout") or 0))
            except TimeoutError:
                pass
        limit = int(params.get("limit") or 100)
        return _ok(self.pending[:limit])

    async def _m_sendMessage(self, params: dict[str, Any]) -> web.Response:
        chat_id = int(params["chat_id"])
        message_id = next(self._sent_ids)
        self.sent.append({**params, "message_id": message_id})
        return _ok({"message_id": message_id, "from": BOT_USER, "chat": {"id": chat_id, "type": "private"},
                    "date": int(time.time()), "text": params["text"]})

    async def _m_setWebhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook = {"url": params.get("url", ""), "secret_token": params.get("secret_token"),
                        "allowed_updates": params.get("allowed_updates")}
        return _ok(True, "Webhook was set")

    async def _m_deleteWebhook(self, _params: dict[str, Any]) -> web.Response:
        self.webhook = {"url": ""}
        return _ok(True, "Webhook was deleted")

    async def _m_getWebhookInfo(self, _params: dict[str, Any]) -> web.Response:
        pending = self.webhook_pending[0] if self.webhook_pending else 0
        if len(self.webhook_pending) > 1:
            self.webhook_pending.popleft()
        info: dict[str, Any] = {"url": self.webhook.get("url", ""), "has_custom_certificate": False,
                                "pending_update_count": pending}
        if info["url"]:
            info["max_connections"] = 40
            info["ip_address"] = "203.0.113.10"
            if self.webhook.get("allowed_updates"):
                info["allowed_updates"] = self.webhook["allowed_updates"]
        if self.webhook_error:
            info["last_error_date"], info["last_error_message"] = self.webhook_error
        return _ok(info)

    async def _m_getFile(self, params: dict[str, Any]) -> web.Response:
        stored = self.files.get(str(params.get("file_id")))
        if stored is None:
            return _error(400, "Bad Request: invalid file_id")
        if stored.size > BOT_LIMIT:
            return _error(400, "Bad Request: file is too big")
        return _ok({"file_id": params["file_id"], "file_unique_id": stored.file_unique_id,
                    "file_size": stored.size, "file_path": stored.path})

    async def _file(self, request: web.Request) -> web.StreamResponse:
        self.calls.append(Call("FILE", {"path": request.match_info["path"]}, time.monotonic()))
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        found = next((f for f in self.files.values() if f.path == request.match_info["path"]), None)
        if found is None:
            return _error(404, "Not Found")
        return web.Response(body=found.data, content_type="application/octet-stream")


def _ok(result: Any, description: str | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": True, "result": result}
    if description:
        body["description"] = description
    return web.json_response(body)


def _error(code: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=code)
