"""Errors that reach the user as one line naming the file and the cause."""

from __future__ import annotations

from pathlib import Path


class IterdeployError(Exception):
    """Base class: str() is a single line, `path:line: cause` where known."""

    def __init__(self, cause: str, path: str | Path | None = None, line: int | None = None):
        self.cause = cause
        self.path = None if path is None else str(path)
        self.line = line
        where = ""
        if self.path is not None:
            where = self.path + (f":{line}" if line is not None else "") + ": "
        super().__init__(where + " ".join(cause.split()))


class PDDLError(IterdeployError):
    """A domain or problem that cannot be read or is outside the supported fragment."""


class ConfigError(IterdeployError):
    """A bad parameter: unknown key, wrong type, value out of range."""
