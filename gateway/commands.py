"""The shape of a sub-command contributed by a module other than the CLI itself."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Coroutine
from typing import Any

from gateway.config import Config, Secrets

CommandRunner = Callable[[argparse.Namespace, Config, Secrets], Coroutine[Any, Any, int]]
