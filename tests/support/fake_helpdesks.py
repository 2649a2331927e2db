"""Local servers that answer as the gateway's destinations do, with faults on command.

* `WebhookReceiver`: verifies Standard Webhooks signatures (with the phone
  channel's verifier, an independent implementation) and keeps one ticket
  per `webhook-id`, as a receiver that drops repeats does.
* `FakeZammad`: `POST /api/v1/tickets`, `POST /api/v1/ticket_articles`,
  `GET /api/v1/tickets/search`, `GET /api/v1/ticket_articles/by_ticket/{id}`
  with `Authorization: Token token=...`, answering in Zammad's documented shapes.
* `FakeOsTicket`: `POST /api/tickets.json` and `POST /api/tickets.email` with
  `X-API-Key`, answering 201 with the ticket number as osTicket does; the
  email endpoint threads by Message-ID, In-Reply-To and `[#number]`.
* `SmtpSink`: a real aiosmtpd server on this event loop.

Faults are queued per server and used up one request at a time: a status
(with headers and body), a delay before answering, or a hold on an event
(the request is counted as accepted downstream before the hold, which is
exactly a crash between a helpdesk's commit and the gateway's record).
"""

from __future__ import annotations

import asyncio
import email
import json
import re
import time
from dataclasses import dataclass, field
from email import policy
from typing import Any

from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

from channels.phone.signature import SignatureError, decode_secret, verify


@dataclass
class Fault:
    status: int | None = None  # answer this status instead of the normal answer
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    delay_s: float = 0.0  # wait this long first (beyond the client's timeout: a timeout)
    hold: asyncio.Event | None = None  # handle the request, then wait for this before answering
    lose_answer: bool = False  # handle the request, then never answer (the client times out)
    echo_auth: bool = False  # put the request's credentials in the error body (secrets must not leak)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


