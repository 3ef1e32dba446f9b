"""genrm.outputs: refusals, staged atomic replacement, manifests, stale staging directories,
and a kill test (SIGKILL at random moments while a data build replaces the previous one)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genrm import staging
from genrm.outputs import MARKER, OutputDirError, claim_output_dir, verify_output
from genrm.staging import clean_stale, stage_output

REPO = Path(__file__).resolve().parents[1]


def tree(root: Path) -> dict[str, str]:
    """Every file under `root` with its checksum (what 'untouched' compares)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
        elif p.is_dir():
            out[str(p.relative_to(root)) + "/"] = ""
    return out


def publish(path: Path, files: dict[str, str], *, overwrite: bool = False) -> None:
    with stage_output(str(path), "data", overwrite=overwrite) as staged:
        for name, text in files.items():
            f = Path(staged.staging) / name
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(text)
        staged.commit({"note": "test"})


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def stale_dirs(path: Path) -> list[str]:
    return sorted(n for n in os.listdir(path.parent) if n.startswith(f".{path.name}.") and n != path.name)


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize("overwrite", [False, True])
def test_current_directory_is_refused_and_untouched(tmp_path, monkeypatch, overwrite):
    (tmp_path / "mine.txt").write_text("precious")
    monkeypatch.chdir(tmp_path)
    before = tree(tmp_path)
    with pytest.raises(OutputDirError, match="is the current directory"):
        stage_output(".", "data", overwrite=overwrite)
    with pytest.raises(OutputDirError, match="is the current directory"):
        claim_output_dir(".", "train", overwrite=True)
    assert tree(tmp_path) == before


def test_foreign_directory_with_overwrite_is_refused_and_untouched(tmp_path):
    foreign = tmp_path / "photos"
    (foreign / "2024").mkdir(parents=True)
    (foreign / "2024" / "a.jpg").write_bytes(b"\xff\xd8jpeg")
    before = tree(tmp_path)
    with pytest.raises(OutputDirError, match=rf"was not written by genrm \(no {MARKER}\); it is left untouched"):
        stage_output(str(foreign), "data", overwrite=True)
    assert tree(tmp_path) == before
    # a marker of another job kind does not make it ours either
    (foreign / MARKER).write_text(json.dumps({"kind": "train"}))
    with pytest.raises(OutputDirError, match="holds a 'train' output, not 'data'"):
        stage_output(str(foreign), "data", overwrite=True)


def test_root_home_repo_and_parents_of_cwd_are_refused(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    for path, why in [("/", "the filesystem root"), (str(home), "your home directory"),
                      (str(REPO), "a repository root"), (str(tmp_path / "a"), "a parent of the current directory"),
                      ("..", "a parent of the current directory")]:
        with pytest.raises(OutputDirError, match=why):
            stage_output(path, "data", overwrite=True)
    assert not stale_dirs(work)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda t: "", "output_dir is empty"),
        (lambda t: "  ", "output_dir is empty"),
        (lambda t: str(t / "x\0y"), "contains a NUL byte"),
        (lambda t: str(t / "file.txt"), "is a file, not a directory"),
        (lambda t: str(t / "file.txt" / "out"), r"cannot be written \(Not a directory\)"),
        (lambda t: "/proc/genrm-out", "cannot be written"),
        (lambda t: str(t / "link"), "is a symbolic link"),
    ],
)
def test_invalid_places_fail_before_any_work(tmp_path, make, message):
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    before = tree(tmp_path)
    with pytest.raises(OutputDirError, match=message):
        stage_output(make(tmp_path), "data", overwrite=True)
    assert tree(tmp_path) == before


def test_existing_build_needs_overwrite(tmp_path):
    out = tmp_path / "out"
    publish(out, {"a.txt": "one"})
    with pytest.raises(OutputDirError, match="exists; pass overwrite=true"):
        stage_output(str(out), "data")
    publish(out, {"b.txt": "two"}, overwrite=True)
    assert (out / "b.txt").read_text() == "two" and not (out / "a.txt").exists()
    assert verify_output(str(out), "data")["note"] == "test"
    assert stale_dirs(out) == []


