"""The errors the router package raises; callers catch `RouterError` for all of them.

Each carries what an operator needs to fix the cause: a configuration error
names the dotted key at fault, a model error names the file and what to do.
"""

from __future__ import annotations


class RouterError(Exception):
    """Base of every error raised by the router package."""


class RouterConfigError(RouterError):
    """The `[router]` configuration is invalid; `key` is the dotted path at fault."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


class ModelFileError(RouterError):
    """A model file cannot be used (missing, not a model, or written by another version)."""


class TrainingError(RouterError):
    """The labelled examples cannot train or evaluate a classifier."""


class ExampleFileError(TrainingError):
    """A labelled-example file is unreadable; the message names the file and line."""
