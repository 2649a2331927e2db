"""Who sent the mail, read strictly enough that a requester is never mis-attributed.

CVE-2023-27043: lenient parsers read `alice@example.org<bob@evil.example>`
as one of the two addresses, and a ticket would be linked to the wrong
customer. This runtime's `email.utils` has no `strict=` mode (3.11.10+), and
the modern header parser also picks one silently (with a defect). So the
From header is accepted only when a small strict tokenizer finds exactly one
unambiguous mailbox (`addr-spec` or `[display-name] <addr-spec>`, quotes and
comments balanced, no `@` in the display name or in a quoted local part)
and the stdlib's parser agrees on the same address. Anything else leaves the
requester without an address and says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from normalize.email import parse
from normalize.email.parse import PARSE_POLICY, decode_header_value, decode_unstructured
from normalize.sanitize import clean_header_value, decode_surrogates

MAX_ADDRESS_HEADER_CHARS = 2000
MAX_LISTED_ADDRESSES = 100
MAX_ADDRESS_HEADERS = 3
MAX_ADDRESS_LIST_CHARS = 4000

_ATOM = r"[^\s\x00-\x1f\x7f-\x9f\u2028\u2029.@<>()\[\],;:\"\\]+"
_ATOMS = rf"{_ATOM}(?:\.{_ATOM})*"
_DOT_ATOM = re.compile(_ATOMS)
_DOMAIN_LITERAL = re.compile(r"\[[^\s\[\]\\]{1,253}\]")
_QUOTED_LOCAL = re.compile(r'"(?:[^"\\\x00-\x1f\x7f]|\\[^\x00-\x1f])*"')
_LOOSE_ADDRESS = re.compile(r"[^\s<>,;:\"()\[\]]{1,200}@[^\s<>,;:\"()\[\]]{1,255}")


@dataclass(frozen=True)
class Sender:
    """The requester's identity as far as the From header proves it."""

    name: str | None
    email: str | None
    verified: bool
    raw: str  # the decoded From header, for humans
    defects: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class _Mailbox:
    display: str | None  # raw (undecoded) display name, when given
    local: str
    domain: str
    comment: str  # text of comments, an old style of giving the name


def parse_sender(raw_from: str | None) -> Sender:
    """The From header as a requester; unverified (no address) when ambiguous."""
    if raw_from is None or not raw_from.strip():
        return Sender(None, None, False, "", ("MissingFrom",))
    shown = decode_unstructured(raw_from[:MAX_ADDRESS_HEADER_CHARS])
    if len(raw_from) > MAX_ADDRESS_HEADER_CHARS:
        return Sender(None, None, False, shown[:MAX_ADDRESS_HEADER_CHARS], ("FromHeaderTooLong",))
    mailbox = _strict_mailbox(raw_from)
    if mailbox is None:
        return Sender(None, None, False, shown, ("UnparseableFrom",))
    local = decode_surrogates(mailbox.local)
    domain = decode_surrogates(mailbox.domain)
    agreed, modern_name = _stdlib_agrees(raw_from, local, domain)
    if not agreed:
        return Sender(None, None, False, shown, ("AmbiguousFromAddress",))
    name = modern_name if modern_name is not None else _display_name(mailbox)
    if not name and mailbox.comment:
        name = decode_unstructured(mailbox.comment)
    return Sender(name or None, f"{local}@{domain.lower()}", True, shown)


def _strict_mailbox(raw: str) -> _Mailbox | None:
    """Exactly one mailbox in RFC 5322 form, or None."""
    masked = _mask_quotes_and_comments(raw)
    if masked is None:
        return None
    opens, closes = masked.count("<"), masked.count(">")
    if opens == closes == 1:
        start, stop = masked.index("<"), masked.index(">")
        if stop < start or masked[stop + 1 :].strip():
            return None
        if any(ch in masked[:start] for ch in "@,;:<>[]"):
            return None  # an address-like display name: the CVE-2023-27043 shape
        display = raw[:start].strip() or None
        spec, spec_masked = raw[start + 1 : stop].strip(), masked[start + 1 : stop].strip()
    elif opens == closes == 0:
        display = None
        spec_masked = masked.strip()
        offset = masked.index(spec_masked) if spec_masked else 0
        spec = raw[offset : offset + len(spec_masked)]
    else:
        return None
    parts = _split_addr_spec(spec, spec_masked)
    if parts is None:
        return None
    comment = " ".join(_comments(raw))
    return _Mailbox(display, parts[0], parts[1], comment)


def _split_addr_spec(spec: str, masked: str) -> tuple[str, str] | None:
    if not masked or any(ch.isspace() for ch in masked) or masked.count("@") != 1:
        return None
    at = masked.index("@")
    local, domain = spec[:at], spec[at + 1 :]
    if local.startswith('"'):
        if not _QUOTED_LOCAL.fullmatch(local) or "@" in local:
            return None  # `"a@b"@c`: legal, but made to be misread
    elif not _DOT_ATOM.fullmatch(local):
        return None
    if not (_DOT_ATOM.fullmatch(domain) or _DOMAIN_LITERAL.fullmatch(domain)):
        return None
    return local, domain


