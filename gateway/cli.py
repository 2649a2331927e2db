"""The `gateway` command: run, check-config, db upgrade, replay."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from gateway import delivery_commands, router_commands
from gateway.commands import CommandRunner
from gateway.config import Config, ConfigError, Secrets, load_config
from gateway.logs import setup_logging

log = logging.getLogger("gateway")

EXIT_CONFIG = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gateway", description="Omnichannel ticket intake gateway")
    parser.add_argument("--config", default="gateway.toml", help="configuration file (default: ./gateway.toml)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start every enabled channel")
    sub.add_parser("check-config", help="validate the configuration and exit")
    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade"])
    replay = sub.add_parser("replay", help="re-process failed inbound records")
    replay.add_argument("--id", type=int, action="append", dest="ids", help="only this record (repeatable)")
    extra: dict[str, CommandRunner] = {}
    for module in (router_commands, delivery_commands):
        extra.update(module.register(sub))
    for p in sub.choices.values():
        p.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"gateway: invalid configuration: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    secrets = Secrets.from_env()
    setup_logging(config.logging.level, secrets.values())

    if args.command == "check-config":
        print(f"{args.config}: ok")
        return 0
    commands: dict[str, Callable[[], Coroutine[Any, Any, int]]] = {
        "run": lambda: _run(config, secrets),
        "db": lambda: _db_upgrade(config),
        "replay": lambda: _replay(config, secrets, args.ids),
    }
    if args.command in extra:
        return asyncio.run(extra[args.command](args, config, secrets))
    return asyncio.run(commands[args.command]())


async def _run(config: Config, secrets: Secrets) -> int:
    from gateway.app import Gateway

    try:
        gateway = Gateway(config, secrets)
    except ConfigError as exc:
        log.error("invalid configuration: %s", exc)
        return EXIT_CONFIG
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await gateway.start()
    except Exception as exc:
        log.error("start-up failed: %s", exc)
        await gateway.stop()
        return 1
    tune_garbage_collector()
    print(json.dumps({"event": "started", "http_port": gateway.http_port}), flush=True)
    await stop.wait()
    log.info("stopping: intake closed, finishing in-flight work")
    await gateway.stop()
    log.info("stopped")
    return 0


def tune_garbage_collector() -> None:
    """Keep start-up objects out of collections and collect young objects less often.

    A request allocates thousands of short-lived objects; with the default
    thresholds the collector runs every few requests, and a full collection
    over everything loaded at start (SQLAlchemy, scikit-learn, ...) pauses the
    loop for tens of milliseconds, which is what the latency tail is made of.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


async def _db_upgrade(config: Config) -> int:
    from gateway.app import build_store
    from storage import migrate

    store = build_store(config)
    try:
        await migrate.upgrade(store.engine)
    finally:
        await store.close()
    print("database schema is current")
    return 0


async def _replay(config: Config, secrets: Secrets, ids: list[int] | None) -> int:
    from gateway.app import build_processor, build_store, prepare_storage
    from gateway.intake import IntakeService
    from gateway.metrics import Metrics
    from gateway.routing import build_router

    store = build_store(config)
    try:
        await prepare_storage(config, store)
        service = IntakeService(store, build_processor(config, build_router(config)), Metrics())
        ok, failed = await service.replay_failed(ids)
    finally:
        await store.close()
    print(json.dumps({"processed": ok, "still_failed": failed}))
    return 0 if failed == 0 else 1
