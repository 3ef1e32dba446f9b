"""Output directories this project may write into, and may replace.

Every directory a job writes carries a marker file (`MARKER`) that names the job kind.
`overwrite=true` only ever replaces a directory with that marker: anything else a user
owns is refused, as are the current directory, the repository root, `/` and home.

Two ways to use a directory:

* `claim_output_dir`: a job that writes into the directory as it goes (and may resume).
* `stage_output`: a job that publishes a finished whole (the data build). It is written
  into a hidden staging directory beside the target, a manifest of checksums goes into
  the marker last, and the staging directory is swapped in atomically (Linux
  `renameat2(RENAME_EXCHANGE)`; elsewhere old aside, new in, and the next run rolls a
  half-done swap back). A kill at any moment leaves the complete old or the complete
  new output (`verify_output` checks it); staging directories of dead processes are
  removed by the next run (`clean_stale`).
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import time
from typing import Any, Callable

MARKER = ".genrm-output.json"
log = logging.getLogger(__name__)

# Tests turn this off to exercise the portable two-rename swap.
USE_EXCHANGE = True


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


def _check_empty_path(path: str) -> None:
    if not path or not str(path).strip():
        raise OutputDirError("output_dir is empty; set output_dir=<directory>")
    if "\0" in str(path):
        raise OutputDirError("output_dir contains a NUL byte")


def _check_existing(path: str, kind: str, *, overwrite: bool, resume: bool, resumable: bool = True) -> bool:
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
    _check_empty_path(path)
    why = _forbidden(path)
    if why is not None and (overwrite or (os.path.isdir(path) and os.listdir(path))):
        raise OutputDirError(f"output_dir {path} is {why}; choose a new directory")
    if os.path.exists(path) and not os.path.isdir(path):
        raise OutputDirError(f"output_dir {path} is a file, not a directory")
    if os.path.isdir(path) and os.listdir(path):
        if _check_existing(path, kind, overwrite=overwrite, resume=resume):
            return path
        if owned is not None:
            _refuse_foreign(path, [f for f in _files(path) if not owned(f)], f"this {kind} job")
        shutil.rmtree(path)
    try:
        os.makedirs(path, exist_ok=True)
        write_marker(path, kind)
    except OSError as e:
        raise OutputDirError(f"output_dir {path} is not writable ({e.strerror})") from None
    return path


# ------------------------------------------------------------------ manifests


def _files(root: str) -> list[str]:
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


def _fsync_dir(path: str) -> None:
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
    for rel in _files(path):
        full = os.path.join(path, rel)
        files[rel] = {"bytes": os.path.getsize(full), "sha256": _sha256(full, sync=True)}
    for d, _, _ in os.walk(path):
        _fsync_dir(d)
    write_marker(path, kind, {**(extra or {}), "files": files})
    _fsync_dir(path)
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
    present = set(_files(path))
    for rel, want in files.items():
        if rel not in present:
            raise OutputDirError(f"{path}: {rel} is missing")
        if _sha256(os.path.join(path, rel)) != want.get("sha256"):
            raise OutputDirError(f"{path}: {rel} does not match its checksum")
    extra = sorted(present - set(files))
    if extra:
        raise OutputDirError(f"{path}: {extra[0]} is not in the manifest")
    return info


# --------------------------------------------------------------- staged outputs

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
        _fsync_dir(parent)
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
    _check_empty_path(path)
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.islink(path):
        raise OutputDirError(f"output_dir {path} is a symbolic link; give the directory itself")
    why = _forbidden(path)
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
                _check_existing(path, kind, overwrite=overwrite, resume=False, resumable=False)
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
        _refuse_foreign(path, sorted(set(_files(path)) - set(listed)), "the build")


def _refuse_foreign(path: str, extra: list[str], writer: str) -> None:
    """A replaced output must hold only what its job wrote: a file a user added is kept."""
    if extra:
        more = f" and {len(extra) - 1} more" if len(extra) > 1 else ""
        raise OutputDirError(f"output_dir {path} holds files {writer} did not write ({extra[0]}{more}); "
                             "move them out or choose a new directory")


def _remove_empty_up_to(p: str, top: str) -> None:
    while True:
        try:
            os.rmdir(p)
        except OSError:
            return
        if p == top:
            return
        p = os.path.dirname(p)
