import json

import pytest

from genrm.data.rows import DataError
from genrm.data.sources import generic, get_source


@pytest.fixture()
def gdir(fixtures_dir):
    return fixtures_dir / "generic"


def test_registered():
    assert get_source("generic") is generic.load


def test_reward_bench_rows(gdir):
    path = gdir / "reward_bench.jsonl"
    rows = [json.loads(line) for line in open(path)]
    recs = list(generic.load(str(path)))
    assert len(recs) == 3
    for rec, row in zip(recs, rows):
        assert rec.prompt == [{"role": "user", "content": row["prompt"]}]
        assert rec.chosen == row["chosen"] and rec.rejected == row["rejected"]
        assert rec.meta["subset"] == row["subset"] and rec.meta["original_id"] == row["id"]
        assert (rec.domain, rec.label_kind, rec.source) == ("general", "gold", "generic")


def test_ultrafeedback_shared_prefix(gdir):
    stats = {}
    recs = list(generic.load(str(gdir / "ultrafeedback.jsonl"), domain="general", stats=stats))
    assert stats["skipped_tie"] == 1 and stats["pairs"] == 2
    first, multi = recs
    assert first.prompt == [{"role": "user", "content": "Explain what a hash table is in one paragraph."}]
    assert first.chosen.startswith("A hash table stores key-value pairs")
    assert first.rejected == "A hash table is a table of hashes."
    assert first.meta == {"original_id": "9b1f0c2e", "score_chosen": 9.0, "score_rejected": 3.0}
    assert [m["role"] for m in multi.prompt] == ["user", "assistant", "user"]
    assert multi.chosen == "Mercury is the smallest planet in the solar system."
    assert multi.rejected == "Pluto is the smallest planet."
    assert len(list(generic.load(str(gdir / "ultrafeedback.jsonl"), skip_ties=False))) == 3


def test_domain_option(gdir):
    recs = list(generic.load(str(gdir / "reward_bench.jsonl"), domain="safety"))
    assert {r.domain for r in recs} == {"safety"}
    with pytest.raises(DataError, match="field 'domain'"):
        list(generic.load(str(gdir / "reward_bench.jsonl"), domain="sports"))


def test_bad_conversations(gdir, tmp_path):
    row = json.loads(open(gdir / "ultrafeedback.jsonl").readline())
    p = tmp_path / "uf.jsonl"
    diverged = {**row, "rejected": [{"role": "user", "content": "Something else"}, row["rejected"][1]]}
    p.write_text(json.dumps(row) + "\n" + json.dumps(diverged) + "\n")
    with pytest.raises(DataError, match=r"uf\.jsonl:2: field 'rejected': chosen and rejected conversations differ"):
        list(generic.load(str(p)))
    p.write_text(json.dumps({**row, "chosen": row["chosen"][:1]}) + "\n")
    with pytest.raises(DataError, match=r"uf\.jsonl:1: field 'chosen': the last message should be the assistant"):
        list(generic.load(str(p)))
    p.write_text(json.dumps({**row, "rejected": "plain text"}) + "\n")
    with pytest.raises(DataError, match=r"uf\.jsonl:1: field 'rejected': should be list"):
        list(generic.load(str(p)))


def test_bad_reward_bench_rows(gdir, tmp_path):
    row = json.loads(open(gdir / "reward_bench.jsonl").readline())
    p = tmp_path / "rb.jsonl"
    p.write_text(json.dumps({k: v for k, v in row.items() if k != "prompt"}) + "\n")
    with pytest.raises(DataError, match=r"rb\.jsonl:1: field 'prompt': is missing"):
        list(generic.load(str(p)))
    p.write_text(json.dumps(row) + "\n" + json.dumps(row)[:-2] + "\n")
    with pytest.raises(DataError, match=r"rb\.jsonl:2: malformed JSON"):
        list(generic.load(str(p)))


# -- a rationale column: found by its common names or named in options, side-neutral units in the build

def test_rationale_column_is_found_by_its_common_name(gdir):
    stats = {}
    recs = list(generic.load(str(gdir / "own_pairs.jsonl"), stats=stats))
    assert len(recs) == 24 and stats["with_rationale"] == 24 and stats["rationale_fields"] == ["rationale"]
    first = recs[0]
    assert first.rationale.startswith("Response A gives the correct product")
    assert first.rationale_origin == "human" and first.rationale_units == []  # the build splits the text
    assert first.meta["chosen_response"] == 1  # "Response A" is the chosen one by default
    assert "no_units_reason" not in stats


