"""Outputs published whole: the data build and the study's splits.

`stage_output` writes into a hidden staging directory beside the target, puts a manifest
of checksums into the marker last (`genrm.outputs.write_manifest`), and swaps the staging
directory in atomically (Linux `renameat2(RENAME_EXCHANGE)`; elsewhere old aside, new in,
and the next run rolls a half-done swap back). A kill at any moment leaves the complete
old or the complete new output (`verify_output` checks it); staging directories of dead
processes are removed by the next run (`clean_stale`).
"""

from __future__ import annotations

import ctypes
import errno
import json
import logging
import os
import re
import secrets
import shutil
from typing import Any, Callable

from genrm.outputs import (MARKER, OutputDirError, check_empty_path, check_existing, forbidden_reason, fsync_dir,
                           list_files, marker_kind, refuse_foreign, verify_output, write_manifest)

log = logging.getLogger(__name__)

# Tests turn this off to exercise the portable two-rename swap.
USE_EXCHANGE = True


_STALE = re.compile(r"^\.(?P<base>.+)\.(?:genrm-(?P<what>tmp|old)-(?P<pid>\d+)-[0-9a-f]+|tmp-(?P<legacy>\d+))$")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def clean_stale(path: str) -> list[str]:
    """Remove the staging directories that dead processes left beside `path` (also the
    `.<name>.tmp-<pid>` ones of older versions). When such a process died half-way through
    a two-rename swap (`path` missing, the old output set aside), the old output is put back.
    Returns what was removed."""
    path = os.path.abspath(path)
    parent, base = os.path.split(path)
    try:
        names = os.listdir(parent)
    except OSError:
        return []
    removed = []
    for name in sorted(names, key=lambda n: "genrm-tmp" in n):  # "old" first: it may be restored
        m = _STALE.match(name)
        if not m or m.group("base") != base:
            continue
        pid = int(m.group("pid") or m.group("legacy"))
        full = os.path.join(parent, name)
        if _alive(pid) or not os.path.isdir(full):
            continue
        if m.group("what") == "old" and not os.path.lexists(path):
            try:
                verify_output(full)
                os.rename(full, path)
                log.warning("restored %s from %s (a replacing run was killed mid-swap)", path, name)
                continue
            except (OutputDirError, OSError):
                pass
        shutil.rmtree(full, ignore_errors=True)
        removed.append(full)
        log.info("removed %s, left by process %d that no longer runs", full, pid)
    return removed


def _exchange(a: str, b: str) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    if not USE_EXCHANGE:
        return False
    fn = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if fn is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), b)


def _first_missing(path: str) -> str | None:
    """The topmost ancestor of `path` (itself included) that does not exist."""
    top = None
    p = path
    while p and not os.path.lexists(p):
        top = p
        up = os.path.dirname(p)
        if up == p:
            break
        p = up
    return top


class StagedOutput:
    """A whole output written beside its target and swapped in at `commit()` (see module doc).

    Created by `stage_output`, which checks everything first; use as a context manager so a
    failure removes the staging directory (and any parent directories it had to create)."""

    def __init__(self, path: str, kind: str, staging: str, created: str | None):
        self.path, self.kind, self.staging, self._created = path, kind, staging, created
        self.done = False

    def __enter__(self) -> "StagedOutput":
        return self

    def __exit__(self, exc_type, *exc: object) -> None:
        if not self.done:
            self.abort()

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
        if self._created:  # parents made only for this output, still empty
            _remove_empty_up_to(os.path.dirname(self.staging), self._created)
        self.done = True

    def commit(self, extra: dict[str, Any] | None = None) -> dict:
        """Write the manifest, then put the staged output in place of `path`, atomically."""
        files = write_manifest(self.staging, self.kind, extra)
        parent = os.path.dirname(self.path)
        if not os.path.lexists(self.path):
            os.rename(self.staging, self.path)
        elif _exchange(self.staging, self.path):
            shutil.rmtree(self.staging)  # now the old output
        else:
            aside = _temp_name(self.path, "old")
            os.rename(self.path, aside)
            os.rename(self.staging, self.path)  # a kill between the renames: clean_stale restores
            shutil.rmtree(aside)
        fsync_dir(parent)
        self.done = True
        return files


def _temp_name(path: str, what: str) -> str:
    parent, base = os.path.split(path)
    return os.path.join(parent, f".{base}.genrm-{what}-{os.getpid()}-{secrets.token_hex(4)}")


def stage_output(path: str, kind: str, *, overwrite: bool = False,
                 legacy: Callable[[str], bool] | None = None) -> StagedOutput:
    """Check that `kind` may publish to `path` and create the staging directory beside it,
    before any work is done: a refusal, an invalid or unwritable place is an `OutputDirError`
    now, not after the data has loaded. Stale staging directories are cleaned first.
    `legacy(path)` may recognise an output that older versions wrote without a marker."""
    check_empty_path(path)
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.islink(path):
        raise OutputDirError(f"output_dir {path} is a symbolic link; give the directory itself")
    why = forbidden_reason(path)
    if why is None and os.path.realpath(os.getcwd()).startswith(os.path.realpath(path) + os.sep):
        why = "a parent of the current directory"
    if why is not None:
        raise OutputDirError(f"output_dir {path} is {why}; choose a new directory")
    clean_stale(path)
    if os.path.lexists(path):
        if not os.path.isdir(path):
            raise OutputDirError(f"output_dir {path} is a file, not a directory")
        if os.listdir(path):
            if marker_kind(path) is None and legacy is not None and legacy(path):
                if not overwrite:
                    raise OutputDirError(f"output_dir {path} exists; pass overwrite=true to replace it")
            else:
                check_existing(path, kind, overwrite=overwrite, resume=False, resumable=False)
                _check_only_ours(path)
        if not os.access(path, os.W_OK | os.X_OK):
            raise OutputDirError(f"output_dir {path} is not writable")
    created = _first_missing(os.path.dirname(path))
    staging = _temp_name(path, "tmp")
    try:
        os.makedirs(staging)
    except (OSError, ValueError) as e:
        if created:
            _remove_empty_up_to(os.path.dirname(path), created)
        reason = getattr(e, "strerror", None) or str(e)
        raise OutputDirError(f"output_dir {path} cannot be written ({reason})") from None
    return StagedOutput(path, kind, staging, created)


def _check_only_ours(path: str) -> None:
    """A replaced output must hold only what its manifest lists: a file a user added is kept."""
    try:
        with open(os.path.join(path, MARKER), encoding="utf-8") as f:
            listed = json.load(f).get("files")
    except (OSError, ValueError, AttributeError):
        return
    if isinstance(listed, dict):
        refuse_foreign(path, sorted(set(list_files(path)) - set(listed)), "the build")


def _remove_empty_up_to(p: str, top: str) -> None:
    while True:
        try:
            os.rmdir(p)
        except OSError:
            return
        if p == top:
            return
        p = os.path.dirname(p)