class FakeServer:
    """An aiohttp server on 127.0.0.1 with a fault queue and a request log."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.requests: list[Seen] = []
        self.arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.in_flight = 0
        self.most_in_flight = 0  # the most requests it was answering at once

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    async def start(self) -> FakeServer:
        app = web.Application(middlewares=[self._faulty])
        app.add_routes(self.routes())
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def fail(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    @web.middleware
    async def _faulty(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(Seen(request.method, request.path_qs, dict(request.headers), body, time.monotonic()))
        self.arrived.set()
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await self._answer(request, handler)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request, handler: Any) -> web.StreamResponse:
        fault = self.faults.pop(0) if self.faults else None
        if fault and fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if fault and fault.status is not None:
            text = fault.body
            if fault.echo_auth:
                text += " " + " ".join(f"{k}={v}" for k, v in request.headers.items())
            return web.Response(status=fault.status, text=text, headers=fault.headers)
        response = await handler(request)
        if fault and fault.hold is not None:
            await fault.hold.wait()
        if fault and fault.lose_answer:
            await asyncio.Event().wait()  # until the server stops
        return response  # type: ignore[no-any-return]


class WebhookReceiver(FakeServer):
    def __init__(self, secret: str, path: str = "/hook") -> None:
        super().__init__()
        self.path = path
        self._keys = [decode_secret(secret)]
        self.tickets: dict[str, dict[str, Any]] = {}  # webhook-id -> first payload
        self.arrivals: dict[str, float] = {}  # webhook-id -> time.time() of first arrival
        self.bad_signatures = 0

    @property
    def hook_url(self) -> str:
        return self.url + self.path

    def routes(self) -> list[web.RouteDef]:
        return [web.post(self.path, self.hook)]

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify(self._keys, request.headers.get("webhook-id"), request.headers.get("webhook-timestamp"),
                   request.headers.get("webhook-signature"), body)
        except SignatureError as exc:
            self.bad_signatures += 1
            return web.json_response({"error": str(exc)}, status=401)
        key = request.headers["webhook-id"]
        if key not in self.tickets:
            self.tickets[key] = json.loads(body)
            self.arrivals[key] = time.time()
        return web.json_response({"id": f"hook-{list(self.tickets).index(key) + 1}"})

    def events(self) -> list[str]:
        return [s.json()["event"] for s in self.requests if s.path == self.path]


class FakeZammad(FakeServer):
    def __init__(self, token: str, *, custom_fields: tuple[str, ...] = ()) -> None:
        super().__init__()
        self._auth = f"Token token={token}"
        self._custom = custom_fields
        self.tickets: dict[int, dict[str, Any]] = {}
        self.articles: dict[int, dict[str, Any]] = {}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/v1/tickets", self.create_ticket),
            web.post("/api/v1/ticket_articles", self.create_article),
            web.get("/api/v1/tickets/search", self.search),
            web.get("/api/v1/ticket_articles/by_ticket/{ticket_id}", self.by_ticket),
        ]

    def _denied(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != self._auth:
            return web.json_response({"error": "authentication failed"}, status=401)
        return None

    def _article(self, ticket_id: int, data: dict[str, Any]) -> dict[str, Any]:
        article_id = len(self.articles) + 1
        article = {"id": article_id, "ticket_id": ticket_id, **{k: v for k, v in data.items() if k != "ticket_id"}}
        self.articles[article_id] = article
        return article

    async def create_ticket(self, request: web.Request) -> web.Response:
        if denied := self._denied(request):
            return denied
        data = await request.json()
        for required in ("title", "group", "article"):
            if not data.get(required):
                return web.json_response({"error": f"Attribute '{required}' required!"}, status=422)
        if not (data.get("customer_id") or data.get("customer")):
            return web.json_response({"error": "Attribute 'customer_id' required!"}, status=422)
        unknown = [k for k in data if k not in ("title", "group", "customer_id", "customer", "article", "tags",
                                                "priority", "state", *self._custom)]
        if unknown:
            return web.json_response({"error": f"unknown attribute {unknown[0]}"}, status=422)
        ticket_id = len(self.tickets) + 1
        fields = {k: v for k, v in data.items() if k != "article"}
        ticket = {"id": ticket_id, "number": str(31000 + ticket_id), **fields}
        self.tickets[ticket_id] = ticket
        article = self._article(ticket_id, data["article"])
        return web.json_response({**ticket, "article_ids": [article["id"]]}, status=201)

    async def create_article(self, request: web.Request) -> web.Response:
        if denied := self._denied(request):
            return denied
        data = await request.json()
        ticket_id = data.get("ticket_id")
        if ticket_id not in self.tickets:
            return web.json_response({"error": "Couldn't find Ticket"}, status=404)
        if not data.get("body"):
            return web.json_response({"error": "Need at least article: body"}, status=422)
        return web.json_response(self._article(ticket_id, data), status=201)

    async def search(self, request: web.Request) -> web.Response:
        if denied := self._denied(request):
            return denied
        match = re.fullmatch(r'(\w+):"?([^"]*)"?', request.query.get("query", ""))
        ids = [] if not match else [
            t["id"] for t in self.tickets.values() if str(t.get(match.group(1))) == match.group(2)
        ]
        return web.json_response({"tickets": ids, "tickets_count": len(ids), "assets": {}})

    async def by_ticket(self, request: web.Request) -> web.Response:
        if denied := self._denied(request):
            return denied
        ticket_id = int(request.match_info["ticket_id"])
        return web.json_response([a for a in self.articles.values() if a["ticket_id"] == ticket_id])

    def articles_of(self, ticket_id: int) -> list[dict[str, Any]]:
        return [a for a in self.articles.values() if a["ticket_id"] == ticket_id]


class FakeOsTicket(FakeServer):
    JSON_KEYS = frozenset({"alert", "autorespond", "source", "topicId", "attachments", "message", "ip",
                           "priorityId", "name", "email", "phone", "subject", "notes"})

    def __init__(self, key: str) -> None:
        super().__init__()
        self._key = key
        self.tickets: dict[str, dict[str, Any]] = {}  # number -> ticket
        self.entries: list[dict[str, Any]] = []  # thread entries: number, message_id, body, via
        self._message_ids: dict[str, str] = {}  # Message-ID -> ticket number

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/api/tickets.json", self.create_json), web.post("/api/tickets.email", self.create_email)]

    def _denied(self, request: web.Request) -> web.Response | None:
        if request.headers.get("X-API-Key") != self._key:
            return web.Response(status=401, text="API key not authorized")
        return None

    def _new_ticket(self, data: dict[str, Any]) -> str:
        number = str(100000 + len(self.tickets) + 1)
        self.tickets[number] = {"number": number, **data}
        return number

    async def create_json(self, request: web.Request) -> web.Response:
        if denied := self._denied(request):
            return denied
        data = await request.json()
        if set(data) - self.JSON_KEYS:
            return web.Response(status=400, text="Unexpected or invalid data received")
        missing = [k for k in ("name", "email", "subject", "message") if not data.get(k)]
        if missing:
            return web.Response(status=400, text=f"Unable to create new ticket: validation errors:\n{missing[0]}")
        number = self._new_ticket(data)
        self.entries.append({"number": number, "message_id": None, "body": data["message"], "via": "json"})
        return web.Response(status=201, text=number)

    async def create_email(self, request: web.Request) -> web.Response:
        if denied := self._denied(request):
            return denied
        mail = email.message_from_bytes(await request.read(), policy=policy.default)
        mid = str(mail["Message-ID"] or "").strip()
        if mid in self._message_ids:  # seen before: osTicket answers with the ticket it made
            return web.Response(status=201, text=self._message_ids[mid])
        sender = mail["From"].addresses[0].addr_spec if mail["From"] else ""
        body = mail.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        number = None
        ref = re.search(r"\[#(\d+)\]", str(mail["Subject"] or ""))
        if ref and ref.group(1) in self.tickets and self.tickets[ref.group(1)].get("email") == sender:
            number = ref.group(1)
        if number is None:
            number = self._new_ticket({"email": sender, "subject": str(mail["Subject"]), "message": text})
        self._message_ids[mid] = number
        self.entries.append({"number": number, "message_id": mid, "body": text, "via": "email",
                             "headers": dict(mail.items())})
        return web.Response(status=201, text=number)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.data, policy=policy.default)  # type: ignore[return-value]


class SmtpSink:
    """A real aiosmtpd server served by this event loop; `refuse` queues SMTP replies to DATA."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.refuse: list[str] = []  # e.g. "451 4.3.0 try later", used up one DATA at a time
        self.arrived = asyncio.Event()
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        if self.refuse:
            return self.refuse.pop(0)
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos),
                                      bytes(envelope.original_content or b"")))
        self.arrived.set()
        return "250 2.0.0 OK"

    async def start(self) -> SmtpSink:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: SMTP(self, hostname="sink.test"), "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
