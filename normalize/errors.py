"""Errors a normalizer may raise: only when the input yields nothing usable."""


class NormalizeError(Exception):
    """The raw record cannot become a message; it stays a failed record with this reason."""
