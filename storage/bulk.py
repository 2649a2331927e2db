"""Multi-row INSERT ... RETURNING, and reads of many rows, for the hot paths.

SQLAlchemy's executemany path processes every bound value through its type
system and re-renders the statement per batch; on a group commit of a few
hundred records that costs several times the database's own work. Here each
value is converted once by a per-column converter and the rows go out as one
statement per chunk. The stored forms are exactly the ones SQLAlchemy's types
produce (JSON text, SQLite's datetime text), so its own reads see the same
values; `reader` converts them back the way those types do, for the reads
that run per delivery (a test in tests/storage/test_storage.py holds the two equal).
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import JSON, Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.engine import json_text, unchanged
from storage.types import UtcDateTime

MAX_PARAMETERS = 30_000  # under SQLite's 32766 and PostgreSQL's 32767 per statement


def _json(value: Any) -> Any:
    return None if value is None else json_text(value)


def _json_utf8(value: Any) -> bytes | None:
    """SQLite's form: orjson's UTF-8 bytes, bound as a blob that the statement casts to TEXT (`_SQLITE_JSON`).

    A str would be decoded from orjson's bytes and encoded again by the driver: for a document with one
    non-ASCII character (a Hungarian subject, a rule's reason) that is some 15 instructions a byte, both ways.
    """
    return None if value is None else orjson.dumps(value)


_SQLITE_JSON = "CAST(? AS TEXT)"
"""The placeholder of a JSON column in SQLite's multi-row inserts: its bytes stored as the same text (the
database's encoding is UTF-8), so every reader sees what a str would have stored."""


@functools.lru_cache(maxsize=4096)  # a record's moments recur in its other rows (received_at in its message)
def _sqlite_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _postgres_time(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value


def _converter(column_type: Any, dialect: str) -> Callable[[Any], Any]:
    if isinstance(column_type, JSON):
        return _json_utf8 if dialect == "sqlite" else _json
    if isinstance(column_type, UtcDateTime):
        return _sqlite_time if dialect == "sqlite" else _postgres_time
    return unchanged


async def insert_returning(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    returning: Sequence[str],
    *,
    skip_conflicts: bool = False,
) -> list[Sequence[Any]]:
    """Insert rows (all with the same keys); the RETURNING values (tuples) of those inserted.

    With `skip_conflicts`, a row that would violate a unique constraint is
    left out (ON CONFLICT DO NOTHING) and returns nothing. With no `returning`
    columns there is no RETURNING clause: nothing is read back (a row each).
    """
    if not rows:
        return []
    dialect = conn.dialect.name
    names = list(rows[0])
    values_of = itemgetter(*names) if len(names) > 1 else lambda row: (row[names[0]],)
    converters = [_converter(table.c[name].type, dialect) for name in names]
    converted = [(i, convert) for i, convert in enumerate(converters) if convert is not unchanged]
    group = "(" + ", ".join(_SQLITE_JSON if convert is _json_utf8 else "?" for convert in converters) + ")"
    per_chunk = max(1, MAX_PARAMETERS // len(names))
    head = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES "
    tail = (" ON CONFLICT DO NOTHING" if skip_conflicts else "") + (
        f" RETURNING {', '.join(returning)}" if returning else "")
    out: list[Sequence[Any]] = []
    for start in range(0, len(rows), per_chunk):
        chunk = rows[start:start + per_chunk]
        params: list[Any] = []
        for row in chunk:
            values = list(values_of(row))
            for i, convert in converted:
                values[i] = convert(values[i])
            params += values
        out += await fetch(conn, head + ", ".join(group for _ in chunk) + tail, params)
    return out


def _sqlite_moment(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def _aware_moment(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _json_value(value: str | bytes | None) -> Any:
    return None if value is None else orjson.loads(value)


def _read_converter(column_type: Any, dialect: str) -> Callable[[Any], Any]:
    if isinstance(column_type, UtcDateTime):
        return _sqlite_moment if dialect == "sqlite" else _aware_moment
    if isinstance(column_type, JSON) and dialect == "sqlite":
        return _json_value  # asyncpg decodes JSON itself, with the engine's deserializer
    return unchanged


def reader(table: Table, names: Sequence[str], dialect: str) -> Callable[[Sequence[Any]], list[Any]]:
    """Turns a row `fetch` returned for these columns into the values SQLAlchemy's types would read."""
    converted = [(i, convert) for i, name in enumerate(names)
                 if (convert := _read_converter(table.c[name].type, dialect)) is not unchanged]

    def read(row: Sequence[Any]) -> list[Any]:
        values = list(row)
        for i, convert in converted:
            values[i] = convert(values[i])
        return values

    return read


def time_param(conn: AsyncConnection, value: datetime) -> Any:
    """A UTC datetime as `fetch` must pass it: SQLite's stored text form, or as it is for PostgreSQL."""
    return time_value(conn.dialect.name, value)


def time_value(dialect: str, value: datetime) -> Any:
    return _sqlite_time(value) if dialect == "sqlite" else _postgres_time(value)


def placeholders(count: int) -> str:
    """`?, ?, ...` for an IN list of `fetch`."""
    return ", ".join("?" * count)


async def fetch(conn: AsyncConnection, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
    """Run one statement with `?` placeholders on the transaction's own driver connection, in one round trip.

    SQLAlchemy's aiosqlite adapter makes four thread hops per statement
    (cursor, execute, fetch, close): most of a batch's cost on the event loop.
    The driver's own call does it in one; the statement still runs inside the
    transaction of that connection (sqlite3 opens it before the first insert,
    and SQLAlchemy's commit or rollback ends it).
    """
    if conn.dialect.name != "sqlite":  # asyncpg is natively async; its adapter also opens the transaction
        result = await conn.exec_driver_sql(_numbered(sql), tuple(params))
        return list(result.all()) if result.returns_rows else []
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    try:
        return list(await driver.execute_fetchall(sql, params))
    except sqlite3.Error as exc:  # as SQLAlchemy raises its own statements' errors, so callers see one kind
        raise DBAPIError.instance(sql, params, exc, sqlite3.Error, hide_parameters=True) from exc


_MARKERS: list[str] = []
"""asyncpg's placeholders `$1, $2, ...`, as many as the longest statement so far had (at most `MAX_PARAMETERS`)."""


def _numbered(sql: str) -> str:
    """`sql` with its `?` placeholders as asyncpg's `$1, $2, ...`: split and joined by `str` methods, not a Python
    call per placeholder (a claim's or outcome's statement holds one per delivery, a multi-row insert thousands).
    """
    parts = sql.split("?")
    count = len(parts) - 1
    if count > len(_MARKERS):
        _MARKERS.extend(f"${n}" for n in range(len(_MARKERS) + 1, count + 1))
    pieces = [""] * (2 * count + 1)
    pieces[0::2] = parts
    pieces[1::2] = _MARKERS[:count]
    return "".join(pieces)
