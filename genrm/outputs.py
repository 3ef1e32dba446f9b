"""Output directories this project may write into, and may replace.

Every directory a job writes carries a marker file (`MARKER`) that names the job kind.
`overwrite=true` only ever replaces a directory with that marker: anything else a user
owns is refused, as are the current directory, the repository root, `/` and home.

Two ways to use a directory:

* `claim_output_dir`: a job that writes into the directory as it goes (and may resume).
* `genrm.staging.stage_output`: a job that publishes a finished whole (the data build),
  written aside and swapped in atomically, with a manifest of checksums in the marker
  (`write_manifest`, `verify_output` here).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from typing import Any, Callable

MARKER = ".genrm-output.json"
log = logging.getLogger(__name__)



class OutputDirError(ValueError):
    """An output directory cannot be used as asked. One line that says why and what to do."""


def forbidden_reason(path: str) -> str | None:
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


def write_json(path: str, obj: Any) -> None:
    """Write `obj` as JSON so that a kill leaves the old file or the new one, never half."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, ensure_ascii=False, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_marker(path: str, kind: str, extra: dict | None = None) -> None:
    info = {"kind": kind, "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "pid": os.getpid(), **(extra or {})}
    write_json(os.path.join(path, MARKER), info)


def check_empty_path(path: str) -> None:
    if not path or not str(path).strip():
        raise OutputDirError("output_dir is empty; set output_dir=<directory>")
    if "\0" in str(path):
        raise OutputDirError("output_dir contains a NUL byte")


def check_existing(path: str, kind: str, *, overwrite: bool, resume: bool, resumable: bool = True) -> bool:
    """For a non-empty existing `path`: True when it may be kept (ours, resume), False when it
    may be replaced (ours, overwrite); otherwise `OutputDirError` saying why."""
    ours = marker_kind(path)
    if ours is None:
        raise OutputDirError(
            f"output_dir {path} exists and was not written by genrm (no {MARKER}); "
            "it is left untouched: choose a new directory"
        )
    if ours != kind:
        raise OutputDirError(f"output_dir {path} holds a '{ours}' output, not '{kind}'; choose a new directory")
    if resume:
        return True
    if not overwrite:
        more = " or resume=true to continue" if resumable else ""
        raise OutputDirError(f"output_dir {path} exists; pass overwrite=true to replace it{more}")
    return False


def claim_output_dir(path: str, kind: str, *, overwrite: bool = False, resume: bool = False,
                     owned: Callable[[str], bool] | None = None) -> str:
    """Make `path` ready for a `kind` job and return it.

    * missing: created and marked;
    * empty: marked;
    * ours and `resume`: kept as is (the job continues from what is there);
    * ours and `overwrite`: emptied, then marked, but only when every file in it is one the
      job writes (`owned(relative path)`, where given): a file a user added is never
      deleted, the run is refused instead (the data build's rule);
    * anything else: `OutputDirError`.
    """
    check_empty_path(path)
    why = forbidden_reason(path)
    if why is not None and (overwrite or (os.path.isdir(path) and os.listdir(path))):
        raise OutputDirError(f"output_dir {path} is {why}; choose a new directory")
    if os.path.exists(path) and not os.path.isdir(path):
        raise OutputDirError(f"output_dir {path} is a file, not a directory")
    if os.path.isdir(path) and os.listdir(path):
        if check_existing(path, kind, overwrite=overwrite, resume=resume):
            return path
        if owned is not None:
            refuse_foreign(path, [f for f in list_files(path) if not owned(f)], f"this {kind} job")
        shutil.rmtree(path)
    try:
        os.makedirs(path, exist_ok=True)
        write_marker(path, kind)
    except OSError as e:
        raise OutputDirError(f"output_dir {path} is not writable ({e.strerror})") from None
    return path


# ------------------------------------------------------------------ manifests


def list_files(root: str) -> list[str]:
    out = []
    for d, dirs, names in os.walk(root):
        dirs.sort()
        for n in sorted(names):
            rel = os.path.relpath(os.path.join(d, n), root)
            if rel != MARKER:
                out.append(rel.replace(os.sep, "/"))
    return out


def _sha256(path: str, sync: bool = False) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
        if sync:  # on disk before the marker says the output is complete
            os.fsync(f.fileno())
    return h.hexdigest()


def fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot sync a directory
    finally:
        os.close(fd)


def write_manifest(path: str, kind: str, extra: dict | None = None) -> dict:
    """Checksum every file under `path` into its marker (written last, so a marker with a
    manifest means every listed file was complete and on disk)."""
    files = {}
    for rel in list_files(path):
        full = os.path.join(path, rel)
        files[rel] = {"bytes": os.path.getsize(full), "sha256": _sha256(full, sync=True)}
    for d, _, _ in os.walk(path):
        fsync_dir(d)
    write_marker(path, kind, {**(extra or {}), "files": files})
    fsync_dir(path)
    return files


def verify_output(path: str, kind: str | None = None) -> dict:
    """The manifest of a complete output at `path`; `OutputDirError` naming the first file that
    is missing, extra, or differs from its checksum."""
    try:
        with open(os.path.join(path, MARKER), encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError) as e:
        raise OutputDirError(f"{path}: no readable {MARKER} ({getattr(e, 'strerror', None) or e})") from None
    files = info.get("files") if isinstance(info, dict) else None
    if not isinstance(files, dict):
        raise OutputDirError(f"{path}: {MARKER} has no manifest of files")
    if kind is not None and info.get("kind") != kind:
        raise OutputDirError(f"{path} holds a '{info.get('kind')}' output, not '{kind}'")
    present = set(list_files(path))
    for rel, want in files.items():
        if rel not in present:
            raise OutputDirError(f"{path}: {rel} is missing")
        if _sha256(os.path.join(path, rel)) != want.get("sha256"):
            raise OutputDirError(f"{path}: {rel} does not match its checksum")
    extra = sorted(present - set(files))
    if extra:
        raise OutputDirError(f"{path}: {extra[0]} is not in the manifest")
    return info


def refuse_foreign(path: str, extra: list[str], writer: str) -> None:
    """A replaced output must hold only what its job wrote: a file a user added is kept."""
    if extra:
        more = f" and {len(extra) - 1} more" if len(extra) > 1 else ""
        raise OutputDirError(f"output_dir {path} holds files {writer} did not write ({extra[0]}{more}); "
                             "move them out or choose a new directory")
