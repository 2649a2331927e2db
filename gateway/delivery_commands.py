"""`gateway` sub-commands of the delivery."""

from __future__ import annotations

import argparse

from gateway.commands import CommandRunner


def register(sub: argparse._SubParsersAction) -> dict[str, CommandRunner]:  # type: ignore[type-arg]
    """Add the sub-commands to the parser; return their runners by command name."""
    return {}
