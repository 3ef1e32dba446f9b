"""Per-item results files of an evaluation (`<model>/<suite>.jsonl`, `.meta.json`) and the
suite registry: what the runner writes and the summary reads back."""

from __future__ import annotations

import importlib
import json
import logging
import os
from dataclasses import asdict, is_dataclass
from types import ModuleType
from typing import Any, Optional

from genrm.data.rows import DataError

log = logging.getLogger(__name__)


def suite_module(name: str) -> ModuleType:
    """The module of suite `name` (genrm/evaluation/suites/<name>.py)."""
    return importlib.import_module(f"genrm.evaluation.suites.{name}")


class ResultsFile:
    """Per-item JSONL results of one model on one suite."""

    def __init__(self, path: str):
        self.path = path

    def read(self) -> dict[str, dict]:
        """{item id: newest row}. A torn last line (a kill mid-write) is cut off the file."""
        rows: dict[str, dict] = {}
        if not os.path.exists(self.path):
            return rows
        with open(self.path, "rb") as f:
            data = f.read()
        good = 0  # bytes up to the end of the last complete, valid line
        for lineno, line in enumerate(data.splitlines(keepends=True), 1):
            if not line.endswith(b"\n"):
                break
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    if good + len(line) == len(data):
                        break  # a torn last line that happens to end in a newline
                    raise DataError("malformed JSON in results (edit or remove the line)",
                                    where=f"{self.path}:{lineno}") from None
                if not isinstance(row, dict) or "id" not in row:
                    raise DataError("a results row must be an object with 'id'", where=f"{self.path}:{lineno}")
                rows[str(row["id"])] = row
            good += len(line)
        if good < len(data):
            log.warning("%s: cutting off a torn last line (%d bytes) left by an interrupted run",
                        self.path, len(data) - good)
            with open(self.path, "r+b") as f:
                f.truncate(good)
        return rows

    def line_of(self, item_id: str) -> Optional[int]:
        """The line of the newest row of `item_id` (for error messages), None if absent."""
        found = None
        with open(self.path, encoding="utf-8", errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if isinstance(row, dict) and str(row.get("id")) == item_id:
                    found = lineno
        return found

    def append(self, row: dict) -> None:
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())


def jsonable(item: Any) -> Any:
    """A results row from a suite item (dataclasses as dicts)."""
    return asdict(item) if is_dataclass(item) else item


def read_meta(path: str) -> dict:
    """A `.meta.json` file's content, {} when there is none."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise DataError(f"unreadable results metadata ({e})", where=path) from None
