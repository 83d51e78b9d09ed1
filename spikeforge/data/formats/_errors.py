"""The one error type every file parser raises for corrupt, truncated or mis-typed input."""

from __future__ import annotations

__all__ = ["FormatError"]


class FormatError(ValueError):
    """A data file does not follow its format; the message names the file and the problem."""