def test_rationale_field_option_and_units_given_as_a_list(tmp_path):
    p = tmp_path / "mine.jsonl"
    rows = [{"prompt": "Q1", "chosen": "good", "rejected": "bad", "why": "Response B is wrong. Response A is right."},
            {"prompt": "Q2", "chosen": "yes", "rejected": "no", "why": ["the chosen response is kind", "A cites"]},
            {"prompt": "Q3", "chosen": "x", "rejected": "y"}]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    stats = {}
    one, two, three = generic.load(str(p), rationale_field="why", response_a="rejected", stats=stats)
    assert one.rationale == "Response B is wrong. Response A is right." and one.meta["chosen_response"] == 2
    assert two.rationale_units == ["the chosen response is kind", "A cites"] and two.rationale_origin == "human"
    assert three.rationale == "" and three.rationale_origin == "none" and "chosen_response" not in three.meta
    assert stats["with_rationale"] == 2 and stats["rationale_fields"] == ["why"]
    p.write_text(json.dumps({**rows[0], "why": 3}) + "\n")
    with pytest.raises(DataError, match=r"mine\.jsonl:1: field 'why': should be a string or a list of strings"):
        list(generic.load(str(p), rationale_field="why"))


def _build(tmp_path, path, **options):
    from genrm.data.build import build

    src = {"name": "generic", "path": str(path), **({"options": options} if options else {})}
    return build({"output_dir": str(tmp_path / "o"), "eval_fraction": 0.0, "sources": [src]})


def test_rationale_column_becomes_side_neutral_units_in_the_build(gdir, tmp_path):
    res = _build(tmp_path, gdir / "own_pairs.jsonl")
    by_prompt = {r.prompt[0]["content"]: r for r in res.train}
    math = by_prompt["What is 17 times 23?"]
    assert math.rationale_units == ["{chosen} gives the correct product, 391.",
                                    "{rejected}'s answer of 401 is an arithmetic error."]
    capital = by_prompt["Name the capital of Australia."]  # "the chosen/rejected response" names roles
    assert capital.rationale_units[0] == "{chosen} names Canberra, which is correct."
    assert capital.rationale_units[1].startswith("{rejected} says Sydney")
    assert all(r.rationale_units and r.rationale_origin == "human" for r in res.train)
    assert res.stats["units"]["side_neutral"] == 24 and not res.stats["warnings"]
    # "Response A" naming the rejected response: the same text blames the other side
    swapped = _build(tmp_path / "b", gdir / "own_pairs.jsonl", response_a="rejected")
    math_b = next(r for r in swapped.train if r.prompt[0]["content"] == "What is 17 times 23?")
    assert math_b.rationale_units[0].startswith("{rejected} gives the correct product")


def test_no_rationale_column_is_said_in_the_card_and_one_warning(gdir, tmp_path, caplog):
    import logging

    with caplog.at_level(logging.WARNING):
        res = _build(tmp_path, gdir / "reward_bench.jsonl")
    lines = [r.getMessage() for r in caplog.records if "rationale units" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("sources.0 (generic): none of its 3 records has rationale units")
    assert "no rationale column found (looked for: rationale, " in lines[0] and "options.rationale_field" in lines[0]
    assert res.stats["warnings"] == lines
    assert lines[0] in (tmp_path / "o" / "stats.md").read_text()
    named = _build(tmp_path / "n", gdir / "reward_bench.jsonl", rationale_field="notes")
    assert "column 'notes' (options.rationale_field) is in none of its rows" in named.stats["warnings"][0]
    from genrm.data.build import build

    quiet = build({"output_dir": str(tmp_path / "q"), "eval_fraction": 0.0, "units": {"method": "none"},
                   "sources": [{"name": "generic", "path": str(gdir / "reward_bench.jsonl")}]})
    assert quiet.stats["warnings"] == []  # no unit method asked for: nothing missing


def test_an_unknown_option_lists_the_valid_ones_with_a_did_you_mean(gdir, tmp_path):
    from genrm.config import RecipeError

    with pytest.raises(RecipeError) as e:
        _build(tmp_path, gdir / "own_pairs.jsonl", rationale_fild="rationale")
    msg = str(e.value)
    assert msg.startswith("unknown key 'sources.0.options.rationale_fild' (did you mean 'sources.0.options.rationale_field'?)")
    assert msg.endswith("source 'generic' takes: split, config, domain, skip_ties, rationale_field, response_a")
    with pytest.raises(RecipeError, match=r"key 'sources.0.options.response_a' is 'A'; must be one of 'chosen'"):
        _build(tmp_path, gdir / "own_pairs.jsonl", response_a="A")
