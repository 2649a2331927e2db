"""Builds a rule's conditions from its `when` table, validating every value at load.

Each key takes a string or an array (any of it matches). Values are put in the
same normalized form as `MessageFacts`, so matching is case-insensitive and
Unicode-aware without further work per message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import tzinfo
from typing import Any

from normalize.schema import Channel, Transport
from router.conditions import Condition, Hours, Keywords, MediaType, OneOf, Pattern, PhonePrefix
from router.errors import RouterConfigError
from router.facts import (
    CHANNEL,
    PORTAL_CATEGORY,
    RECIPIENTS,
    SENDER_DOMAINS,
    SENDER_IDS,
    TRANSPORT,
    MessageFacts,
    form_field,
    normalize_phone,
    normalize_sender,
    scalar_text,
)
from router.hours import HoursSpecError, WeeklyHours, parse_hours
from router.text import compile_pattern, fold, normalize_address, normalize_domain
from router.validation import child_key, expect_table, expect_texts, type_name

WHEN_KEYS = (
    "channel",
    "transport",
    "recipient",
    "sender",
    "sender_domain",
    "phone_prefix",
    "portal_category",
    "field",
    "attachment_type",
    "hours",
    "subject",
    "text",
    "keywords",
)
_MEDIA_TYPE = re.compile(r"[\w.+-]+/[\w.+-]+|[\w.+-]+/\*|\*/\*")
_PHONE_PREFIX = re.compile(r"\+\d{1,15}")


def parse_when(data: Any, key: str, zone: tzinfo) -> tuple[Condition, ...]:
    """The conditions of one rule, in the order written; `zone` reads `hours`."""
    table = expect_table(data, key)
    conditions: list[Condition] = []
    for name, value in table.items():
        path = child_key(key, name)
        if name == "field":
            conditions += _fields(expect_table(value, path), path)
        elif name.startswith("field.") and len(name) > len("field."):
            conditions.append(_field(name.removeprefix("field."), value, path))
        elif name in WHEN_KEYS:
            conditions.append(_condition(name, value, path, zone))
        else:
            raise RouterConfigError(path, f"unknown key; expected one of {', '.join(WHEN_KEYS)}, field.<name>")
    return tuple(conditions)


def _condition(name: str, value: Any, key: str, zone: tzinfo) -> Condition:
    items = expect_texts(value, key)
    match name:
        case "channel":
            return OneOf(name, _members(items, [c.value for c in Channel]), CHANNEL)
        case "transport":
            return OneOf(name, _members(items, [t.value for t in Transport]), TRANSPORT)
        case "recipient":
            return OneOf(name, tuple(_address(v, k) for v, k in items), RECIPIENTS)
        case "sender":
            return OneOf(name, tuple(_sender(v, k) for v, k in items), SENDER_IDS)
        case "sender_domain":
            return OneOf(name, tuple(_domain(v, k) for v, k in items), SENDER_DOMAINS)
        case "portal_category":
            return OneOf(name, tuple(fold(v) for v, _ in items), PORTAL_CATEGORY)
        case "phone_prefix":
            return PhonePrefix(name, tuple(_phone_prefix(v, k) for v, k in items))
        case "attachment_type":
            return MediaType(name, tuple(_media_type(v, k) for v, k in items))
        case "hours":
            return Hours(name, tuple(_hours(v, k, zone) for v, k in items))
        case "subject":
            return Pattern(name, tuple(_regex(v, k) for v, k in items), _shown(items), MessageFacts.subject)
        case "text":
            return Pattern(name, tuple(_regex(v, k) for v, k in items), _shown(items), MessageFacts.searchable)
        case _:
            return Keywords(name, _shown(items))


def _fields(table: Mapping[str, Any], key: str) -> list[Condition]:
    if not table:
        raise RouterConfigError(key, "must name at least one field")
    return [_field(name, value, child_key(key, name)) for name, value in table.items()]


def _field(name: str, value: Any, key: str) -> Condition:
    """`field.<name>`: the portal form field equals any value (strings, numbers or booleans)."""
    scalars = value if isinstance(value, list | tuple) else [value]
    if not scalars:
        raise RouterConfigError(key, "must not be an empty array")
    accepted = []
    for i, item in enumerate(scalars):
        item_key = f"{key}[{i}]" if isinstance(value, list | tuple) else key
        if not isinstance(item, str | int | float | bool):
            raise RouterConfigError(item_key, f"expected a string, number or boolean, got {type_name(item)}")
        accepted.append(scalar_text(item))
    return OneOf(f"field.{name}", tuple(accepted), form_field(fold(name)))


def _members(items: tuple[tuple[str, str], ...], allowed: list[str]) -> tuple[str, ...]:
    values = []
    for value, key in items:
        folded = fold(value)
        if folded not in allowed:
            raise RouterConfigError(key, f"unknown value {value!r}; expected one of {', '.join(allowed)}")
        values.append(folded)
    return tuple(values)


def _address(value: str, key: str) -> str:
    if "@" not in value or value.strip().endswith("@"):
        raise RouterConfigError(key, f"expected an address or '@domain', got {value!r}")
    return normalize_address(value)


def _sender(value: str, key: str) -> str:
    """An address, E.164 number, Telegram id or @username, bare or as `email:`/`phone:`/`telegram:`/`portal:` key."""
    bare = value.strip()
    if bare.startswith("@") and "." in bare:
        raise RouterConfigError(key, f"{value!r} looks like a domain; use sender_domain for domains")
    return normalize_sender(bare)


def _domain(value: str, key: str) -> str:
    """A domain, with or without a leading '@'; its subdomains match too."""
    bare = value.strip().removeprefix("@")
    if not bare or "@" in bare or any(ch.isspace() for ch in bare):
        raise RouterConfigError(key, f"expected a domain such as 'example.org', got {value!r}")
    return normalize_domain(bare)


def _phone_prefix(value: str, key: str) -> str:
    prefix = normalize_phone(value)
    if not _PHONE_PREFIX.fullmatch(prefix):
        raise RouterConfigError(key, f"expected E.164 digits after '+', such as '+36', got {value!r}")
    return prefix


def _media_type(value: str, key: str) -> str:
    folded = fold(value)
    if not _MEDIA_TYPE.fullmatch(folded):
        raise RouterConfigError(key, f"expected a media type such as 'application/pdf' or 'image/*', got {value!r}")
    return folded


def _hours(value: str, key: str, zone: tzinfo) -> WeeklyHours:
    try:
        return parse_hours(value, zone)
    except HoursSpecError as exc:
        raise RouterConfigError(key, str(exc)) from None


def _regex(value: str, key: str) -> re.Pattern[str]:
    try:
        return compile_pattern(value)
    except re.error as exc:
        raise RouterConfigError(key, f"invalid regular expression {value!r}: {exc}") from None


def _shown(items: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    return tuple(value for value, _ in items)
