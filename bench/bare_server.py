"""The floor: an aiohttp handler that parses the same JSON and stores nothing."""

from __future__ import annotations

import json
import sys

from aiohttp import web


async def handle(request: web.Request) -> web.Response:
    data = json.loads(await request.read())
    return web.json_response({"ticket_id": None, "message_id": None, "keys": len(data)}, status=202)


def main() -> None:
    app = web.Application()
    app.router.add_post("/v1/portal/submissions", handle)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
