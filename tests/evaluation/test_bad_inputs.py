"""Bad input to the evaluator and to rescore, as a user types it: every case ends in exit
code 2 and one `error:` line naming the file, line and field (or the recipe key), no
traceback, and nothing in the workspace written or lost. The data build's table is
tests/data/test_bad_inputs.py; the reward server's is tests/rlhf/."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from pathlib import Path

import pytest

from genrm.outputs import MARKER

REPO = Path(__file__).resolve().parents[2]
JB = {"pair_id": "p1", "label": "A>B", "source": "livebench-math", "judgments": [{"decision": "A>B"}]}
RMB = {"id": "1", "domain": "chat", "score_chosen": [1, 2, 3], "score_rejected": [0, 0, 0]}


def _main(script: str):
    spec = importlib.util.spec_from_file_location(f"entry_{script.replace('/', '_')}", REPO / script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return lambda argv: mod.cli_main(mod.main, argv, errors=(ValueError, OSError))


def tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): "" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))}


def _jsonl(path: Path, *rows: dict | str) -> None:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    w = tmp_path_factory.mktemp("evalws")
    d = w / "in"
    d.mkdir()
    _jsonl(d / "jb_dup.jsonl", JB, {**JB, "judgments": [{"decision": "B>A"}]})
    _jsonl(d / "jb_label.jsonl", JB, {**JB, "pair_id": "p2", "label": "A>C"})
    _jsonl(d / "jb_label_missing.jsonl", {k: v for k, v in JB.items() if k != "label"})
    _jsonl(d / "jb_huge.jsonl", {**JB, "judgments": "[" + "1," * 1_500_000 + "]"})
    _jsonl(d / "jb_nested.jsonl", {**JB, "judgments": "[" * 5000 + "]" * 5000})
    _jsonl(d / "jb_three.jsonl", {**JB, "judgments": [{"decision": "A>B"}] * 3})
    _jsonl(d / "jb_deep.jsonl", '{"pair_id": "p1", "judgments": ' + "[" * 100_000 + "]" * 100_000 + "}")
    _jsonl(d / "rmb_nan.jsonl", RMB, '{"id": "2", "domain": "chat", "score_chosen": [NaN, 1, 2], "score_rejected": [0, 0, 0]}')
    _jsonl(d / "rmb_inf.jsonl", {**RMB, "score_rejected": [0, float("inf"), 0]})
    _jsonl(d / "rmb_bool.jsonl", {**RMB, "score_chosen": [True, 1, 2]})
    res = w / "results" / "m"
    res.mkdir(parents=True)
    _jsonl(res / "judgebench.jsonl", {"id": "p1", "source": "livebench-math", "correct": True, "comparisons": []},
           {"id": "p2", "correct": False, "comparisons": []})
    _jsonl(res / "social.jsonl", {"id": "s1", "label_kind": "gold", "domain": "bias", "correct": True, "comparisons": []})
    (w / "user" / "mine").mkdir(parents=True)
    (w / "user" / "mine" / "notes.md").write_text("the user's notes")
    (w / "theirs").mkdir()
    (w / "theirs" / MARKER).write_text(json.dumps({"kind": "eval"}))
    (w / "theirs" / "notes.md").write_text("notes beside an evaluation")
    (w / "work").mkdir()
    return w


RESCORE = "evaluate/rescore.py"
EVAL = "evaluate/run.py"
EMB = "embedded:smollm2-135m"
# (case id, entry script, arguments, what the one error line must say); "{ws}" is the workspace.
CASES = [
    ("judgebench duplicate pair_id", RESCORE, ["input={ws}/in/jb_dup.jsonl", "format=judgebench"],
     r"jb_dup.jsonl:2: field 'pair_id': duplicate pair_id 'p1' \(first at .*jb_dup.jsonl:1\)"),
    ("judgebench bad label", RESCORE, ["input={ws}/in/jb_label.jsonl", "format=judgebench"],
     r"jb_label.jsonl:2: field 'label': should be 'A>B' or 'B>A', got 'A>C'"),
    ("judgebench missing label", RESCORE, ["input={ws}/in/jb_label_missing.jsonl", "format=judgebench"],
     r"jb_label_missing.jsonl:1: field 'label': is missing"),
    ("judgebench huge literal", RESCORE, ["input={ws}/in/jb_huge.jsonl", "format=judgebench"],
     r"jb_huge.jsonl:1: field 'judgments': is a string of 3,000,002 characters"),
    ("judgebench nested literal", RESCORE, ["input={ws}/in/jb_nested.jsonl", "format=judgebench"],
     r"jb_nested.jsonl:1: field 'judgments': is a string but not a Python/JSON list literal"),
    ("judgebench three judgments", RESCORE, ["input={ws}/in/jb_three.jsonl", "format=judgebench"],
     r"jb_three.jsonl:1: field 'judgments': should be a list of 1 or 2 judgments"),
    ("judgebench deep JSON", RESCORE, ["input={ws}/in/jb_deep.jsonl", "format=judgebench"],
     r"jb_deep.jsonl:1: JSON nested too deeply"),
    ("rm_bench NaN score", RESCORE, ["input={ws}/in/rmb_nan.jsonl", "format=rm_bench"],
     r"rmb_nan.jsonl:2: field 'score_chosen': holds a non-finite score"),
    ("rm_bench infinite score", RESCORE, ["input={ws}/in/rmb_inf.jsonl", "format=rm_bench"],
     r"rmb_inf.jsonl:1: field 'score_rejected': holds a non-finite score"),
    ("rm_bench boolean score", RESCORE, ["input={ws}/in/rmb_bool.jsonl", "format=rm_bench"],
     r"rmb_bool.jsonl:1: field 'score_chosen': should be a list of 3 numbers"),
    ("genrm row without source", RESCORE, ["input={ws}/results/m/judgebench.jsonl", "format=genrm"],
     r"m/judgebench.jsonl:2: field 'source': is missing"),
    ("genrm row without part", RESCORE, ["input={ws}/results/m/social.jsonl", "format=genrm"],
     r"m/social.jsonl:1: field 'part': is missing"),
    ("bbq_picks without bbq_dir", RESCORE, ["input={ws}/in/jb_dup.jsonl", "format=bbq_picks"],
     r"format=bbq_picks needs bbq_dir="),
    ("unknown format", RESCORE, ["input={ws}/in/jb_dup.jsonl", "format=judgebnch"], r"key 'format'"),
    ("missing input", RESCORE, ["input={ws}/in/none.jsonl", "format=judgebench"], r"none.jsonl"),
    ("unknown embedded model", EVAL, ["models=[embedded:nope]"], r"models: unknown embedded model 'nope'; known: embedded:smollm2-135m"),
    ("mistyped model kind", EVAL, ["models=[x/run@scalr]"], r"unknown model kind '@scalr'.*did you mean '@scalar'"),
    ("unknown backend option", EVAL, ["models=[{ref: " + EMB + ", backend: {bogus: 1}}]"], r"bogus"),
    ("model name escapes", EVAL, ["models=[{ref: " + EMB + ", name: ../escaped}]"], r"name"),
    ("overwrite a user's directory", EVAL, ["models=[" + EMB + "]", "output_dir={ws}/user/mine", "overwrite=true"],
     r"output_dir .*user/mine"),
    ("overwrite beside user's notes", EVAL, ["models=[" + EMB + "]", "output_dir={ws}/theirs", "overwrite=true"],
     r"did not write \(notes.md\)"),
]


def test_the_table_has_every_case():
    assert len(CASES) >= 20 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("name, script, args, pattern", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_one_line_and_changes_nothing(ws, monkeypatch, capsys, name, script, args, pattern):
    monkeypatch.chdir(ws / "work")
    monkeypatch.delenv("GENRM_DEBUG", raising=False)
    argv = [a.replace("{ws}", str(ws)) for a in args]
    if script == EVAL and not any(a.startswith("output_dir=") for a in argv):
        argv.append(f"output_dir={ws}/out/{re.sub(r'[^a-z0-9]+', '_', name)}")
    before = tree(ws)
    code = _main(script)(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, (name, err)
    assert "Traceback" not in err, err
    last = err.splitlines()[-1]
    assert last.startswith("error: ") and re.search(pattern, last), (name, err)
    assert tree(ws) == before, name
