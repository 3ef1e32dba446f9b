"""Output directories this project may write into, and may replace.

Every directory a job writes carries a marker file (`MARKER`) that names the job kind.
`overwrite=true` only ever replaces a directory with that marker: anything else a user
owns is refused, as are the current directory, the repository root, `/` and home.
"""

from __future__ import annotations

import json
import os
import shutil
import time

MARKER = ".genrm-output.json"


class OutputDirError(ValueError):
    """An output directory cannot be used as asked. One line that says why and what to do."""


def _forbidden(path: str) -> str | None:
    p = os.path.realpath(path)
    home = os.path.realpath(os.path.expanduser("~"))
    cwd = os.path.realpath(os.getcwd())
    if p == os.path.realpath(os.sep):
        return "the filesystem root"
    if p == home:
        return "your home directory"
    if p == cwd:
        return "the current directory"
    if os.path.exists(os.path.join(p, ".git")) or os.path.exists(os.path.join(p, "pyproject.toml")):
        return "a repository root"
    return None


def marker_kind(path: str) -> str | None:
    """The job kind recorded in `path`'s marker, or None when `path` is not ours."""
    try:
        with open(os.path.join(path, MARKER), encoding="utf-8") as f:
            return str(json.load(f).get("kind"))
    except (OSError, ValueError, AttributeError):
        return None


def write_marker(path: str, kind: str) -> None:
    with open(os.path.join(path, MARKER), "w", encoding="utf-8") as f:
        json.dump({"kind": kind, "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "pid": os.getpid()}, f)


def claim_output_dir(path: str, kind: str, *, overwrite: bool = False, resume: bool = False) -> str:
    """Make `path` ready for a `kind` job and return it.

    * missing: created and marked;
    * empty: marked;
    * ours and `resume`: kept as is (the job continues from what is there);
    * ours and `overwrite`: emptied, then marked;
    * anything else: `OutputDirError`.
    """
    if not path or not str(path).strip():
        raise OutputDirError("output_dir is empty; set output_dir=<directory>")
    why = _forbidden(path)
    if why is not None and (overwrite or (os.path.isdir(path) and os.listdir(path))):
        raise OutputDirError(f"output_dir {path} is {why}; choose a new directory")
    if os.path.exists(path) and not os.path.isdir(path):
        raise OutputDirError(f"output_dir {path} is a file, not a directory")
    if os.path.isdir(path) and os.listdir(path):
        ours = marker_kind(path)
        if ours is None:
            raise OutputDirError(
                f"output_dir {path} exists and was not written by genrm (no {MARKER}); "
                "it is left untouched: choose a new directory"
            )
        if ours != kind:
            raise OutputDirError(f"output_dir {path} holds a '{ours}' output, not '{kind}'; choose a new directory")
        if resume:
            return path
        if not overwrite:
            raise OutputDirError(f"output_dir {path} exists; pass overwrite=true to replace it or resume=true to continue")
        shutil.rmtree(path)
    try:
        os.makedirs(path, exist_ok=True)
        write_marker(path, kind)
    except OSError as e:
        raise OutputDirError(f"output_dir {path} is not writable ({e.strerror})") from None
    return path
