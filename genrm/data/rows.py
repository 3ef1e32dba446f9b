"""Row readers that name the file, line and field when input is bad.

Sources read local files through these helpers, or hub datasets through
`load_rows`, so every adapter reports errors the same way.
"""

from __future__ import annotations

import csv
import io
import json
import os
from typing import Any, Iterator

from genrm.data.errors import DataError


def _exists(path: str) -> None:
    if not os.path.exists(path):
        raise DataError(f"file not found: {path}")


def _decode(raw: bytes, path: str, lineno: int, offset: int) -> str:
    """`raw` (the bytes of line `lineno`, starting at byte `offset` of the file) as text."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(
            f"not UTF-8 text: byte 0x{raw[e.start]:02x} at byte offset {offset + e.start} "
            f"(line {lineno}, column {len(raw[:e.start].decode('utf-8', 'replace')) + 1}); save the file as UTF-8",
            where=f"{path}:{lineno}",
        ) from None
    if "\0" in text:
        col = text.index("\0") + 1
        raise DataError(f"contains a NUL byte (column {col})", where=f"{path}:{lineno}")
    return text[1:] if offset == 0 and text.startswith("\ufeff") else text  # a UTF-8 byte-order mark


def read_text(path: str) -> str:
    """A whole UTF-8 text file; bad bytes and NUL bytes are a DataError naming line and offset."""
    _exists(path)
    with open(path, "rb") as f:
        data = f.read()
    try:
        return _decode(data, path, 1, 0)
    except DataError:
        pass
    offset = 0  # find the line at fault
    for lineno, raw in enumerate(data.splitlines(keepends=True), 1):
        _decode(raw, path, lineno, offset)
        offset += len(raw)
    raise DataError("not UTF-8 text", where=path)  # not reached: some line fails above


def _nul_field(obj: Any, key: str = "") -> str | None:
    """The dotted key of the first string holding a NUL character, or None."""
    if isinstance(obj, str):
        return key if "\0" in obj else None
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    else:
        return None
    for k, v in items:
        if isinstance(k, str) and "\0" in k:
            return f"{key}.{k}" if key else str(k)
        found = _nul_field(v, f"{key}.{k}" if key else str(k))
        if found is not None:
            return found
    return None


def check_no_nul(row: Any, where: str) -> None:
    """DataError naming the field when a row holds a NUL character (escaped as \\u0000 in JSON)."""
    field = _nul_field(row)
    if field is not None:
        raise DataError("contains a NUL character (\\u0000)", field=field, where=where)


def _loads(text: str, where: str, what: str = "") -> Any:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        pos = f"line {e.lineno} column {e.colno}" if what else f"column {e.colno}"
        raise DataError(f"malformed JSON ({e.msg} at {pos})", where=where) from None
    except RecursionError:
        raise DataError("JSON nested too deeply to read", where=where) from None
    if "\\u0000" in text:  # cheap test first; the walk names the field
        check_no_nul(obj, where)
    return obj


def iter_jsonl(path: str) -> Iterator[tuple[str, dict]]:
    """Yield (where, object) for each non-blank line; `where` is 'path:line'."""
    _exists(path)
    with open(path, "rb") as f:
        offset = 0
        for lineno, raw in enumerate(f, 1):
            start, offset = offset, offset + len(raw)
            if not raw.strip():
                continue
            where = f"{path}:{lineno}"
            obj = _loads(_decode(raw, path, lineno, start).rstrip("\r\n"), where)  # columns within the line
            if not isinstance(obj, dict):
                raise DataError(f"expected a JSON object, got {type(obj).__name__}", where=where)
            yield where, obj


def iter_json_array(path: str) -> Iterator[tuple[str, dict]]:
    """A JSON file holding a list of objects (RM-Bench); `where` is 'path[item]'.
    Falls back to JSONL when the file is one object per line."""
    _exists(path)
    head = b""
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(4096), b""):
            head = chunk.lstrip(b"\xef\xbb\xbf \t\r\n")  # a byte-order mark, whitespace
            if head:
                break
    if not head.startswith(b"["):
        yield from iter_jsonl(path)
        return
    data = _loads(read_text(path), path, "file")
    for i, obj in enumerate(data):
        where = f"{path}[{i}]"
        if not isinstance(obj, dict):
            raise DataError(f"expected a JSON object, got {type(obj).__name__}", where=where)
        yield where, obj


def iter_csv(path: str) -> Iterator[tuple[str, dict]]:
    """Yield (where, row) for each CSV data row; `where` is 'path:line' (physical line of the row start)."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise DataError("empty CSV file (no header)", where=path) from None
    except csv.Error as e:
        raise DataError(f"malformed CSV header ({e})", where=f"{path}:1") from None
    line = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise DataError(f"malformed CSV ({e})", where=f"{path}:{line}") from None
        where = f"{path}:{line}"
        line = reader.line_num + 1
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise DataError(f"has {len(row)} columns, the header has {len(header)}", where=where)
        yield where, dict(zip(header, row))


