"""What the email normalizer is allowed to spend, and what it must recognise as its own.

Both are plain frozen values so the caller (the gateway's config) builds them
once and every normalization of every message sees the same rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class EmailLimits:
    """Bounds that keep one hostile message from costing unbounded time or memory."""

    max_attachment_bytes: int = 20 * 1024 * 1024
    max_total_attachment_bytes: int = 50 * 1024 * 1024
    max_parts: int = 500
    max_depth: int = 20
    max_text_chars: int = 1_000_000


@dataclass(frozen=True)
class EmailSettings:
    """Site-specific knowledge: how the gateway marks mail it sends itself."""

    own_domain: str = "gateway.invalid"  # Message-ID domain of mail the gateway sends
    own_header: str = "X-Gateway-Loop"  # header the gateway puts on mail it sends
    ticket_ref_pattern: str = r"\[#(T-\d+)\]"  # regex; group 1 is the ticket reference
    limits: EmailLimits = field(default_factory=EmailLimits)

    def __post_init__(self) -> None:
        # A broken pattern is a configuration error: fail when the config is
        # loaded, not later on some message.
        if re.compile(self.ticket_ref_pattern).groups < 1:
            raise ValueError("ticket_ref_pattern needs a group for the ticket reference")
