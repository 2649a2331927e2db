"""Ticket references as people write them: `T-123`, `[#T-123]`, `#T-123`."""

from __future__ import annotations

import re

TICKET_REF = re.compile(r"(?<![\w-])T-(\d{1,12})(?![\w-])", re.IGNORECASE)


def ticket_refs(text: str) -> list[str]:
    """Every ticket reference in the text, in order, without repeats."""
    seen: list[str] = []
    for match in TICKET_REF.finditer(text):
        ref = f"T-{int(match.group(1))}"
        if ref not in seen:
            seen.append(ref)
    return seen


def format_ticket_id(number: int) -> str:
    return f"T-{number}"


def parse_ticket_id(value: str) -> int | None:
    """`T-12`, `t-12` or `12` to 12; None for anything else."""
    match = re.fullmatch(r"(?:T-)?(\d{1,18})", value.strip(), re.IGNORECASE)
    return int(match.group(1)) if match else None