def iter_rows(path: str) -> Iterator[tuple[str, dict]]:
    """Dispatch on extension: .jsonl, .json, .csv, .parquet."""
    low = path.lower()
    if low.endswith(".jsonl"):
        return iter_jsonl(path)
    if low.endswith(".json"):
        return iter_json_array(path)
    if low.endswith(".csv"):
        return iter_csv(path)
    if low.endswith(".parquet"):
        return _iter_parquet(path)
    raise DataError(f"unsupported file type (want .jsonl, .json, .csv or .parquet): {path}")


def _iter_parquet(path: str) -> Iterator[tuple[str, dict]]:
    import datasets

    if not os.path.exists(path):
        raise DataError(f"file not found: {path}")
    ds = datasets.Dataset.from_parquet(path)
    for i, row in enumerate(ds):
        check_no_nul(row, f"{path}[{i}]")
        yield f"{path}[{i}]", row


def load_rows(path_or_id: str, *, split: str = "train", config: str | None = None) -> Iterator[tuple[str, dict]]:
    """Local file, local directory of files, `save_to_disk` directory, or hub dataset id."""
    if os.path.isfile(path_or_id):
        yield from iter_rows(path_or_id)
        return
    if os.path.isdir(path_or_id):
        if os.path.exists(os.path.join(path_or_id, "dataset_info.json")) or os.path.exists(
            os.path.join(path_or_id, "dataset_dict.json")
        ):
            import datasets

            ds = datasets.load_from_disk(path_or_id)
            if isinstance(ds, datasets.DatasetDict):
                if split not in ds:
                    raise DataError(f"split {split!r} not in {list(ds)}", where=path_or_id)
                ds = ds[split]
            for i, row in enumerate(ds):
                check_no_nul(row, f"{path_or_id}[{split}][{i}]")
                yield f"{path_or_id}[{split}][{i}]", row
            return
        files = sorted(
            os.path.join(path_or_id, n)
            for n in os.listdir(path_or_id)
            if n.lower().endswith((".jsonl", ".json", ".csv", ".parquet"))
        )
        if not files:
            raise DataError(f"no .jsonl/.json/.csv/.parquet files in directory {path_or_id}")
        for fp in files:
            yield from iter_rows(fp)
        return
    if looks_like_hub_id(path_or_id):
        import datasets

        try:
            ds = datasets.load_dataset(path_or_id, config, split=split)
        except Exception as e:  # network, missing config, ...
            raise DataError(f"could not load hub dataset {path_or_id!r} (config={config}, split={split}): {e}") from e
        for i, row in enumerate(ds):
            check_no_nul(row, f"{path_or_id}[{split}][{i}]")
            yield f"{path_or_id}[{split}][{i}]", row
        return
    raise DataError(f"path not found and not a hub id: {path_or_id}")


def looks_like_hub_id(s: str) -> bool:
    parts = s.split("/")
    has_ext = os.path.splitext(s)[1].lower() in (".jsonl", ".json", ".csv", ".parquet")
    return len(parts) == 2 and all(parts) and not has_ext and not s.startswith((".", "/", "~"))


def require(row: dict, name: str, where: str, kind: type | tuple[type, ...] | None = None) -> Any:
    """Fetch a required field, with an error naming the field and the row's location."""
    if name not in row or row[name] is None:
        raise DataError("is missing", field=name, where=where)
    v = row[name]
    if kind is not None and not isinstance(v, kind):
        want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise DataError(f"should be {want}, got {type(v).__name__}", field=name, where=where)
    return v


def require_text(row: dict, name: str, where: str) -> str:
    v = require(row, name, where)
    if not isinstance(v, str) or not v.strip():
        raise DataError("should be a non-empty string", field=name, where=where)
    return v


def require_int(row: dict, name: str, where: str, allowed: tuple[int, ...] | None = None) -> int:
    v = require(row, name, where)
    if isinstance(v, bool):  # JSON true/false is not a number here
        raise DataError(f"should be an integer, got {str(v).lower()}", field=name, where=where)
    if isinstance(v, str) and v.strip().lstrip("-").isdigit():
        v = int(v)
    if not isinstance(v, int):
        raise DataError(f"should be an integer, got {v!r}", field=name, where=where)
    if allowed is not None and v not in allowed:
        raise DataError(f"should be one of {allowed}, got {v}", field=name, where=where)
    return v
