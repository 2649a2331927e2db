"""The JSON error middleware every endpoint is served behind, on a real aiohttp server."""

from __future__ import annotations

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import InvalidHeader, TransferEncodingError

from channels.httpkit import http_errors
from tests.support.postgres import free_port


async def test_a_body_aiohttp_refuses_while_a_handler_reads_it_is_400_not_500() -> None:
    async def refused(request: web.Request) -> web.Response:
        raise {"header": InvalidHeader(b"bad\x05name"), "chunk": TransferEncodingError("bad chunk")}[
            request.match_info["what"]]

    app = web.Application(middlewares=[http_errors])
    app.router.add_post("/{what}", refused)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as session:
            for what in ("header", "chunk"):
                async with session.post(f"http://127.0.0.1:{port}/{what}", data=b"x") as resp:
                    assert resp.status == 400, what
                    error = (await resp.json())["error"]
                    assert error["code"] == "malformed_request"
                    assert error["message"].startswith("the request cannot be read: ")
                    assert "\n" not in error["message"]
    finally:
        await runner.cleanup()
