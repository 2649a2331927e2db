"""Validation of a portal submission into its canonical, stored form.

Every violation is a 422 that names the field (dotted path), so a portal
developer can fix the form without reading our code. Attachments are decoded
here once: the stored record keeps the base64 together with size and sha256.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Any

from channels.httpkit import HttpError
from gateway.config import PortalConfig
from normalize.filenames import safe_filename

EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"\\]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
CONTENT_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
LINE_BREAKS = re.compile(r"[\r\n\t]+")
TOP_KEYS = {"requester", "subject", "body", "category", "fields", "attachments"}
REQUESTER_KEYS = {"portal_user_id", "email", "name", "language"}
MAX_FIELDS = 100
MAX_FIELD_CHARS = 10_000


def invalid(field: str, message: str) -> HttpError:
    return HttpError(422, "invalid", message, field=field)


def validate_submission(doc: dict[str, Any], config: PortalConfig) -> dict[str, Any]:
    for key in doc:
        if key not in TOP_KEYS:
            raise invalid(key, f"unknown field {key!r}")
    requester = _requester(doc.get("requester"))
    body = doc.get("body")
    if not isinstance(body, str) or not body.strip():
        raise invalid("body", "body is required and must be a non-empty string")
    if len(body) > config.max_text_chars:
        raise invalid("body", f"body is longer than {config.max_text_chars} characters")
    subject = _optional_text(doc, "subject", config.max_subject_chars)
    if subject is not None:
        subject = LINE_BREAKS.sub(" ", subject).strip()
    category = _optional_text(doc, "category", 200)
    return {
        "requester": requester,
        "subject": subject,
        "body": CONTROL.sub("", body),
        "category": category,
        "fields": _fields(doc.get("fields")),
        "attachments": _attachments(doc.get("attachments"), config),
    }


def _requester(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid("requester", "requester is required and must be an object")
    for key in value:
        if key not in REQUESTER_KEYS:
            raise invalid(f"requester.{key}", f"unknown field {key!r}")
    out: dict[str, Any] = {}
    user_id = value.get("portal_user_id")
    if user_id is not None:
        if isinstance(user_id, bool) or not isinstance(user_id, str | int) or not str(user_id).strip():
            raise invalid("requester.portal_user_id", "portal_user_id must be a non-empty string or integer")
        if len(str(user_id)) > 255:
            raise invalid("requester.portal_user_id", "portal_user_id is longer than 255 characters")
        out["portal_user_id"] = str(user_id).strip()
    email = value.get("email")
    if email is not None:
        if not isinstance(email, str) or len(email) > 254 or not EMAIL.match(email.strip()):
            raise invalid("requester.email", "email must be an e-mail address")
        local, _, domain = email.strip().rpartition("@")
        out["email"] = f"{local}@{domain.lower()}"
    for key, limit in (("name", 200), ("language", 35)):
        text = value.get(key)
        if text is not None:
            if not isinstance(text, str) or len(text) > limit:
                raise invalid(f"requester.{key}", f"{key} must be a string of at most {limit} characters")
            cleaned = CONTROL.sub("", LINE_BREAKS.sub(" ", text)).strip()
            if cleaned:
                out[key] = cleaned
    if "portal_user_id" not in out and "email" not in out:
        raise invalid("requester", "requester needs a portal_user_id or an email")
    return out


def _optional_text(doc: dict[str, Any], key: str, limit: int) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(key, f"{key} must be a string")
    if len(value) > limit:
        raise invalid(key, f"{key} is longer than {limit} characters")
    return CONTROL.sub("", value).strip() or None


def _fields(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid("fields", "fields must be an object")
    if len(value) > MAX_FIELDS:
        raise invalid("fields", f"fields has more than {MAX_FIELDS} entries")
    out: dict[str, Any] = {}
    for key, item in value.items():
        if len(key) > 100:
            raise invalid("fields", "a field name is longer than 100 characters")
        if item is not None and not isinstance(item, str | int | float | bool):
            raise invalid(f"fields.{key}", "a field value must be a string, number, boolean or null")
        if isinstance(item, str):
            if len(item) > MAX_FIELD_CHARS:
                raise invalid(f"fields.{key}", f"longer than {MAX_FIELD_CHARS} characters")
            item = CONTROL.sub("", item)
        out[key] = item
    return out


def _attachments(value: Any, config: PortalConfig) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid("attachments", "attachments must be a list")
    if len(value) > config.max_attachments:
        raise invalid("attachments", f"at most {config.max_attachments} attachments are accepted")
    out = []
    for i, item in enumerate(value):
        where = f"attachments[{i}]"
        if not isinstance(item, dict):
            raise invalid(where, "an attachment must be an object")
        for key in item:
            if key not in ("filename", "content_type", "content_base64"):
                raise invalid(f"{where}.{key}", f"unknown field {key!r}")
        name = item.get("filename")
        if not isinstance(name, str) or not name.strip() or len(name) > 1000:
            raise invalid(f"{where}.filename", "filename is required (a string of at most 1000 characters)")
        content_type = item.get("content_type") or "application/octet-stream"
        if not isinstance(content_type, str) or not CONTENT_TYPE.match(content_type.split(";")[0].strip()):
            raise invalid(f"{where}.content_type", "content_type must be a media type such as application/pdf")
        content_type = content_type.split(";")[0].strip().lower()
        encoded = item.get("content_base64")
        if not isinstance(encoded, str):
            raise invalid(f"{where}.content_base64", "content_base64 is required")
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise invalid(f"{where}.content_base64", "content_base64 is not valid base64") from exc
        out.append({
            "filename": safe_filename(name, content_type),
            "content_type": content_type,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "content_base64": encoded,
        })
    return out