def test_empty_existing_directory_is_used(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    publish(out, {"a.txt": "one"})
    assert (out / "a.txt").read_text() == "one"


# ---------------------------------------------------------------- staging and manifest


def test_missing_parents_are_created_and_removed_on_failure(tmp_path):
    out = tmp_path / "p" / "q" / "out"
    with pytest.raises(RuntimeError):
        with stage_output(str(out), "data") as staged:
            assert Path(staged.staging).parent == out.parent and out.parent.is_dir()
            raise RuntimeError("the build failed")
    assert os.listdir(tmp_path) == []  # the staging directory and the parents made for it are gone
    publish(out, {"x.txt": "x"})
    assert verify_output(str(out))["kind"] == "data"


def test_verify_output_names_what_is_wrong(tmp_path):
    out = tmp_path / "out"
    publish(out, {"a.txt": "one", "hf/b.arrow": "two"})
    files = verify_output(str(out))["files"]
    assert set(files) == {"a.txt", "hf/b.arrow"} and files["a.txt"]["bytes"] == 3
    (out / "hf" / "b.arrow").write_text("tw0")
    with pytest.raises(OutputDirError, match="hf/b.arrow does not match its checksum"):
        verify_output(str(out))
    (out / "hf" / "b.arrow").unlink()
    with pytest.raises(OutputDirError, match="hf/b.arrow is missing"):
        verify_output(str(out))
    (out / "hf" / "b.arrow").write_text("two")
    (out / "extra.txt").write_text("?")
    with pytest.raises(OutputDirError, match="extra.txt is not in the manifest"):
        verify_output(str(out))
    (out / MARKER).unlink()
    with pytest.raises(OutputDirError, match=f"no readable {MARKER}"):
        verify_output(str(out))


def test_clean_stale_removes_dead_processes_leftovers_only(tmp_path):
    out = tmp_path / "out"
    publish(out, {"a.txt": "one"})
    gone = dead_pid()
    dead_tmp = tmp_path / f".out.genrm-tmp-{gone}-0badc0de"
    dead_old = tmp_path / f".out.genrm-old-{gone}-00000001"
    legacy = tmp_path / f".out.tmp-{gone}"  # what older versions left
    live = tmp_path / f".out.genrm-tmp-{os.getpid()}-12345678"
    other = tmp_path / f".other.genrm-tmp-{gone}-12345678"  # another output's: not ours to judge
    for d in (dead_tmp, dead_old, legacy, live, other):
        (d / "hf").mkdir(parents=True)
        (d / "hf" / "x").write_text("partial")
    removed = clean_stale(str(out))
    assert sorted(removed) == sorted(str(d) for d in (dead_tmp, dead_old, legacy))
    assert live.exists() and other.exists() and (out / "a.txt").exists()
    # the next build cleans up by itself
    for d in (dead_tmp, legacy):
        d.mkdir()
    publish(out, {"a.txt": "two"}, overwrite=True)
    assert not dead_tmp.exists() and not legacy.exists()


def test_clean_stale_restores_an_old_build_set_aside_by_a_killed_swap(tmp_path):
    out = tmp_path / "out"
    publish(out, {"a.txt": "old"})
    gone = dead_pid()
    aside = tmp_path / f".out.genrm-old-{gone}-0000abcd"
    os.rename(out, aside)  # what the two-rename swap leaves when killed between its renames
    staged_new = tmp_path / f".out.genrm-tmp-{gone}-0000abce"
    staged_new.mkdir()
    clean_stale(str(out))
    assert (out / "a.txt").read_text() == "old" and verify_output(str(out))
    assert stale_dirs(out) == []


@pytest.mark.parametrize("exchange", [True, False])
def test_replacement_paths(tmp_path, monkeypatch, exchange):
    monkeypatch.setattr(staging, "USE_EXCHANGE", exchange)
    out = tmp_path / "out"
    publish(out, {"a.txt": "one", "hf/x": "1"})
    publish(out, {"a.txt": "two"}, overwrite=True)
    assert tree(out).keys() == {"a.txt", MARKER}
    assert verify_output(str(out)) and stale_dirs(out) == []


def test_claim_output_dir_is_unchanged(tmp_path):
    out = tmp_path / "run"
    assert claim_output_dir(str(out), "train") == str(out)
    assert json.loads((out / MARKER).read_text())["kind"] == "train"
    (out / "ckpt").write_text("step 1")
    assert claim_output_dir(str(out), "train", resume=True) == str(out) and (out / "ckpt").exists()
    with pytest.raises(OutputDirError, match="exists; pass overwrite=true to replace it or resume=true"):
        claim_output_dir(str(out), "train")
    claim_output_dir(str(out), "train", overwrite=True)
    assert os.listdir(out) == [MARKER]


def test_overwrite_keeps_a_file_the_job_did_not_write(tmp_path):
    """Issue 23: `overwrite=true` on an evaluation deleted a notes file the user had put there."""
    from genrm.evaluation.runner import evaluator_owns
    from genrm.training.run import trainer_owns

    for kind, owns, ours in [("eval", evaluator_owns, ["summary.json", "report.md", "plots/domains.png",
                                                      "m/rationale.jsonl", "m/rationale.meta.json"]),
                             ("train", trainer_owns, ["model.safetensors", "plan.json", "sft/final/config.json",
                                                      "grpo/checkpoint-2/optimizer.pt", "wandb/run/x"])]:
        out = tmp_path / kind
        claim_output_dir(str(out), kind)
        for rel in ours:
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_text("ours")
        (out / "notes.md").write_text("my notes")
        with pytest.raises(OutputDirError, match=rf"holds files this {kind} job did not write \(notes.md\)"):
            claim_output_dir(str(out), kind, overwrite=True, owned=owns)
        assert (out / "notes.md").read_text() == "my notes" and all((out / rel).exists() for rel in ours)
        (out / "notes.md").unlink()
        claim_output_dir(str(out), kind, overwrite=True, owned=owns)  # only its own files: replaced
        assert os.listdir(out) == [MARKER]


# ---------------------------------------------------------------- kill test


def _write_pairs(path: Path, tag: str, n: int) -> Path:
    path.write_text("".join(json.dumps({"prompt": f"{tag} question {i}?", "chosen": f"{tag} right {i}",
                                        "rejected": f"{tag} wrong {i}"}) + "\n" for i in range(n)))
    return path


def _which(out: Path) -> str:
    """'A' or 'B': the complete build in `out` (its manifest's checksums verified)."""
    info = verify_output(str(out), "data")
    rows = [json.loads(line) for f in ("train.jsonl", "eval.jsonl") for line in (out / f).read_text().splitlines()]
    tags = {r["prompt"][0]["content"][0] for r in rows}
    assert len(tags) == 1 and len(rows) == 24, (tags, len(rows))
    assert info["name"] == tags.pop() + "-build"
    return info["name"][0]


def _own_tqdm_lock() -> None:
    """tqdm's write lock is a multiprocessing lock shared across fork: a child killed while
    holding it would block the parent's next progress bar for ever. The child takes its own."""
    import threading

    import tqdm.std

    todo = [tqdm.std.tqdm]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if "_lock" in cls.__dict__:
            cls._lock = threading.RLock()


def _kill_loop(tmp_path: Path, kills_wanted: int, budget_s: float, exchange: bool) -> dict:
    """Kill a child that replaces the build over and over, at random moments, and check
    after each kill that the output is the complete old or the complete new build.

    The kill schedule follows the child's own speed, not the machine's: the child reports
    each finished build through a pipe, and the delay scale grows while kills land before
    any build finished (a loaded machine), so both outcomes come up; the loop runs past
    `kills_wanted` until they have, within `budget_s`."""
    from genrm.data.build import build

    data = {t: _write_pairs(tmp_path / f"{t}.jsonl", t, 24) for t in "AB"}
    out = tmp_path / "out"

    def recipe(tag: str) -> dict:
        return {"name": f"{tag}-build", "output_dir": str(out), "overwrite": True, "eval_fraction": 0.25,
                "sources": [{"name": "generic", "path": str(data[tag])}]}

    build(recipe("A"))  # the first build also imports datasets: time the second one
    t0 = time.perf_counter()
    build(recipe("A"))
    scale = one_build = time.perf_counter() - t0
    rng = random.Random(1234)
    seen = {"kills": 0, "old_kept": 0, "new_in": 0, "left_staging": 0, "recovered": 0, "builds_done": 0}
    deadline = time.monotonic() + budget_s
    current = _which(out)

    def enough() -> bool:
        return seen["kills"] >= kills_wanted and seen["old_kept"] >= 1 and seen["new_in"] >= 1

    while not enough() and time.monotonic() < deadline:
        first = "B" if current == "A" else "A"
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child replaces the build over and over, starting with the other data
            try:
                os.close(r)
                _own_tqdm_lock()
                k = 0
                while True:
                    build(recipe(first if k % 2 == 0 else current))
                    os.write(w, b".")  # one finished build
                    k += 1
            finally:
                os._exit(1)
        os.close(w)
        time.sleep(rng.uniform(0.0, 2.5 * scale))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        with os.fdopen(r, "rb") as f:
            done = len(f.read())
        seen["kills"] += 1
        seen["builds_done"] += done
        if done == 0:
            scale *= 1.25  # this machine builds slower than the first timing said
        elif done > 3:
            scale *= 0.8
        if stale_dirs(out):
            seen["left_staging"] += 1
        if not exchange and not out.exists():
            clean_stale(str(out))  # what the next run does first
            seen["recovered"] += 1
        now = _which(out)  # complete old or complete new, checksums verified
        seen["new_in" if now != current else "old_kept"] += 1
        current = now
    build(recipe("B" if current == "A" else "A"))  # the next run: removes what the kills left
    assert stale_dirs(out) == [] and _which(out) != current
    print(f"one build {one_build:.3f} s, final scale {scale:.3f} s; {seen}")
    return seen


def test_sigkill_during_replacing_builds_leaves_old_or_new(tmp_path):
    seen = _kill_loop(tmp_path, kills_wanted=24, budget_s=120, exchange=True)
    assert seen["kills"] >= 20, seen
    assert seen["left_staging"] >= 3, seen  # kills landed while a build was being written or swapped
    assert seen["old_kept"] >= 1 and seen["new_in"] >= 1, seen


def test_sigkill_with_the_portable_two_rename_swap(tmp_path, monkeypatch):
    """Without renameat2, a kill between the two renames leaves no output_dir until the
    next run puts the old build back; that run (clean_stale) is part of the check."""
    monkeypatch.setattr(staging, "USE_EXCHANGE", False)
    seen = _kill_loop(tmp_path, kills_wanted=12, budget_s=15, exchange=False)
    assert seen["kills"] >= 8 and seen["left_staging"] >= 1, seen
