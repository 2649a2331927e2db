"""Type checks for configuration values that name the dotted key at fault.

A wrong value fails at load with its key and the type it had, in TOML's words
(string, integer, array, table), never later while a message is being routed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from router.errors import RouterConfigError


def type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "table"
    return type(value).__name__


def expect_table(value: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RouterConfigError(key, f"expected a table, got {type_name(value)}")
    return value


def reject_unknown(table: Mapping[str, Any], known: Iterable[str], key: str) -> None:
    """Unknown keys are errors: a misspelt key must not be silently ignored."""
    allowed = tuple(known)
    for name in table:
        if name not in allowed:
            raise RouterConfigError(child_key(key, name), f"unknown key; expected one of {', '.join(allowed)}")


def expect_text(value: Any, key: str) -> str:
    """A non-empty string."""
    if not isinstance(value, str):
        raise RouterConfigError(key, f"expected a string, got {type_name(value)}")
    if not value.strip():
        raise RouterConfigError(key, "must not be empty")
    return value


def expect_texts(value: Any, key: str) -> tuple[tuple[str, str], ...]:
    """A string or a non-empty array of strings, as (value, key of that value) pairs."""
    if isinstance(value, str):
        return ((expect_text(value, key), key),)
    if not isinstance(value, list | tuple):
        raise RouterConfigError(key, f"expected a string or an array of strings, got {type_name(value)}")
    if not value:
        raise RouterConfigError(key, "must not be an empty array")
    return tuple((expect_text(item, f"{key}[{i}]"), f"{key}[{i}]") for i, item in enumerate(value))


def expect_number(value: Any, key: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RouterConfigError(key, f"expected a number, got {type_name(value)}")
    if not low <= value <= high:
        raise RouterConfigError(key, f"must be between {low} and {high}, got {value}")
    return float(value)


def child_key(key: str, name: str) -> str:
    """The dotted key of `name` inside table `key`, quoted as TOML would when needed."""
    return f"{key}.{name}" if name.isidentifier() else f'{key}."{name}"'
