"""Labelled examples for training, and reading them from CSV or JSON Lines files.

A label is `queue` or `queue/category`, the same form the router turns back
into a decision. Extra columns are ignored so a helpdesk export can be used
as it is; a row without text or label fails with its file and line.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from router.errors import ExampleFileError
from router.features import feature_text


@dataclass(frozen=True, slots=True)
class LabelledExample:
    text: str
    label: str
    subject: str = ""
    channel: str | None = None
    portal_category: str | None = None

    def features(self) -> str:
        return feature_text(self.subject, self.text, self.channel, self.portal_category)


def load_examples(path: str | Path) -> list[LabelledExample]:
    """Read `.csv` (header with text,label and optional subject,channel,portal_category) or `.jsonl`."""
    source = Path(path)
    suffix = source.suffix.casefold()
    if suffix == ".csv":
        rows = _csv_rows(source)
    elif suffix in (".jsonl", ".ndjson"):
        rows = _jsonl_rows(source)
    else:
        raise ExampleFileError(f"{source}: expected a .csv or .jsonl file")
    try:
        examples = [_example(row, f"{source}:{line}") for line, row in rows]
    except OSError as exc:
        raise ExampleFileError(f"{source}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ExampleFileError(f"{source}: not UTF-8 text ({exc.reason})") from exc
    if not examples:
        raise ExampleFileError(f"{source}: no examples")
    return examples


def _csv_rows(source: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    with source.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"text", "label"} - set(reader.fieldnames or ())
        if missing:
            raise ExampleFileError(f"{source}: the header lacks the column(s) {', '.join(sorted(missing))}")
        for row in reader:
            yield reader.line_num, row


def _jsonl_rows(source: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    with source.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ExampleFileError(f"{source}:{number}: invalid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise ExampleFileError(f"{source}:{number}: expected a JSON object")
            yield number, row


def _example(row: Mapping[str, Any], where: str) -> LabelledExample:
    values = {}
    for column in ("text", "label", "subject", "channel", "portal_category"):
        value = row.get(column)
        if value is not None and not isinstance(value, str):
            raise ExampleFileError(f"{where}: {column} must be a string")
        values[column] = (value or "").strip()
    if not values["text"] and not values["subject"]:
        raise ExampleFileError(f"{where}: no text")
    if not values["label"]:
        raise ExampleFileError(f"{where}: no label")
    return LabelledExample(
        text=values["text"],
        label=values["label"],
        subject=values["subject"],
        channel=values["channel"] or None,
        portal_category=values["portal_category"] or None,
    )
