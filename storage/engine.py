"""Engine creation: the one place that knows SQLite and PostgreSQL differ."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def resolve_url(url: str, base_dir: Path) -> str:
    """Make a relative SQLite path relative to the configuration file and create its folder."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return url
    path = Path(parsed.database)
    if not path.is_absolute():
        path = (base_dir / path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return parsed.set(database=str(path)).render_as_string(hide_password=False)


def json_text(value: Any) -> str:
    """A JSON column's text, the same for every statement (the multi-row inserts of `storage.bulk` too)."""
    return orjson.dumps(value).decode()


def create_engine(
    url: str, *, sqlite_synchronous: str = "full", pool_size: int = 10, sqlite_busy_timeout_ms: int = 10000
) -> AsyncEngine:
    """An async engine; SQLite in WAL mode with the configured sync level.

    WAL lets readers (the API) run beside the single writer, and
    `synchronous=FULL` makes every commit survive power loss, which is what
    acknowledging a record promises. `busy_timeout` makes a second writer
    wait instead of failing with "database is locked".
    """
    backend = make_url(url).get_backend_name()
    kwargs: dict[str, Any] = {}
    if backend == "postgresql":
        kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, pool_timeout=10)
    else:
        # No rollback when a connection goes back to the pool: every transaction ends in its own commit
        # or rollback, and that extra round trip to SQLite's thread came before each batch's answer.
        kwargs.update(connect_args={"timeout": 10}, pool_reset_on_return=None)
    # orjson reads stored JSON (tickets, messages, decisions) in a fraction of the standard library's time.
    engine = create_async_engine(url, json_serializer=json_text, json_deserializer=orjson.loads, **kwargs)
    if backend == "sqlite":
        bind_as_they_are()
        sync_level = sqlite_synchronous.upper()

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={sync_level}")
            cursor.execute(f"PRAGMA busy_timeout={int(sqlite_busy_timeout_ms)}")
            cursor.close()

    return engine


def unchanged(value: Any) -> Any:
    """The identity: a value that needs no conversion (here and in `storage.bulk`)."""
    return value


def bind_as_they_are() -> None:
    """Register sqlite3 adapters that hand None and bytes to SQLite unchanged, as it binds them anyway.

    Python's sqlite3 passes only exact ints, floats and strs straight through: for every other parameter
    (NULLs, the raw records' bytes, JSON documents) it asks the value and the protocol to adapt
    themselves, and each refusal raises and formats an AttributeError, about 3,000 instructions per
    parameter, several per record. A registered adapter is one dictionary hit and a call. Process-wide,
    as sqlite3's adapters are, and idempotent.
    """
    sqlite3.register_adapter(bytes, bytes)  # bytes(b) of an exact bytes object is b itself
    sqlite3.register_adapter(type(None), unchanged)
