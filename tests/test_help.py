"""`--help` on every entry point: purpose, examples and every recipe key (type, default, meaning)
generated from the schema, without importing torch; the `genrm` command's subcommands."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from genrm.cli import ENTRIES, entry
from genrm.help import field_notes, first_comment, help_text, keys_text, schema_keys, type_name

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(str(p.relative_to(REPO)) for d in ("train", "evaluate", "data_prep") for p in (REPO / d).glob("*.py"))
HEAVY = (" torch", " transformers", " trl")


def _run(args: list[str]) -> subprocess.CompletedProcess:
    """`args` under -X importtime: stderr lists every module imported."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=120)


def _heavy_imports(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("import time:") and ln.rstrip().endswith(HEAVY)]


def _entry_of(script: str) -> str:
    return next(n for n, (_, where) in ENTRIES.items() if where == script)


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_entry_script_answers_help_without_torch(script):
    name = _entry_of(script)  # every script is a `genrm keys` entry too
    _, schema, _ = entry(name)
    for flag in ("--help", "-h"):
        r = _run([script, flag])
        assert r.returncode == 0, r.stderr[-2000:]
        assert not _heavy_imports(r.stderr), _heavy_imports(r.stderr)
        out = r.stdout
        doc_first = (REPO / script).read_text().split('"""')[1].strip().splitlines()[0]
        assert out.startswith(doc_first) and ("    python " in out or "    accelerate " in out)  # purpose, examples
        assert "Recipe keys" in out and "Traceback" not in r.stderr
        for key in schema_keys(schema):
            assert f"  {key.name} " in out, key.name


def test_genrm_help_lists_the_subcommands_and_train_alone_prints_usage():
    r = _run(["-m", "genrm.cli", "--help"])
    assert r.returncode == 0 and not _heavy_imports(r.stderr)
    for cmd in ("train", "serve", "recipes", "keys", *ENTRIES):
        assert f"\n  {cmd} " in r.stdout, cmd
    r = _run(["-m", "genrm.cli", "train"])
    assert r.returncode == 2 and r.stderr.splitlines()[-1].startswith("  recipes: genrm recipes")
    assert "usage: genrm train" in r.stderr and "Traceback" not in r.stderr and not _heavy_imports(r.stderr)
    r = _run(["-m", "genrm.cli", "trian"])
    assert r.returncode == 2 and "unknown command 'trian' (did you mean 'train'?)" in r.stderr


@pytest.mark.parametrize("cmd", ["train", "serve"])
def test_genrm_subcommand_help(cmd):
    r = _run(["-m", "genrm.cli", cmd, "--help"])
    assert r.returncode == 0 and not _heavy_imports(r.stderr), r.stderr[-2000:]
    assert "Recipe keys" in r.stdout and ("judge.backend " in r.stdout)


def test_genrm_keys_lists_every_key_with_its_type_default_and_meaning():
    from genrm.training.recipe import TrainRecipe

    r = _run(["-m", "genrm.cli", "keys", "train"])
    assert r.returncode == 0 and not _heavy_imports(r.stderr)
    lines = {ln.split()[0]: ln for ln in r.stdout.splitlines() if ln.strip()}
    names = [k.name for k in schema_keys(TrainRecipe)]
    assert list(lines) == names and "data.path" in names and "print_recipe" in names
    ref = lines["model.ref"].split()
    assert ref[:4] == ["model.ref", "str", "=", "embedded:smollm2-135m"]
    assert lines["model.ref"].endswith("a local path, hub id, or embedded:<name>")  # the field's own comment
    assert lines["sft.max_units"].split()[1:4] == ["int|null", "=", "null"]
    assert lines["reward.kind"].split()[1] == "hybrid|outcome|rationale|weighted"
    r = _run(["-m", "genrm.cli", "keys", "build"])
    assert "sources.N.options " in r.stdout and "generic " in r.stdout and "rationale_field=null" in r.stdout
    assert _run(["-m", "genrm.cli", "keys", "bild"]).stderr.strip().endswith("(did you mean 'build'?)")


def test_genrm_recipes_lists_every_shipped_recipe_with_its_first_comment():
    r = _run(["-m", "genrm.cli", "recipes"])
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    for path in sorted((REPO / "recipes").rglob("*.yaml")):
        summary = first_comment(str(path))
        assert summary and any(ln.split()[:1] == [path.name] and ln.endswith(summary) for ln in lines), path
    assert "recipes/data/  (data_prep/build.py)" in r.stdout


def test_field_notes_read_the_comment_beside_or_above_a_field():
    @dataclasses.dataclass
    class Base:
        a: int = 1  # the first

    @dataclasses.dataclass
    class Demo(Base):
        # Above: one sentence. A second one
        # that is left out.
        b: str = "x#y"
        c: list[str] = dataclasses.field(
            default_factory=list)  # beside a continued line
        d: bool = False

    assert field_notes(Demo) == {"a": "the first", "b": "Above: one sentence.", "c": "beside a continued line"}
    keys = {k.name: k for k in schema_keys(Demo)}
    assert keys["c"].default == [] and keys["d"].type == "bool" and keys["d"].note == ""
    text = keys_text(Demo)
    assert "\n  b  str        = x#y    Above: one sentence.\n" in text
    assert help_text("Purpose.\n\n    demo x=1", Demo).startswith("Purpose.\n\n    demo x=1\n\nRecipe keys")


def test_type_names():
    from typing import Any, Literal, Optional

    assert [type_name(t) for t in (int, float, Optional[str], Literal["a", "b"], list[int], dict[str, Any], Any)] == [
        "int", "number", "str|null", "a|b", "list[int]", "mapping", "any"]