def _mask_quotes_and_comments(raw: str) -> str | None:
    """`raw` with quoted text as `x` and comments as spaces; None if unbalanced."""
    if '"' not in raw and "(" not in raw:
        return raw  # nothing quoted, nothing commented (a backslash only escapes inside either)
    out: list[str] = []
    quoted = False
    depth = 0
    escaped = False
    for ch in raw:
        if escaped:
            out.append("x" if quoted else " ")
            escaped = False
        elif (quoted or depth) and ch == "\\":
            out.append("x" if quoted else " ")
            escaped = True
        elif quoted:
            out.append('"' if ch == '"' else "x")
            quoted = ch != '"'
        elif ch == "(":
            depth += 1
            out.append(" ")
        elif depth and ch == ")":
            depth -= 1
            out.append(" ")
        elif depth:
            out.append(" ")
        elif ch == '"':
            quoted = True
            out.append('"')
        else:
            out.append(ch)
    if quoted or depth or escaped:
        return None
    return "".join(out)


def _comments(raw: str) -> list[str]:
    """Top-level comment texts, e.g. the name in `bob@example.org (Bob Smith)`."""
    if "(" not in raw:
        return []
    found: list[str] = []
    current: list[str] = []
    depth = 0
    quoted = False
    for ch in raw:
        if quoted:
            quoted = ch != '"'
        elif ch == '"' and not depth:
            quoted = True
        elif ch == "(":
            depth += 1
            if depth > 1:
                current.append(ch)
        elif ch == ")" and depth:
            depth -= 1
            if depth:
                current.append(ch)
            else:
                found.append("".join(current).strip())
                current = []
        elif depth:
            current.append(ch)
    return [text for text in found if text]


def _stdlib_agrees(raw: str, local: str, domain: str) -> tuple[bool, str | None]:
    """Does `policy.default`'s parser read the same single address? Also its name.

    Its parser raises on some hostile input (an encoded CR/LF in the name);
    then the strict reading stands alone and the name is decoded plainly.
    """
    try:
        addresses = _read_addresses("from", raw)
    except Exception:
        return True, None
    if len(addresses) != 1:
        return False, None
    display_name, username, address_domain, _addr_spec = addresses[0]
    unquoted = _unquote(local)
    if decode_surrogates(username) != unquoted or decode_surrogates(address_domain) != domain:
        return False, None
    return True, clean_header_value(display_name or "")


# (display name, username, domain, addr-spec) of each address, as the stdlib's Address gives them.
_Address = tuple[str, str, str, str]

# The plain shapes of an address list, read without the structured parser:
# `local@domain` and `Words Of A Name <local@domain>` (atoms only: no quotes,
# comments, dots or encoded words in the name; dot-atom local part; letters,
# digits and hyphens in the domain), separated by commas. For these the
# stdlib's parser gives the name with single spaces, the local part and
# domain as written, and `local@domain` as the addr-spec; anything else goes
# to it. Checked against it in tests/normalize/test_email_fast_paths.py.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL = rf"{_ATEXT}(?:\.{_ATEXT})*"
_DOMAIN = r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_PLAIN_ADDRESS = re.compile(
    rf"(?:(?P<name>{_ATEXT}(?: {_ATEXT})*) )?<(?P<local>{_LOCAL})@(?P<domain>{_DOMAIN})>"
    rf"|(?P<bare_local>{_LOCAL})@(?P<bare_domain>{_DOMAIN})"
)


def plain_addresses(raw: str) -> list[_Address] | None:
    """The addresses of a plain address list (see above), or None for anything else."""
    if "=?" in raw or not raw.isascii():
        return None
    found: list[_Address] = []
    for item in raw.split(","):
        match = _PLAIN_ADDRESS.fullmatch(item.strip(" "))
        if match is None:
            return None
        local = match.group("local") or match.group("bare_local")
        domain = match.group("domain") or match.group("bare_domain")
        found.append((match.group("name") or "", local, domain, f"{local}@{domain}"))
    return found


def _read_addresses(name: str, raw: str) -> list[_Address]:
    """The addresses `policy.default` reads in an address header (may raise, as its parser may)."""
    if parse.fast_paths_enabled():
        plain = plain_addresses(raw)
        if plain is not None:
            return plain
    header = PARSE_POLICY.header_fetch_parse(name, raw)
    return [(a.display_name, a.username, a.domain, a.addr_spec) for a in getattr(header, "addresses", ())]


def _unquote(local: str) -> str:
    if len(local) >= 2 and local.startswith('"') and local.endswith('"'):
        return re.sub(r"\\(.)", r"\1", local[1:-1])
    return local


def _display_name(mailbox: _Mailbox) -> str:
    if not mailbox.display:
        return ""
    name = decode_unstructured(mailbox.display)
    if len(name) >= 2 and name.startswith('"') and name.endswith('"'):
        name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return clean_header_value(name)


def address_list(name: str, raw_values: list[str]) -> list[str]:
    """Every address in the To/Cc/Reply-To headers, domains in lower case.

    These only inform routing and display, so the stdlib's reading is taken
    as is; a header it cannot read falls back to anything shaped like an
    address in the decoded text.
    """
    found: list[str] = []
    for raw in raw_values[:MAX_ADDRESS_HEADERS]:
        raw = raw[:MAX_ADDRESS_LIST_CHARS]  # the stdlib's parser is slow on long lists
        try:
            for _name, username, domain, addr_spec in _read_addresses(name, raw):
                if username and domain:
                    local = addr_spec.rpartition("@")[0]
                    found.append(clean_header_value(f"{local}@{domain.lower()}"))
        except Exception:
            text = decode_header_value(name, raw)
            found.extend(_lower_domain(m) for m in _LOOSE_ADDRESS.findall(text))
        if len(found) >= MAX_LISTED_ADDRESSES:
            break
    return list(dict.fromkeys(found))[:MAX_LISTED_ADDRESSES]


def _lower_domain(address: str) -> str:
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}"
