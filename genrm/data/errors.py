"""The errors of bad input: a record that is invalid, and a row or file that cannot be read.
Both name the field and, when known, where (file and line)."""

from __future__ import annotations


class RecordError(ValueError):
    """A record (or a row that should become one) is invalid. Names the field and, when known, where."""

    def __init__(self, message: str, *, field: str | None = None, where: str | None = None):
        self.message = message
        self.field = field
        self.where = where
        parts = [where] if where else []
        if field:
            parts.append(f"field '{field}'")
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class DataError(RecordError):
    """Bad input data (file missing, malformed row, missing field, empty source)."""
