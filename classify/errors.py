"""One error type for every problem a user can fix: it names the file and line."""

from __future__ import annotations

from os import PathLike


class ClassifyError(Exception):
    """A user-facing error: ``str(error)`` is one line, ``path:line: message``."""

    def __init__(self, message: str, path: str | PathLike | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path if self.line is None else f"{self.path}:{self.line}"
            where += ": "
        return " ".join(f"{where}{self.message}".split())
